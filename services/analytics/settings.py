"""Settings of the analytics service (see `.env.example`)."""

from shared.config import DatabaseServiceSettings


class Settings(DatabaseServiceSettings, service="analytics"):
    """Only this service's own settings; the shared ones come from `shared.config`."""
