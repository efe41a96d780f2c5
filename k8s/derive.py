"""What each service process gets in the cluster, derived from the code, not restated.

The dev stack's own rule (`devstack.stackenv.service_environment`, DESIGN §9) decides which
settings a process gets; here it runs with the cluster's addresses (`http://analytics:8003`, the
Service names) instead of 127.0.0.1. A setting is a secret when its value changes with the
generated passwords (runtime role URLs, Redis user URLs, service-account secrets, the signing
material derived from them); everything else is plain configuration. The service's own provider
credentials (its `SecretStr` settings, e.g. `STRIPE_API_KEY`) are optional secrets.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, get_args
from urllib.parse import urlsplit

from pydantic import SecretStr

from devstack.stackenv import (
    StackAddresses,
    secret_names,
    service_accounts,
    service_environment,
    settings_class,
)
from shared.config import DatabaseServiceSettings, ServiceSettings, env_name, env_names
from shared.fleet import SERVICES, ServiceSpec, spec

NAMESPACE = "bizosaas"
PUBLIC_HOST = "bizosaas.example.com"  # placeholder: overlays set the real one
POSTGRES_URL = "postgresql://postgres:PASSWORD@postgresql:5432/bizosaas"  # shape only, for comments
REDIS_URL = "redis://default:PASSWORD@redis:6379/0"
POD_CIDR = "10.0.0.0/8"  # placeholder: the cluster's pod network (ingress controller, gateway)
SIGNING_KEY_DIR = "/etc/bizosaas/jwt"
SIGNING_KEY_FILE = "jwt-signing.pem"
COMMON_KEYS = ("JWKS_URL", "TRUSTED_PROXIES")
"""Settings every service gets with the same value: they go to the shared ConfigMap."""

# Production settings the dev stack leaves at their 127.0.0.1 defaults: where browsers reach us.
PUBLIC_SETTINGS = {
    "user_management": ("PUBLIC_APP_URL",),
    "integration": ("PUBLIC_URL",),
    "notification": ("PUBLIC_URL",),
}

# For secrets whose settings carry no description.
NOTES = {
    "GATEWAY_OPERATOR_TOKEN": "Bearer token for the gateway's /metrics and /health/services (Prometheus uses it).",
    "META_APP_SECRET": "Meta app secret; also verifies Meta's webhook signatures.",
    "META_VERIFY_TOKEN": "Answers Meta's webhook verification handshake.",
    "MAUTIC_WEBHOOK_SECRET": "Verifies Mautic's webhook signatures.",
    "STRIPE_WEBHOOK_SECRET": "Stripe's webhook signing secret (whsec_...); several, comma-separated, while rotating.",
    "VAPID_PRIVATE_KEY": "Web push VAPID key: base64url of a raw 32-byte P-256 private key.",
}


def k8s_name(service: str) -> str:
    """Object and DNS name of a service (`api_gateway` -> `api-gateway`)."""
    return service.replace("_", "-")


@dataclass(frozen=True)
class ClusterAddresses(StackAddresses):
    """Peers reached by their Service name in the same namespace."""

    def service_url(self, name: str) -> str:
        return f"http://{k8s_name(name)}:{self.ports[name]}"


CLUSTER = ClusterAddresses(POSTGRES_URL, REDIS_URL, {s.name: s.port for s in SERVICES})
SIGNING_KEY_PATH = Path(SIGNING_KEY_DIR) / SIGNING_KEY_FILE


def passwords(prefix: str = "") -> dict[str, str]:
    """Every generated secret: `<prefix><its name>`, or the word PASSWORD (for shapes) with none."""
    return {name: f"{prefix}{name}" if prefix else "PASSWORD" for name in secret_names()}


def environment(service: ServiceSpec, secrets: dict[str, str]) -> dict[str, str]:
    """What the dev stack's rule gives this service, with the cluster's addresses."""
    return service_environment(service, CLUSTER, secrets, signing_key=SIGNING_KEY_PATH)


def _is_secret_type(annotation: Any) -> bool:
    return annotation is SecretStr or SecretStr in get_args(annotation)


def own_fields(name: str) -> dict[str, Any]:
    """The service's own settings (its settings.py), not the shared ones."""
    cls = settings_class(name)
    base = DatabaseServiceSettings if issubclass(cls, DatabaseServiceSettings) else ServiceSettings
    return {f: info for f, info in cls.model_fields.items() if f not in base.model_fields}


def _env(name: str, field: str) -> str:
    return env_name(settings_class(name), field)


def description(name: str, env: str) -> str:
    """What a secret setting holds, for the template's comments."""
    if env in NOTES:
        return NOTES[env]
    if env == spec(name).client_secret_env:
        return "its service-account secret: the same as its entry in user-management's SERVICE_ACCOUNTS"
    fields = settings_class(name).model_fields
    return next((info.description or "" for f, info in fields.items() if _env(name, f) == env), "")


@dataclass(frozen=True)
class ServiceEnv:
    name: str
    config: dict[str, str]
    """Plain settings for its own ConfigMap (besides the shared COMMON_KEYS)."""
    secrets: dict[str, str]
    """Required secret settings -> what the value looks like (for the template's comments)."""
    optional_secrets: tuple[str, ...]
    optional_config: tuple[str, ...]
    reaches: tuple[str, ...]
    """Services whose address is in its settings (peers, the JWKS): its egress, their ingress."""


def service_env(name: str) -> ServiceEnv:
    service = spec(name)
    first, second, shape = (environment(service, passwords(p)) for p in ("a-", "b-", ""))
    secret = [key for key in first if first[key] != second[key]]
    config = {k: v for k, v in first.items() if k not in secret and k not in COMMON_KEYS}
    for key in PUBLIC_SETTINGS.get(name, ()):
        config[key] = f"https://{PUBLIC_HOST}"
    readable = env_names(settings_class(name))
    unknown = sorted((set(config) | set(secret)) - set(readable))
    if unknown:
        raise ValueError(f"{name} does not read {unknown}")

    fields = own_fields(name)
    own_secret = [_env(name, f) for f, info in fields.items() if _is_secret_type(info.annotation)]
    optional_secrets = tuple(env for env in own_secret if env not in secret)
    taken = {*config, *secret, *own_secret}
    optional_config = tuple(env for env in map(partial(_env, name), fields) if env not in taken)
    examples = {}
    for key in secret:
        value = shape[key]
        if key == "SERVICE_ACCOUNTS":
            value = "JSON list, one per service account:\n" + "\n".join(
                json.dumps(account) for account in service_accounts(passwords())
            )
        elif "://" not in value:
            value = description(name, key)
        examples[key] = value
    return ServiceEnv(
        name=name,
        config=config,
        secrets=examples,
        optional_secrets=optional_secrets,
        optional_config=optional_config,
        reaches=reached(first),
    )


def reached(env: dict[str, str]) -> tuple[str, ...]:
    """Services named by the URLs among these settings' values."""
    hosts = {(k8s_name(s.name), s.port): s.name for s in SERVICES}
    found = set()
    for value in env.values():
        if "://" in value:
            parts = urlsplit(value)
            if (parts.hostname, parts.port) in hosts:
                found.add(hosts[(parts.hostname, parts.port)])
    return tuple(s.name for s in SERVICES if s.name in found)


def common_config() -> dict[str, str]:
    """Settings every service reads with one value: the JWKS, the trusted proxies, token claims."""
    jwks = {environment(s, passwords())["JWKS_URL"] for s in SERVICES}
    assert len(jwks) == 1, jwks
    fields = ServiceSettings.model_fields
    return {
        "JWKS_URL": jwks.pop(),
        "TRUSTED_PROXIES": json.dumps([POD_CIDR]),
        "JWT_ISSUER": str(fields["jwt_issuer"].default),
        "JWT_AUDIENCE": str(fields["jwt_audience"].default),
        "LOG_LEVEL": "INFO",
        "ENVIRONMENT": "production",
    }


def migrate_secrets() -> tuple[str, ...]:
    """What `python -m shared.migrations` reads: the owner URL, and each runtime role's URL for
    its password (shared.migrations.runtime_passwords)."""
    return ("DATABASE_URL", *(s.database_url_env for s in SERVICES if s.schema))
