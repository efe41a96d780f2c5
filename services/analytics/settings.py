"""Settings of the analytics service (see `.env.example`)."""

from pydantic import Field

from shared.config import DatabaseServiceSettings


class Settings(DatabaseServiceSettings, service="analytics"):
    report_poll_seconds: float = Field(2.0, gt=0, le=3600, validation_alias="REPORT_POLL_SECONDS")
    report_lease_seconds: float = Field(300.0, gt=0, le=86_400, validation_alias="REPORT_LEASE_SECONDS")
    alert_interval_seconds: float = Field(5.0, gt=0, le=3600, validation_alias="ALERT_INTERVAL_SECONDS")
    partition_check_seconds: float = Field(3600.0, gt=0, validation_alias="PARTITION_CHECK_SECONDS")
