"""The environment the services get: URLs, runtime role credentials, keys (see `.env.example`)."""

from __future__ import annotations

import json
import secrets
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from sqlalchemy.engine import make_url

from shared.fleet import SERVICES, WITH_DATABASE

# What each service's own service account may do when it calls a peer (client-credentials grant).
SERVICE_SCOPES: dict[str, list[str]] = {
    "api_gateway": ["users:read"],
    "ai_agents": ["analytics:read", "campaigns:read"],
    "campaign_management": ["analytics:read", "integrations:read", "ai:run"],
    "analytics": ["campaigns:read"],
    "integration": ["campaigns:read"],
    "notification": ["users:read"],
    "user_management": [],
}


def load_or_create_secrets(path: Path) -> dict[str, str]:
    """Passwords for the owner, every runtime role and every service account, made once and kept
    (mode 600); names added by a newer version are filled in on the next start."""
    values: dict[str, str] = json.loads(path.read_text()) if path.exists() else {}
    wanted = [
        "postgres",
        *(spec.name for spec in WITH_DATABASE),
        *(f"{spec.name}_client" for spec in SERVICES),
    ]
    missing = [name for name in wanted if not values.get(name)]
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


def service_environment(
    owner_url: str,
    redis_url: str,
    passwords: dict[str, str],
    ports: dict[str, int],
    *,
    signing_key: Path | None = None,
    host: str = "127.0.0.1",
) -> dict[str, str]:
    """Every variable a service reads, for the whole fleet at once."""
    env = {"DATABASE_URL": owner_url, "REDIS_URL": redis_url}
    for spec in SERVICES:
        env[spec.url_env] = f"http://{host}:{ports[spec.name]}"
    for spec in WITH_DATABASE:
        assert spec.role
        env[spec.database_url_env] = runtime_url(owner_url, spec.role, passwords[spec.name])
    env["JWKS_URL"] = f"{env['USER_MANAGEMENT_URL']}/.well-known/jwks.json"
    accounts = []
    for spec in SERVICES:
        secret = passwords.get(f"{spec.name}_client")
        if secret:
            env[f"{spec.env_prefix}_CLIENT_SECRET"] = secret
            accounts.append({"client_id": spec.name, "secret": secret, "scopes": SERVICE_SCOPES[spec.name]})
    env["SERVICE_ACCOUNTS"] = json.dumps(accounts)
    if signing_key is not None:
        env["JWT_PRIVATE_KEY_FILE"] = str(signing_key)
    return env


def write_env_file(path: Path, values: dict[str, str]) -> None:
    path.write_text("".join(f"{key}={value}\n" for key, value in values.items()))
    path.chmod(0o600)
