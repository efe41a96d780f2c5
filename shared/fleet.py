"""The fleet as data: one line per service (DESIGN §1 and §3).

Everything that differs between services and that more than one place needs is derived from this
table: ports, schemas and runtime roles, environment names, event streams, Redis key prefixes and
users, the scopes of each service account and which peers a service calls. Adding a service is one
folder under `services/` plus one line here (README: "Adding a service").

Kept in `shared/` (not derived from the service packages) because `shared/` never imports a
service, yet migrations, the dev launcher, the gateway and the deployment checks all need it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class ServiceSpec:
    name: str
    port: int
    schema: str | None = None
    scopes: tuple[str, ...] = ()
    """What this service's own service account may do when it calls a peer."""
    calls: tuple[str, ...] = ()
    """The peers it calls over HTTP: the only peer URLs its process is given."""
    migrations_path: Path | None = None

    @property
    def peers(self) -> tuple[str, ...]:
        """Every service it reaches over HTTP: those it calls, and user_management for its
        service token when it has scopes."""
        return (
            (*self.calls, "user_management")
            if self.scopes and "user_management" not in self.calls
            else self.calls
        )

    @property
    def background_role(self) -> str | None:
        """A NOLOGIN role the runtime role may switch to for reading due background work across
        tenants (`Work.read_as`), where its migrations define one."""
        return f"{self.role}_background" if self.role else None

    @property
    def role(self) -> str | None:
        """The runtime login role: may use only this schema and owns nothing."""
        return f"svc_{self.schema}" if self.schema else None

    @property
    def env_prefix(self) -> str:
        """Prefix of this service's own settings, e.g. `ANALYTICS` in `ANALYTICS_DATABASE_URL`."""
        return self.name.upper()

    @property
    def database_url_env(self) -> str:
        return f"{self.env_prefix}_DATABASE_URL"

    @property
    def client_secret_env(self) -> str:
        return f"{self.env_prefix}_CLIENT_SECRET"

    @property
    def url_env(self) -> str:
        return f"{self.env_prefix}_URL"

    @property
    def stream(self) -> str:
        return f"events.{self.name}"

    @property
    def redis_prefix(self) -> str:
        """Every Redis key the service owns starts with this (its Redis user may touch no other)."""
        return f"{self.name}:"

    @property
    def migrations_dir(self) -> Path:
        return self.migrations_path or REPO_ROOT / "services" / self.name / "migrations"

    @property
    def app_path(self) -> str:
        return f"services.{self.name}.main:app"


SERVICES: tuple[ServiceSpec, ...] = (
    ServiceSpec(
        "api_gateway",
        8080,
        calls=(
            "ai_agents",
            "user_management",
            "campaign_management",
            "analytics",
            "integration",
            "notification",
        ),
    ),
    ServiceSpec(
        "ai_agents",
        8000,
        "ai_agents",
        scopes=("analytics:read", "campaigns:read"),
        calls=("analytics", "campaign_management"),
    ),
    ServiceSpec("user_management", 8001, "users"),
    ServiceSpec(
        "campaign_management",
        8002,
        "campaigns",
        scopes=(
            "analytics:read",
            "integrations:read",
            "integrations:credentials",
            "ai:run",
            "notifications:send",
        ),
        calls=("analytics", "integration", "ai_agents", "notification"),
    ),
    ServiceSpec("analytics", 8003, "analytics", scopes=("integrations:read",), calls=("integration",)),
    ServiceSpec("integration", 8004, "integrations", scopes=("campaigns:read",), calls=()),
    ServiceSpec(
        "notification",
        8005,
        "notifications",
        scopes=("users:read", "users:invite"),
        calls=("user_management",),
    ),
)

BY_NAME: dict[str, ServiceSpec] = {spec.name: spec for spec in SERVICES}
WITH_DATABASE: tuple[ServiceSpec, ...] = tuple(s for s in SERVICES if s.schema)


def spec(name: str) -> ServiceSpec:
    return BY_NAME[name]
