"""Settings of the notification service (see `.env.example`)."""

from shared.config import DatabaseServiceSettings


class Settings(DatabaseServiceSettings, service="notification"):
    """Only this service's own settings; the shared ones come from `shared.config`."""
