"""Settings of the integration service (see `.env.example`).

Provider base URLs default to the real APIs; the dev stack and the tests point them at the fakes
in `fakes/`. Secrets are SecretStr: they never print, and reach only this service.
"""

from pydantic import AnyUrl, Field, SecretStr

from shared.config import DatabaseServiceSettings


class Settings(DatabaseServiceSettings, service="integration"):
    master_keys: SecretStr = Field(
        validation_alias="INTEGRATION_MASTER_KEYS",
        description="Key-encryption keys, current first: `k2:<base64 32 bytes>,k1:<...>`.",
    )
    public_url: AnyUrl = Field(
        AnyUrl("http://127.0.0.1:8080"),
        validation_alias="PUBLIC_URL",
        description="Where browsers reach the gateway: OAuth redirects and Checkout return here.",
    )

    google_ads_url: AnyUrl = Field(
        AnyUrl("https://googleads.googleapis.com"), validation_alias="GOOGLE_ADS_URL"
    )
    google_oauth_url: AnyUrl = Field(
        AnyUrl("https://oauth2.googleapis.com"), validation_alias="GOOGLE_OAUTH_URL"
    )
    google_auth_url: AnyUrl = Field(
        AnyUrl("https://accounts.google.com"),
        validation_alias="GOOGLE_AUTH_URL",
        description="The consent page's host.",
    )
    google_ads_developer_token: SecretStr | None = Field(None, validation_alias="GOOGLE_ADS_DEVELOPER_TOKEN")
    google_client_id: str | None = Field(None, validation_alias="GOOGLE_CLIENT_ID")
    google_client_secret: SecretStr | None = Field(None, validation_alias="GOOGLE_CLIENT_SECRET")

    meta_graph_url: AnyUrl = Field(AnyUrl("https://graph.facebook.com"), validation_alias="META_GRAPH_URL")
    meta_dialog_url: AnyUrl = Field(
        AnyUrl("https://www.facebook.com"),
        validation_alias="META_DIALOG_URL",
        description="The consent page's host.",
    )
    meta_app_id: str | None = Field(None, validation_alias="META_APP_ID")
    meta_app_secret: SecretStr | None = Field(None, validation_alias="META_APP_SECRET")
    meta_verify_token: SecretStr | None = Field(None, validation_alias="META_VERIFY_TOKEN")

    linkedin_api_url: AnyUrl = Field(AnyUrl("https://api.linkedin.com"), validation_alias="LINKEDIN_API_URL")
    linkedin_oauth_url: AnyUrl = Field(
        AnyUrl("https://www.linkedin.com"), validation_alias="LINKEDIN_OAUTH_URL"
    )
    linkedin_client_id: str | None = Field(None, validation_alias="LINKEDIN_CLIENT_ID")
    linkedin_client_secret: SecretStr | None = Field(None, validation_alias="LINKEDIN_CLIENT_SECRET")

    stripe_api_url: AnyUrl = Field(AnyUrl("https://api.stripe.com"), validation_alias="STRIPE_API_URL")
    stripe_api_key: SecretStr | None = Field(None, validation_alias="STRIPE_API_KEY")
    stripe_webhook_secret: SecretStr | None = Field(
        None,
        validation_alias="STRIPE_WEBHOOK_SECRET",
        description="Several, comma-separated, while rotating.",
    )
    stripe_prices: dict[str, str] = Field(
        default_factory=dict,
        validation_alias="STRIPE_PRICES",
        description='The Stripe price of each paid plan, JSON: {"pro": "price_...", "enterprise": "price_..."}.',
    )
    mautic_webhook_secret: SecretStr | None = Field(None, validation_alias="MAUTIC_WEBHOOK_SECRET")

    sync_poll_seconds: float = Field(5.0, gt=0, le=3600, validation_alias="SYNC_POLL_SECONDS")
    sync_lease_seconds: float = Field(300.0, gt=0, le=86400, validation_alias="SYNC_LEASE_SECONDS")
    sync_initial_days: int = Field(30, ge=1, le=1098, validation_alias="SYNC_INITIAL_DAYS")
    sync_page_days: int = Field(31, ge=1, le=366, validation_alias="SYNC_PAGE_DAYS")
    sync_inline_rows: int = Field(500, ge=0, le=5000, validation_alias="SYNC_INLINE_ROWS")
    sync_max_attempts: int = Field(5, ge=1, le=50, validation_alias="SYNC_MAX_ATTEMPTS")
    provider_retries: int = Field(4, ge=0, le=10, validation_alias="PROVIDER_RETRIES")
    provider_backoff_cap_seconds: float = Field(
        30.0, gt=0, le=600, validation_alias="PROVIDER_BACKOFF_CAP_SECONDS"
    )
