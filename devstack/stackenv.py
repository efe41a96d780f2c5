"""The environment of each service process, on the least-privilege rule of DESIGN §9.

A service gets only its own settings: its runtime role URL, its Redis users, its service-account
secret, the URLs of the peers it calls (fleet spec `calls`). The owner `DATABASE_URL` goes only to
the migrate step; the signing key and the service-account list only to user_management.
`stack_environment` is what the developer sees in `.devdata/stack.env`.
"""

from __future__ import annotations

import base64
import hashlib
import importlib
import json
import os
import secrets
import shlex
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from sqlalchemy.engine import make_url

from shared.config import ServiceSettings, env_names
from shared.fleet import SERVICES, WITH_DATABASE, ServiceSpec, spec
from shared.redis_acl import setuser_command, users_of

# What a child process may inherit from the launcher's own environment, besides its settings.
INHERITED = (
    "PATH",
    "HOME",
    "LANG",
    "LC_ALL",
    "LC_CTYPE",
    "TZ",
    "TMPDIR",
    "VIRTUAL_ENV",
    "PYTHONPATH",
    "CREWAI_DISABLE_TELEMETRY",
    "OTEL_SDK_DISABLED",
    "CREWAI_TRACING_ENABLED",
)
LOOPBACK_PROXIES = json.dumps(["127.0.0.1", "::1"])
P256_ORDER = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551


# integration's key-encryption key and the webhook signing secrets of the providers it hears from.
INTEGRATION_SECRETS = (
    "integration_master_key",
    "stripe_webhook",
    "meta_app",
    "meta_verify",
    "mautic_webhook",
)


NOTIFICATION_SECRETS = ("notification_links", "notification_vapid")


def notification_secrets(passwords: Mapping[str, str]) -> dict[str, str]:
    """The link-signing secret, and a VAPID key (P-256) derived from a generated secret, so it stays
    the same across restarts (browsers' subscriptions are bound to it)."""
    seed = int.from_bytes(hashlib.sha256(passwords["notification_vapid"].encode()).digest(), "big")
    raw = (seed % (P256_ORDER - 1) + 1).to_bytes(32, "big")
    return {
        "NOTIFICATION_LINK_SECRET": passwords["notification_links"],
        "VAPID_PRIVATE_KEY": base64.urlsafe_b64encode(raw).decode().rstrip("="),
    }


def integration_secrets(passwords: Mapping[str, str]) -> dict[str, str]:
    """The dev stack's values; the webhook secrets also go to `.devdata/stack.env`, so a developer
    can sign a test event. The master key is 32 bytes derived from a generated secret."""
    master = hashlib.sha256(passwords["integration_master_key"].encode()).digest()
    return {
        "INTEGRATION_MASTER_KEYS": "k1:" + base64.b64encode(master).decode(),
        "STRIPE_WEBHOOK_SECRET": "whsec_" + passwords["stripe_webhook"],
        "META_APP_SECRET": passwords["meta_app"],
        "META_VERIFY_TOKEN": passwords["meta_verify"],
        "MAUTIC_WEBHOOK_SECRET": passwords["mautic_webhook"],
    }


WEBHOOK_SECRETS = ("STRIPE_WEBHOOK_SECRET", "META_APP_SECRET", "META_VERIFY_TOKEN", "MAUTIC_WEBHOOK_SECRET")


def secret_names() -> list[str]:
    """Every generated secret: database roles, Redis users, service accounts, the operator token."""
    return [
        "postgres",
        "redis_admin",
        "gateway_operator",
        *INTEGRATION_SECRETS,
        *NOTIFICATION_SECRETS,
        *(s.name for s in WITH_DATABASE),
        *(f"{s.name}_client" for s in SERVICES),
        *(f"redis_{user.name}" for s in SERVICES for user in users_of(s)),
    ]


def load_or_create_secrets(path: Path) -> dict[str, str]:
    """Made once and kept (mode 600); names added by a newer version are filled in on the next start."""
    values: dict[str, str] = json.loads(path.read_text()) if path.exists() else {}
    missing = [name for name in secret_names() if not values.get(name)]
    if missing:
        values.update({name: secrets.token_urlsafe(24) for name in missing})
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(values, indent=2))
    path.chmod(0o600)
    return values


def ensure_signing_key(path: Path) -> Path:
    """An RSA key pair for RS256 access tokens, made on first start (DESIGN §5)."""
    if not path.exists():
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        pem = key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(pem)
        path.chmod(0o600)
    return path


def runtime_url(owner_url: str, role: str, password: str) -> str:
    return make_url(owner_url).set(username=role, password=password).render_as_string(hide_password=False)


def redis_user_url(admin_url: str, user: str, password: str) -> str:
    parsed = make_url(admin_url.replace("redis://", "postgresql://", 1))
    rendered = parsed.set(username=user, password=password).render_as_string(hide_password=False)
    return rendered.replace("postgresql://", "redis://", 1)


def settings_class(name: str) -> type[ServiceSettings]:
    settings_cls: type[ServiceSettings] = importlib.import_module(f"services.{name}.settings").Settings
    return settings_cls


@dataclass(frozen=True)
class StackAddresses:
    owner_url: str
    redis_url: str
    ports: Mapping[str, int]
    redis_acl: bool = True
    host: str = "127.0.0.1"

    def service_url(self, name: str) -> str:
        return f"http://{self.host}:{self.ports[name]}"


def service_environment(
    service: ServiceSpec,
    stack: StackAddresses,
    passwords: Mapping[str, str],
    *,
    signing_key: Path | None = None,
) -> dict[str, str]:
    """The settings one service process gets, and nothing else."""
    env = {"JWKS_URL": f"{stack.service_url('user_management')}/.well-known/jwks.json"}
    for user in users_of(service):
        url = redis_user_url(stack.redis_url, user.name, passwords[f"redis_{user.name}"])
        env[user.url_setting] = url if stack.redis_acl else stack.redis_url
    for peer in service.peers:
        env[spec(peer).url_env] = stack.service_url(peer)
    if service.schema:
        assert service.role
        env[service.database_url_env] = runtime_url(stack.owner_url, service.role, passwords[service.name])
    if service.scopes:
        env[service.client_secret_env] = passwords[f"{service.name}_client"]
    if service.name == "api_gateway":
        env["GATEWAY_OPERATOR_TOKEN"] = passwords["gateway_operator"]
    else:
        env["TRUSTED_PROXIES"] = LOOPBACK_PROXIES  # the gateway, on this host
    if service.name == "integration":
        env.update(integration_secrets(passwords))
    if service.name == "notification":
        env.update(notification_secrets(passwords))
    if service.name == "user_management":
        env["SERVICE_ACCOUNTS"] = json.dumps(service_accounts(passwords))
        if signing_key is not None:
            env["JWT_PRIVATE_KEY_FILE"] = str(signing_key)
    return env


def service_accounts(passwords: Mapping[str, str]) -> list[dict[str, object]]:
    return [
        {"client_id": s.name, "secret": passwords[f"{s.name}_client"], "scopes": list(s.scopes)}
        for s in SERVICES
        if s.scopes
    ]


def fleet_environments(
    stack: StackAddresses, passwords: Mapping[str, str], *, signing_key: Path | None = None
) -> dict[str, dict[str, str]]:
    return {s.name: service_environment(s, stack, passwords, signing_key=signing_key) for s in SERVICES}


def process_environment(
    name: str, own: Mapping[str, str], outer: Mapping[str, str] | None = None
) -> dict[str, str]:
    """What the child process really gets: a few inherited basics, the developer's overrides of
    this service's own settings (from `.env` or the shell), then the launcher's values."""
    outer = os.environ if outer is None else outer
    allowed = set(env_names(settings_class(name))) if name in {s.name for s in SERVICES} else set()
    base = {key: value for key, value in outer.items() if key in INHERITED or key in allowed}
    return {**base, **own, "PYTHONUNBUFFERED": "1"}


def stack_environment(stack: StackAddresses, extra: Mapping[str, str] = {}) -> dict[str, str]:
    """For `.devdata/stack.env`: the servers and the services' URLs (not their secrets)."""
    env = {"DATABASE_URL": stack.owner_url, "REDIS_URL": stack.redis_url}
    for service in SERVICES:
        env[service.url_env] = stack.service_url(service.name)
    env["JWKS_URL"] = f"{stack.service_url('user_management')}/.well-known/jwks.json"
    return {**env, **extra}


def write_env_file(path: Path, values: Mapping[str, str]) -> None:
    """KEY='value' lines, each value shell-quoted: safe to `source` in a shell and readable as a
    dotenv file (JSON values keep their quotes and spaces)."""
    path.write_text("".join(f"{key}={shlex.quote(value)}\n" for key, value in values.items()))
    path.chmod(0o600)


def apply_redis_users(admin_url: str, passwords: Mapping[str, str]) -> bool:
    """Create or reset every service's Redis users. False when the server refuses (no ACL rights
    on a managed Redis, say): then every service shares `admin_url`, as before ACLs."""
    import redis
    from redis.exceptions import RedisError

    client = redis.Redis.from_url(admin_url)
    try:
        for service in SERVICES:
            for user in users_of(service):
                client.execute_command(*setuser_command(user, passwords[f"redis_{user.name}"]))
    except RedisError:
        return False
    finally:
        client.close()
    return True
