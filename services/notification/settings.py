"""Settings of the notification service (see `.env.example`). The dev stack points the channels at
the SMTP catcher, the Twilio fake and the Web Push fake; unset, a channel is simply not offered."""

from typing import Literal

from pydantic import AnyUrl, Field, SecretStr

from shared.config import DatabaseServiceSettings


class Settings(DatabaseServiceSettings, service="notification"):
    public_url: AnyUrl = Field(
        AnyUrl("http://127.0.0.1:8080"),
        validation_alias="PUBLIC_URL",
        description="Where links in messages (tracking, unsubscribe, callbacks) reach the gateway.",
    )
    link_secret: SecretStr = Field(
        validation_alias="NOTIFICATION_LINK_SECRET", description="Signs the links messages carry (16+ bytes)."
    )

    smtp_host: str | None = Field(None, validation_alias="SMTP_HOST")
    smtp_port: int = Field(587, ge=1, le=65535, validation_alias="SMTP_PORT")
    smtp_username: str | None = Field(None, validation_alias="SMTP_USERNAME")
    smtp_password: SecretStr | None = Field(None, validation_alias="SMTP_PASSWORD")
    smtp_security: Literal["none", "starttls", "ssl"] = Field("starttls", validation_alias="SMTP_SECURITY")
    smtp_from: str = Field("BizOSaaS <no-reply@bizosaas.local>", validation_alias="SMTP_FROM")
    smtp_fallback_host: str | None = Field(
        None,
        validation_alias="SMTP_FALLBACK_HOST",
        description="A second SMTP relay tried on temporary failures.",
    )
    smtp_fallback_port: int = Field(587, ge=1, le=65535, validation_alias="SMTP_FALLBACK_PORT")

    twilio_url: AnyUrl = Field(AnyUrl("https://api.twilio.com"), validation_alias="TWILIO_URL")
    twilio_account_sid: str | None = Field(None, validation_alias="TWILIO_ACCOUNT_SID")
    twilio_auth_token: SecretStr | None = Field(None, validation_alias="TWILIO_AUTH_TOKEN")
    twilio_from: str | None = Field(None, validation_alias="TWILIO_FROM")
    twilio_fallback_url: AnyUrl = Field(
        AnyUrl("https://api.twilio.com"),
        validation_alias="TWILIO_FALLBACK_URL",
        description="A second SMS account in Twilio's API shape (Twilio itself or a compatible "
        "provider), tried on temporary failures when its SID, token and sender are set.",
    )
    twilio_fallback_account_sid: str | None = Field(None, validation_alias="TWILIO_FALLBACK_ACCOUNT_SID")
    twilio_fallback_auth_token: SecretStr | None = Field(None, validation_alias="TWILIO_FALLBACK_AUTH_TOKEN")
    twilio_fallback_from: str | None = Field(None, validation_alias="TWILIO_FALLBACK_FROM")

    vapid_private_key: SecretStr | None = Field(None, validation_alias="VAPID_PRIVATE_KEY")
    vapid_subject: str = Field("mailto:ops@bizosaas.local", validation_alias="VAPID_SUBJECT")

    track_opens: bool = Field(False, validation_alias="TRACK_OPENS")
    track_clicks: bool = Field(False, validation_alias="TRACK_CLICKS")
    delivery_poll_seconds: float = Field(1.0, gt=0, le=60, validation_alias="DELIVERY_POLL_SECONDS")
    delivery_lease_seconds: float = Field(120.0, gt=0, le=3600, validation_alias="DELIVERY_LEASE_SECONDS")
    delivery_concurrency: int = Field(32, ge=1, le=500, validation_alias="DELIVERY_CONCURRENCY")
    retry_base_seconds: float = Field(
        15.0,
        gt=0,
        le=600,
        validation_alias="RETRY_BASE_SECONDS",
        description="First retry wait; doubles each try.",
    )
    digest_window_minutes: int = Field(60, ge=1, le=1440, validation_alias="DIGEST_WINDOW_MINUTES")
