"""Settings of the campaign_management service (see `.env.example`)."""

from shared.config import DatabaseServiceSettings


class Settings(DatabaseServiceSettings, service="campaign_management"):
    """Only this service's own settings; the shared ones come from `shared.config`."""
