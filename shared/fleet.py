"""The fleet as data: names, ports, schemas and roles fixed by DESIGN §1 and §3.

Kept here (and not derived from the service packages) because `shared/` never imports a
service, yet migrations, the dev launcher and the gateway all need the same table.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class ServiceSpec:
    name: str
    port: int
    schema: str | None
    role: str | None
    migrations_path: Path | None = None

    @property
    def env_prefix(self) -> str:
        """Prefix of this service's own settings, e.g. `ANALYTICS` in `ANALYTICS_DATABASE_URL`."""
        return self.name.upper()

    @property
    def database_url_env(self) -> str:
        return f"{self.env_prefix}_DATABASE_URL"

    @property
    def url_env(self) -> str:
        return f"{self.env_prefix}_URL"

    @property
    def stream(self) -> str:
        return f"events.{self.name}"

    @property
    def migrations_dir(self) -> Path:
        return self.migrations_path or REPO_ROOT / "services" / self.name / "migrations"

    @property
    def app_path(self) -> str:
        return f"services.{self.name}.main:app"


SERVICES: tuple[ServiceSpec, ...] = (
    ServiceSpec("api_gateway", 8080, None, None),
    ServiceSpec("ai_agents", 8000, "ai_agents", "svc_ai_agents"),
    ServiceSpec("user_management", 8001, "users", "svc_users"),
    ServiceSpec("campaign_management", 8002, "campaigns", "svc_campaigns"),
    ServiceSpec("analytics", 8003, "analytics", "svc_analytics"),
    ServiceSpec("integration", 8004, "integrations", "svc_integrations"),
    ServiceSpec("notification", 8005, "notifications", "svc_notifications"),
)

BY_NAME: dict[str, ServiceSpec] = {spec.name: spec for spec in SERVICES}
WITH_DATABASE: tuple[ServiceSpec, ...] = tuple(s for s in SERVICES if s.schema)


def spec(name: str) -> ServiceSpec:
    return BY_NAME[name]
