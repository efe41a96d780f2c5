"""The parts of the Docker files that follow from the code, and the secrets they read.

Nothing here is a hand list of services, settings or Redis users: the fleet comes from
`shared/fleet.py`, each service's settings from its settings class (`shared.config.env_names`), the
least-privilege wiring from the launcher's own `devstack.stackenv.service_environment`, the provider
fakes from `devstack/providers.py`, the Redis users from `shared/redis_acl.py`. Regenerate after
changing any of them; `tests/deploy/test_compose.py` fails while a generated part is stale.

Run from the repository root with the project's virtualenv:

    .venv/bin/python deploy/generate_compose.py             # rewrite the generated parts
    .venv/bin/python deploy/generate_compose.py --check     # exit 1 when one is stale
    .venv/bin/python deploy/generate_compose.py dev-env     # values for docker-compose.dev.yml
    .venv/bin/python deploy/generate_compose.py secrets     # missing ./secrets/* for docker-compose.prod.yml

Generated: `deploy/requirements-{service,ai-agents,fakes}.txt`, `deploy/compose/redis/users.acl.template`,
and the blocks between `# >>> generated` and `# <<< generated` markers in `Dockerfile`,
`docker-compose.dev.yml` and `docker-compose.prod.yml` (everything else in them is written by hand).
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import re
import secrets as tokens
import sys
import typing
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
if str(REPO_ROOT) not in sys.path:  # run as a script: make `shared`, `devstack`, `services` importable
    sys.path.insert(0, str(REPO_ROOT))

from pydantic import SecretStr  # noqa: E402

from devstack.providers import PROVIDER_FAKES, MailCatcher, ProviderFake  # noqa: E402
from devstack.stackenv import (  # noqa: E402
    StackAddresses,
    ensure_signing_key,
    integration_secrets,
    notification_secrets,
    secret_names,
    service_accounts,
    service_environment,
    settings_class,
    write_env_file,
)
from shared.config import ServiceSettings, env_names  # noqa: E402
from shared.fleet import SERVICES, WITH_DATABASE, ServiceSpec  # noqa: E402
from shared.redis_acl import RedisUser, setuser_command, users_of  # noqa: E402

DATABASE = "bizosaas"
POSTGRES_HOST = "postgres"
REDIS_HOST = "redis"
SECRETS_DIR = "/run/secrets"
DEV_HINT = "run ./start-dev.sh --docker once"
# Docker mode's network: the gateway has a fixed address, the only proxy the services believe.
DEV_GATEWAY_IP = "${DEV_GATEWAY_IP:-172.30.42.80}"
DEV_SUBNET = "${DEV_DOCKER_SUBNET:-172.30.42.0/24}"
# Production: Traefik and the gateway share `edge`; the gateway and the services share `backend`.
EDGE_SUBNET = "${EDGE_SUBNET:-172.31.250.0/24}"
BACKEND_SUBNET = "${BACKEND_SUBNET:-172.31.251.0/24}"
DOMAIN = "${BIZOSAAS_DOMAIN:?set BIZOSAAS_DOMAIN in .env}"
# Settings the code reads but that never belong in a deployment (tests only).
TEST_ONLY_SETTINGS = frozenset({"FETCH_ALLOW"})
# System packages a service image needs besides its Python packages.
SYSTEM_PACKAGES = {
    # services/analytics/service/report_files.py: DEJAVU_SANS draws the PDF reports' text.
    "analytics": ("fonts-dejavu-core",),
}
# Replicas and limits in production (docker-compose.prod.yml); CrewAI crews are memory-hungry,
# argon2 hashing in user_management takes 64 MiB per login in flight.
PROD_SIZING: dict[str, tuple[int, str, str]] = {
    "api_gateway": (2, "1.0", "512M"),
    "ai_agents": (1, "2.0", "2G"),
    "user_management": (2, "1.0", "1G"),
    "campaign_management": (2, "0.5", "512M"),
    "analytics": (2, "1.0", "1G"),
    "integration": (2, "0.5", "512M"),
    "notification": (2, "0.5", "512M"),
}
DEFAULT_SIZING = (1, "0.5", "512M")


def host(name: str) -> str:
    """Compose service (and DNS) name of a fleet service: `api_gateway` -> `api-gateway`."""
    return name.replace("_", "-")


def fake_host(fake: ProviderFake) -> str:
    return "fake-" + fake.module.replace("_", "-")


# --------------------------------------------------------------------------------------------
# Requirements: one file per image kind, cut from requirements.txt
# --------------------------------------------------------------------------------------------

REQUIREMENTS = REPO_ROOT / "requirements.txt"
# Sections of requirements.txt that no image needs (their comment line starts like this).
DEV_ONLY_SECTIONS = ("# Embedded PostgreSQL", "# Development and tests")
# Packages of the other sections that no service imports (tests/deploy checks that it stays so).
LEFT_OUT = {
    "crewai": "only the ai_agents image has it (requirements-ai-agents.txt)",
    "aiosmtpd": "only the provider fakes' image has it, for the SMTP catcher (requirements-fakes.txt)",
    "python-jose": "tests only: the second JWT library that must refuse forged tokens",
    "psutil": "tests and benchmarks only",
    "stripe": "tests only: the official client that drives the Stripe fake",
    "twilio": "tests only: the official client that drives the Twilio fake",
    "pypdf": "tests only: reads analytics' PDF reports back",
}
IMAGE_EXTRAS = {"ai-agents": ("crewai",), "fakes": ("aiosmtpd",)}


def requirement_name(line: str) -> str:
    return re.split(r"[\[=<>!~; ]", line.strip(), maxsplit=1)[0].lower().replace("_", "-")


def requirement_lines(path: Path = REQUIREMENTS) -> list[tuple[str, str]]:
    """(section comment, requirement line) for every requirement, in file order."""
    section, found = "", []
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if line.startswith("#"):
            section = line
        elif line:
            found.append((section, line))
    return found


def service_requirements(path: Path = REQUIREMENTS) -> list[str]:
    return [
        line
        for section, line in requirement_lines(path)
        if not section.startswith(DEV_ONLY_SECTIONS) and requirement_name(line) not in LEFT_OUT
    ]


def requirement_files(path: Path = REQUIREMENTS) -> dict[Path, str]:
    pinned = {requirement_name(line): line for _, line in requirement_lines(path)}
    header = "# Generated by deploy/generate_compose.py from requirements.txt: do not edit.\n"
    left_out = "".join(f"#   {name}: {why}\n" for name, why in LEFT_OUT.items())
    files = {
        REPO_ROOT / "deploy" / "requirements-service.txt": (
            header
            + "# What every service image installs: requirements.txt without the sections that start\n"
            + "# with "
            + " and ".join(f'"{section}"' for section in DEV_ONLY_SECTIONS)
            + ", and without:\n"
            + left_out
            + "".join(f"{line}\n" for line in service_requirements(path))
        )
    }
    for image, extras in IMAGE_EXTRAS.items():
        files[REPO_ROOT / "deploy" / f"requirements-{image}.txt"] = (
            header
            + f"# The {image} image: every service requirement plus {', '.join(extras)}.\n"
            + "-r requirements-service.txt\n"
            + "".join(f"{pinned[name]}\n" for name in extras)
        )
    return files


# --------------------------------------------------------------------------------------------
# Each service's environment
# --------------------------------------------------------------------------------------------


def settings_of(spec: ServiceSpec) -> dict[str, bool]:
    """Every environment name the service reads, with whether it is required."""
    return env_names(settings_class(spec.name))


def secret_settings(spec: ServiceSpec) -> set[str]:
    """Names whose value is a secret (typed `SecretStr` in the settings class)."""
    cls = settings_class(spec.name)
    found = set()
    for field, info in cls.model_fields.items():
        annotation = info.annotation
        if annotation is SecretStr or SecretStr in typing.get_args(annotation):
            alias = info.validation_alias
            found.add(alias if isinstance(alias, str) else field.upper())
    return found


def wiring_names(spec: ServiceSpec) -> list[str]:
    """The names the dev launcher gives the service (least privilege, DESIGN §9): computed by
    calling `service_environment` itself with placeholder values."""
    stack = StackAddresses("postgresql://o:p@h:1/d", "redis://:p@h:1/0", {s.name: s.port for s in SERVICES})
    placeholders = dict.fromkeys(secret_names(), "x")
    return list(service_environment(spec, stack, placeholders, signing_key=Path("/key.pem")))


SHARED_WIRING = frozenset(
    {"REDIS_URL", "EVENTS_PUBLISHER_REDIS_URL", "EVENTS_CONSUMER_REDIS_URL", "JWKS_URL", "TRUSTED_PROXIES"}
)


def shared_tuning() -> list[str]:
    """Settings every service reads that are plain tuning (the `x-service-tuning` anchor)."""
    wiring = SHARED_WIRING | {"CLIENT_SECRET"} | {s.url_env for s in SERVICES}
    return [name for name in env_names(ServiceSettings) if name not in wiring]


def redis_password_var(user: RedisUser) -> str:
    return f"REDIS_{user.name.upper()}_PASSWORD"


def db_password_var(spec: ServiceSpec) -> str:
    return f"{spec.env_prefix}_DB_PASSWORD"


def redis_url_secret(spec: ServiceSpec, user: RedisUser) -> str:
    return f"{spec.name}_{user.url_setting.lower()}"


def required_var(name: str) -> str:
    return f"${{{name}:?{DEV_HINT}}}"


def fake_settings() -> dict[str, tuple[ProviderFake, str]]:
    """Setting -> (fake, value) of every provider fake, addressed by its compose name."""
    found = {}
    for fake in PROVIDER_FAKES:
        for name, value in fake.settings(fake.port).items():
            found[name] = (fake, value.replace("127.0.0.1", fake_host(fake)))
    return found


@dataclass(frozen=True)
class Entry:
    name: str  # the environment name (before a `__FILE` suffix)
    value: str
    secret: str | None = None  # the Docker secret that carries it, `NAME__FILE` in the container

    @property
    def key(self) -> str:
        return f"{self.name}__FILE" if self.secret else self.name


def _wired(spec: ServiceSpec, name: str, mode: str) -> Entry:
    dev = mode == "dev"
    users = {user.url_setting: user for user in users_of(spec)}
    peers = {s.url_env: s for s in SERVICES}
    if name == "JWKS_URL":
        um = next(s for s in SERVICES if s.name == "user_management")
        return Entry(name, f"http://{host(um.name)}:{um.port}/.well-known/jwks.json")
    if name in users:
        user = users[name]
        if dev:
            return Entry(
                name, f"redis://{user.name}:{required_var(redis_password_var(user))}@{REDIS_HOST}:6379/0"
            )
        secret = redis_url_secret(spec, user)
        return Entry(name, f"{SECRETS_DIR}/{secret}", secret)
    if name in peers:
        return Entry(name, f"http://{host(peers[name].name)}:{peers[name].port}")
    if name == spec.database_url_env:
        if dev:
            password = required_var(db_password_var(spec))
            return Entry(name, f"postgresql://{spec.role}:{password}@{POSTGRES_HOST}:5432/{DATABASE}")
        return Entry(name, f"{SECRETS_DIR}/{name.lower()}", name.lower())
    if name == "TRUSTED_PROXIES":
        return Entry(name, json.dumps([DEV_GATEWAY_IP if dev else BACKEND_SUBNET]))
    if name == "JWT_PRIVATE_KEY_FILE":
        return Entry(name, f"{SECRETS_DIR}/jwt_signing_key")
    if name == "SERVICE_ACCOUNTS" or name in secret_settings(spec):
        if dev:
            return Entry(name, required_var(name))
        return Entry(name, f"{SECRETS_DIR}/{name.lower()}", name.lower())
    raise SystemExit(
        f"generate_compose: {spec.name} gets {name} from devstack.stackenv.service_environment, "
        "and this generator does not know how to wire it in compose: teach _wired()"
    )


def _tunable(spec: ServiceSpec, name: str, mode: str) -> Entry:
    """A setting the deployment may leave unset: empty means the code's default (the image's
    entrypoint drops empty settings). In production a secret-typed one comes from a secret file
    (an empty file leaves it unset)."""
    if mode == "prod" and name in secret_settings(spec):
        return Entry(name, f"{SECRETS_DIR}/{name.lower()}", name.lower())
    if mode == "prod" and name in {"PUBLIC_URL", "PUBLIC_APP_URL"}:
        return Entry(name, f"https://{DOMAIN}")
    return Entry(name, f"${{{name}:-}}")


def environment(spec: ServiceSpec, mode: str) -> list[tuple[str, list[Entry]]]:
    """The service's environment in groups (comment, entries), besides the shared tuning anchor."""
    reads = settings_of(spec)
    tuning = set(shared_tuning())
    wired = [_wired(spec, name, mode) for name in wiring_names(spec)]
    if mode == "prod" and spec.name == "api_gateway":
        wired.append(Entry("TRUSTED_PROXIES", json.dumps([EDGE_SUBNET])))  # Traefik, its only proxy
    fakes: list[Entry] = []
    if mode == "dev":  # the fakes' values win over the launcher's, as in devstack.providers
        fakes = [Entry(name, value) for name, (_fake, value) in fake_settings().items() if name in reads]
        wired = [entry for entry in wired if entry.name not in {fake.name for fake in fakes}]
    groups = [("least privilege: its own role, Redis users, secrets and the peers it calls", wired)]
    if fakes:
        groups.append(("the provider fakes (devstack/providers.py) and their documented credentials", fakes))
    taken = {entry.name for _, entries in groups for entry in entries}
    own = [
        _tunable(spec, name, mode)
        for name in reads
        if name not in taken
        and name not in tuning
        and name not in TEST_ONLY_SETTINGS
        and name not in env_names(ServiceSettings)  # other peers' URLs, the unused client secret
        and name not in {spec.client_secret_env, spec.database_url_env}
    ]
    if own:
        groups.append(("its own settings: empty means the code's default (.env.example)", own))
    return groups


def service_secrets(spec: ServiceSpec, mode: str) -> list[str]:
    found = [e.secret for _, entries in environment(spec, mode) for e in entries if e.secret]
    if "JWT_PRIVATE_KEY_FILE" in wiring_names(spec):
        found.append("jwt_signing_key")
    return found


def services_using(fake: ProviderFake) -> list[ServiceSpec]:
    names = set(fake.settings(fake.port))
    return [spec for spec in SERVICES if names & set(settings_of(spec))]


# --------------------------------------------------------------------------------------------
# Secrets: the Docker secrets of the production file, and the dev stack's interpolated values
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SecretSpec:
    name: str
    kind: str  # password | url | pem | json | master_keys | vapid | htpasswd | provider
    note: str


def prod_secrets() -> list[SecretSpec]:
    found = [
        SecretSpec(
            "postgres_password", "password", "the owner role `postgres` (PostgreSQL containers, backups)"
        ),
        SecretSpec(
            "postgres_replication_password", "password", "the `replicator` role of the streaming replica"
        ),
        SecretSpec("database_url", "url", "the owner URL: the migrate step only"),
        SecretSpec("redis_admin_password", "password", "Redis `admin` (health checks, operators)"),
    ]
    seen = {s.name for s in found}
    for spec in SERVICES:
        for _, entries in environment(spec, "prod"):
            for entry in entries:
                if entry.secret and entry.secret not in seen:
                    seen.add(entry.secret)
                    found.append(
                        SecretSpec(entry.secret, _secret_kind(spec, entry.name), f"{spec.name}: {entry.name}")
                    )
        if "JWT_PRIVATE_KEY_FILE" in wiring_names(spec) and "jwt_signing_key" not in seen:
            seen.add("jwt_signing_key")
            found.append(SecretSpec("jwt_signing_key", "pem", f"{spec.name}: the RS256 signing key (PEM)"))
    found += [
        SecretSpec("grafana_admin_password", "password", "Grafana's `admin`"),
        SecretSpec("traefik_dashboard_users", "htpasswd", "Traefik dashboard basic auth (htpasswd lines)"),
    ]
    return found


PROVIDER_ISSUED = {"STRIPE_WEBHOOK_SECRET", "META_APP_SECRET"}  # set by the provider, not by us


def _secret_kind(spec: ServiceSpec, name: str) -> str:
    if name.endswith("_URL"):
        return "url"
    if name == "SERVICE_ACCOUNTS":
        return "json"
    if name == "INTEGRATION_MASTER_KEYS":
        return "master_keys"
    if name == "VAPID_PRIVATE_KEY":
        return "vapid"
    wired = set(wiring_names(spec))
    if name in wired and name not in PROVIDER_ISSUED:
        return "password"
    return "provider"


def _token() -> str:
    return tokens.token_urlsafe(32)


def _vapid_key() -> str:
    from cryptography.hazmat.primitives.asymmetric import ec

    scalar = ec.generate_private_key(ec.SECP256R1()).private_numbers().private_value
    return base64.urlsafe_b64encode(scalar.to_bytes(32, "big")).decode().rstrip("=")


def _htpasswd(user: str, password: str) -> str:
    try:
        import bcrypt

        return f"{user}:{bcrypt.hashpw(password.encode(), bcrypt.gensalt()).decode()}"
    except ImportError:
        from passlib.hash import apr_md5_crypt

        return f"{user}:{apr_md5_crypt.hash(password)}"


def write_prod_secrets(directory: Path) -> list[str]:
    """Create every missing secret file (existing ones are kept); returns what it did, by name."""
    directory.mkdir(parents=True, exist_ok=True)
    directory.chmod(0o700)
    (directory / ".gitignore").write_text("# Secrets never go to git.\n*\n")
    done: list[str] = []

    def read(name: str) -> str | None:
        path = directory / name
        return path.read_text().strip() if path.exists() else None

    def write(name: str, value: str, note: str = "created") -> None:
        path = directory / name
        path.write_text(value + ("\n" if value else ""))
        # Readable inside containers whatever their user; the 0700 folder keeps other host users out.
        path.chmod(0o444)
        done.append(f"{name}: {note}")

    for secret in prod_secrets():
        if read(secret.name) is not None or secret.kind in {"url", "json"}:
            continue
        if secret.kind == "password":
            write(secret.name, _token())
        elif secret.kind == "master_keys":
            write(secret.name, "k1:" + base64.b64encode(os.urandom(32)).decode())
        elif secret.kind == "vapid":
            write(secret.name, _vapid_key())
        elif secret.kind == "pem":
            ensure_signing_key(directory / secret.name)
            (directory / secret.name).chmod(0o444)
            done.append(f"{secret.name}: created")
        elif secret.kind == "htpasswd":
            password = _token()
            write("traefik_dashboard_password", password, "created (the dashboard's password for `admin`)")
            write(secret.name, _htpasswd("admin", password))
        else:
            write(
                secret.name,
                "",
                "created EMPTY: the provider issues it; fill it in or leave that provider off",
            )
    # URLs embed passwords: the owner's, or one made here for each runtime role and Redis user.
    owner = read("postgres_password")
    if read("database_url") is None:
        write("database_url", f"postgresql://postgres:{owner}@{POSTGRES_HOST}:5432/{DATABASE}")
    for spec in WITH_DATABASE:
        name = spec.database_url_env.lower()
        if read(name) is None:
            write(name, f"postgresql://{spec.role}:{_token()}@{POSTGRES_HOST}:5432/{DATABASE}")
    for spec in SERVICES:
        for user in users_of(spec):
            name = redis_url_secret(spec, user)
            if read(name) is None:
                write(name, f"redis://{user.name}:{_token()}@{REDIS_HOST}:6379/0")
    if read("service_accounts") is None:
        passwords = {
            f"{s.name}_client": read(s.client_secret_env.lower()) or "" for s in SERVICES if s.scopes
        }
        write("service_accounts", json.dumps(service_accounts(passwords)))
    return done


DEV_EXTRA_SECRETS = (
    "mautic_db",
    "mautic_db_root",
    "strapi_api_token_salt",
    "strapi_admin_jwt",
    "strapi_transfer_token_salt",
    "strapi_jwt",
    *(f"strapi_app_key_{i}" for i in range(4)),
)


def dev_values(passwords: Mapping[str, str]) -> dict[str, str]:
    """Every `${NAME:?...}` the dev compose file interpolates, from the generated passwords."""
    values = {"POSTGRES_PASSWORD": passwords["postgres"], "REDIS_ADMIN_PASSWORD": passwords["redis_admin"]}
    values |= {db_password_var(s): passwords[s.name] for s in WITH_DATABASE}
    values |= {redis_password_var(u): passwords[f"redis_{u.name}"] for s in SERVICES for u in users_of(s)}
    values |= {s.client_secret_env: passwords[f"{s.name}_client"] for s in SERVICES if s.scopes}
    values["GATEWAY_OPERATOR_TOKEN"] = passwords["gateway_operator"]
    values["SERVICE_ACCOUNTS"] = json.dumps(service_accounts(passwords))
    values |= integration_secrets(passwords) | notification_secrets(passwords)
    values |= {
        "MAUTIC_DB_PASSWORD": passwords["mautic_db"],
        "MAUTIC_DB_ROOT_PASSWORD": passwords["mautic_db_root"],
        "STRAPI_APP_KEYS": ",".join(passwords[f"strapi_app_key_{i}"] for i in range(4)),
        "STRAPI_API_TOKEN_SALT": passwords["strapi_api_token_salt"],
        "STRAPI_ADMIN_JWT_SECRET": passwords["strapi_admin_jwt"],
        "STRAPI_TRANSFER_TOKEN_SALT": passwords["strapi_transfer_token_salt"],
        "STRAPI_JWT_SECRET": passwords["strapi_jwt"],
    }
    return {name: value for name, value in values.items() if name not in fake_settings()}


def write_dev_env(devdata: Path) -> Path:
    """`<devdata>/compose/dev.env` (sourced by ./start-dev.sh --docker) and the signing key."""
    folder = devdata / "compose"
    folder.mkdir(parents=True, exist_ok=True)
    folder.chmod(0o700)
    store = folder / "secrets.json"
    passwords: dict[str, str] = json.loads(store.read_text()) if store.exists() else {}
    missing = [n for n in (*secret_names(), *DEV_EXTRA_SECRETS) if not passwords.get(n)]
    if missing:
        passwords |= {name: tokens.token_urlsafe(24) for name in missing}
        store.write_text(json.dumps(passwords, indent=2))
    store.chmod(0o600)
    key = ensure_signing_key(folder / "jwt-signing.pem")
    key.chmod(0o444)  # bind-mounted as a secret into user_management (uid 10001); the folder is 0700
    target = folder / "dev.env"
    write_env_file(target, dev_values(passwords))
    return target


# --------------------------------------------------------------------------------------------
# YAML and Dockerfile text
# --------------------------------------------------------------------------------------------

_PLAIN = re.compile(r"[A-Za-z0-9_$/.@+-][A-Za-z0-9_${}:?/.@+=,() -]*")
_TRICKY = re.compile(r"^(true|false|yes|no|on|off|null|~|[-+0-9.eE:]+)$", re.IGNORECASE)


def scalar(value: str) -> str:
    """A YAML scalar: plain when that reads back as the same string, else quoted."""
    if _PLAIN.fullmatch(value) and not _TRICKY.match(value) and ": " not in value and not value.endswith(" "):
        return value
    if "'" not in value and "\\" not in value and value.isprintable():
        return f"'{value}'"
    return json.dumps(value)


def flow(items: Iterable[str]) -> str:
    return "[" + ", ".join(json.dumps(item) for item in items) + "]"


def healthcheck(port: int, indent: str, path: str = "/health") -> list[str]:
    probe = f"import urllib.request; urllib.request.urlopen('http://127.0.0.1:{port}{path}', timeout=2)"
    return [
        f"{indent}healthcheck:",
        f"{indent}  test: {flow(['CMD', 'python', '-c', probe])}",
        f"{indent}  interval: 10s",
        f"{indent}  timeout: 3s",
        f"{indent}  retries: 5",
        f"{indent}  start_period: 30s",
    ]


def uvicorn(spec: ServiceSpec, mode: str) -> list[str]:
    command = ["uvicorn", spec.app_path, "--host", "0.0.0.0", "--port", str(spec.port)]
    if mode == "dev":
        command += ["--reload", "--reload-dir", f"services/{spec.name}", "--reload-dir", "shared"]
    # Each service decides itself whom to trust with X-Forwarded-For (TRUSTED_PROXIES).
    command += ["--no-access-log", "--no-proxy-headers", "--timeout-graceful-shutdown", "20"]
    return command


def env_lines(groups: list[tuple[str, list[Entry]]], indent: str, **overrides: str) -> list[str]:
    lines = [f"{indent}environment:", f"{indent}  <<: *service-tuning"]
    lines += [f"{indent}  {name}: {scalar(value)}" for name, value in overrides.items()]
    for comment, entries in groups:
        lines.append(f"{indent}  # {comment}")
        lines += [f"{indent}  {entry.key}: {scalar(entry.value)}" for entry in entries]
    return lines


def depends(items: Mapping[str, str], indent: str) -> list[str]:
    lines = [f"{indent}depends_on:"]
    for name, condition in items.items():
        lines += [f"{indent}  {name}:", f"{indent}    condition: {condition}"]
    return lines


def dev_fleet_block() -> list[str]:
    i = "    "
    lines: list[str] = []
    # Redis: one user per service role (shared/redis_acl.py), passwords from dev.env.
    lines += [
        "  redis:",
        "    # Redis 7 with a user per service role: redis-entrypoint.sh renders users.acl.template",
        "    # (from shared/redis_acl.py) with these passwords, hashed, and starts redis-server.",
        "    image: redis:7.4-alpine",
        '    entrypoint: ["sh", "/bizosaas/redis-entrypoint.sh"]',
        '    command: ["redis-server", "--appendonly", "yes"]',
        "    environment:",
        f"      REDIS_ADMIN_PASSWORD: {scalar(required_var('REDIS_ADMIN_PASSWORD'))}",
    ]
    lines += [
        f"      {redis_password_var(u)}: {scalar(required_var(redis_password_var(u)))}"
        for s in SERVICES
        for u in users_of(s)
    ]
    lines += [
        "    volumes:",
        "      - ./deploy/compose/redis/redis-entrypoint.sh:/bizosaas/redis-entrypoint.sh:ro",
        "      - ./deploy/compose/redis/users.acl.template:/bizosaas/users.acl.template:ro",
        "      - redis-data:/data",
        "    ports:",
        '      - "127.0.0.1:${DEV_DOCKER_REDIS_PORT:-6379}:6379"',
        "    healthcheck:",
        '      test: ["CMD-SHELL", "redis-cli --no-auth-warning --user admin --pass \\"$$REDIS_ADMIN_PASSWORD\\" ping | grep -q PONG"]',
        "      interval: 5s",
        "      timeout: 3s",
        "      retries: 10",
        "    restart: unless-stopped",
        "",
    ]
    owner_url = f"postgresql://postgres:{required_var('POSTGRES_PASSWORD')}@{POSTGRES_HOST}:5432/{DATABASE}"
    lines += [
        "  migrate:",
        "    # The one migrate step (python -m shared.migrations): the owner URL is given to it alone,",
        "    # with each runtime role's URL for that role's password. Runs once per `up`.",
        "    build:",
        "      context: .",
        "      target: migrate",
        "    image: bizosaas/migrate:dev",
        "    volumes:",
        "      - ./shared:/app/shared:ro",
        "      - ./services:/app/services:ro",
        "    environment:",
        f"      DATABASE_URL: {scalar(owner_url)}",
    ]
    for spec in WITH_DATABASE:
        entry = _wired(spec, spec.database_url_env, "dev")
        lines.append(f"      {entry.key}: {scalar(entry.value)}")
    lines += depends({"postgres": "service_healthy"}, i)
    lines += ['    restart: "no"', ""]
    for spec in SERVICES:
        calls = ", ".join(spec.calls) or "no peer"
        lines += [
            f"  {host(spec.name)}:",
            f"    # {spec.name} on :{spec.port}"
            + (f", schema {spec.schema} as {spec.role}" if spec.schema else ", Redis only")
            + f"; calls {calls}",
            "    build:",
            "      context: .",
            f"      target: {host(spec.name)}",
            f"    image: bizosaas/{host(spec.name)}:dev",
            f"    command: {flow(uvicorn(spec, 'dev'))}",
        ]
        if spec.name == "api_gateway":
            lines += ["    networks:", "      default:", f"        ipv4_address: {scalar(DEV_GATEWAY_IP)}"]
        lines += [
            "    ports:",
            f'      - "127.0.0.1:{spec.port}:{spec.port}"',
            "    volumes:",
            f"      - ./services/{spec.name}:/app/services/{spec.name}:ro",
            "      - ./shared:/app/shared:ro",
        ]
        lines += env_lines(environment(spec, "dev"), i)
        if "JWT_PRIVATE_KEY_FILE" in wiring_names(spec):
            lines += ["    secrets:", "      - jwt_signing_key"]
        needs = {"migrate": "service_completed_successfully", "redis": "service_healthy"}
        needs |= {fake_host(f): "service_healthy" for f in PROVIDER_FAKES if spec in services_using(f)}
        lines += depends(needs, i)
        lines += healthcheck(spec.port, i)
        lines += ["    restart: unless-stopped", ""]
    for fake in PROVIDER_FAKES:
        users = ", ".join(s.name for s in services_using(fake))
        if isinstance(fake, MailCatcher):
            command = ["python", "-m", "fakes.smtp", "--host", "0.0.0.0"]
            command += ["--smtp-port", str(fake.port), "--http-port", str(fake.port + 1)]
            ports, probe = [fake.port, fake.port + 1], fake.port + 1
            about = f"the SMTP catcher for {users}: read the mail at http://127.0.0.1:{probe}/messages"
        else:
            command = ["python", "-m", f"fakes.{fake.module}", "--host", "0.0.0.0", "--port", str(fake.port)]
            ports, probe = [fake.port], fake.port
            about = f"fakes/{fake.module}.py for {users}"
        lines += [
            f"  {fake_host(fake)}:",
            f"    # {about}",
            "    build:",
            "      context: .",
            "      target: fakes",
            "    image: bizosaas/fakes:dev",
            f"    command: {flow(command)}",
            "    volumes:",
            "      - ./fakes:/app/fakes:ro",
            "    ports:",
            *[f'      - "127.0.0.1:{p}:{p}"' for p in ports],
        ]
        lines += healthcheck(probe, i, "/_fake/state")
        lines += ["    restart: unless-stopped", ""]
    return lines[:-1]


def prod_fleet_block() -> list[str]:
    i = "    "
    lines: list[str] = []
    redis_secrets = ["redis_admin_password"] + [redis_url_secret(s, u) for s in SERVICES for u in users_of(s)]
    lines += [
        "  redis:",
        "    # Redis 7, AOF on (fsync every second), no eviction (streams and limits must not vanish).",
        "    # Users per service role from shared/redis_acl.py; each password is read from the",
        "    # service's own redis:// URL secret, so the two cannot drift. Managed Redis: README.",
        "    image: redis:7.4-alpine",
        '    entrypoint: ["sh", "/bizosaas/redis-entrypoint.sh"]',
        "    command:",
        '      ["redis-server", "--appendonly", "yes", "--appendfsync", "everysec", "--maxmemory-policy", "noeviction"]',
        "    environment:",
        f"      REDIS_ADMIN_PASSWORD__FILE: {SECRETS_DIR}/redis_admin_password",
    ]
    lines += [
        f"      {redis_password_var(u)}__FILE: {SECRETS_DIR}/{redis_url_secret(s, u)}"
        for s in SERVICES
        for u in users_of(s)
    ]
    lines += ["    secrets:", *[f"      - {name}" for name in redis_secrets]]
    lines += [
        "    volumes:",
        "      - ./deploy/compose/redis/redis-entrypoint.sh:/bizosaas/redis-entrypoint.sh:ro",
        "      - ./deploy/compose/redis/users.acl.template:/bizosaas/users.acl.template:ro",
        "      - redis-data:/data",
        "    networks:",
        "      - data",
        "    healthcheck:",
        '      test: ["CMD-SHELL", "redis-cli --no-auth-warning --user admin --pass \\"$$(cat /run/secrets/redis_admin_password)\\" ping | grep -q PONG"]',
        "      interval: 10s",
        "      timeout: 3s",
        "      retries: 5",
        "    deploy:",
        "      resources:",
        "        limits:",
        '          cpus: "1.0"',
        "          memory: 1G",
        "    logging: *logging",
        "    restart: unless-stopped",
        "",
        "  migrate:",
        "    # The one migrate step: the owner URL goes to it alone (and each role's URL for its password).",
        "    image: ${BIZOSAAS_REGISTRY:-bizosaas}/migrate:${BIZOSAAS_VERSION:-latest}",
        "    build:",
        "      context: .",
        "      target: migrate",
        "    environment:",
        f"      DATABASE_URL__FILE: {SECRETS_DIR}/database_url",
    ]
    lines += [
        f"      {s.database_url_env}__FILE: {SECRETS_DIR}/{s.database_url_env.lower()}" for s in WITH_DATABASE
    ]
    lines += [
        "    secrets:",
        "      - database_url",
        *[f"      - {s.database_url_env.lower()}" for s in WITH_DATABASE],
    ]
    lines += ["    networks:", "      - data"]
    lines += depends({"postgres": "service_healthy"}, i)
    lines += ["    logging: *logging", '    restart: "no"', ""]
    for spec in SERVICES:
        replicas, cpus, memory = PROD_SIZING.get(spec.name, DEFAULT_SIZING)
        networks = ["edge", "backend", "data"] if spec.name == "api_gateway" else ["backend", "data"]
        lines += [
            f"  {host(spec.name)}:",
            f"    # {spec.name} on :{spec.port}"
            + (", the only service Traefik routes to" if spec.name == "api_gateway" else ", internal only"),
            f"    image: ${{BIZOSAAS_REGISTRY:-bizosaas}}/{host(spec.name)}:${{BIZOSAAS_VERSION:-latest}}",
            "    build:",
            "      context: .",
            f"      target: {host(spec.name)}",
            f"    command: {flow(uvicorn(spec, 'prod'))}",
            f'    expose: ["{spec.port}"]',
        ]
        lines += env_lines(environment(spec, "prod"), i, ENVIRONMENT="production")
        secret_names_ = service_secrets(spec, "prod")
        if secret_names_:
            lines += ["    secrets:", *[f"      - {name}" for name in secret_names_]]
        lines.append("    networks:")
        for network in networks:
            if network == "backend" and host(spec.name) != spec.name:
                # Also reachable by its fleet name (what deploy/monitoring/prometheus scrapes).
                lines += ["      backend:", "        aliases:", f"          - {spec.name}"]
            else:
                lines.append(f"      {network}: {{}}")
        lines += depends({"migrate": "service_completed_successfully", "redis": "service_healthy"}, i)
        lines += healthcheck(spec.port, i)
        lines += [
            "    deploy:",
            f"      replicas: {replicas}",
            "      resources:",
            "        limits:",
            f'          cpus: "{cpus}"',
            f"          memory: {memory}",
            "    read_only: true",
            "    tmpfs:",
            "      - /tmp",
        ]
        if spec.name == "ai_agents":
            lines.append("      - /home/app  # CrewAI keeps its working files under $HOME")
        lines += ["    stop_grace_period: 30s", "    logging: *logging", "    restart: unless-stopped", ""]
    return lines[:-1]


def tuning_block(mode: str) -> list[str]:
    lines = [
        "x-service-tuning: &service-tuning",
        "  # Settings every service reads, passed from .env when set; empty means the code's default",
        "  # (the images' entrypoint drops empty settings). Merged into each service's environment.",
    ]
    lines += [f"  {name}: {scalar(f'${{{name}:-}}')}" for name in shared_tuning()]
    return lines


def prod_secrets_block() -> list[str]:
    lines = [
        "secrets:",
        "  # Files under ./secrets (git-ignored, folder 0700, files 0444): never values in this file.",
        "  # `.venv/bin/python deploy/generate_compose.py secrets` creates the missing ones.",
    ]
    for secret in prod_secrets():
        lines += [f"  {secret.name}:  # {secret.note}", f"    file: ./secrets/{secret.name}"]
    return lines


def dockerfile_block() -> list[str]:
    lines: list[str] = []
    for spec in SERVICES:
        base = "runtime-ai-agents" if spec.name == "ai_agents" else "runtime"
        lines += [
            f"# {spec.name}: port {spec.port}" + (", with CrewAI" if spec.name == "ai_agents" else ""),
            f"FROM {base} AS {host(spec.name)}",
        ]
        packages = SYSTEM_PACKAGES.get(spec.name)
        if packages:
            lines += [
                "RUN apt-get update \\",
                f"    && apt-get install -y --no-install-recommends {' '.join(packages)} \\",
                "    && rm -rf /var/lib/apt/lists/*",
            ]
        command = ["uvicorn", spec.app_path, "--host", "0.0.0.0", "--port", str(spec.port)]
        command += ["--no-access-log", "--no-proxy-headers", "--timeout-graceful-shutdown", "20"]
        lines += [
            f"ENV SERVICE={spec.name} PORT={spec.port}",
            f"COPY services/{spec.name} services/{spec.name}",
            "USER app",
            f"EXPOSE {spec.port}",
            f"CMD {flow(command)}",
            "",
        ]
    return lines[:-1]


def acl_template() -> str:
    lines = [
        "# Generated by deploy/generate_compose.py from shared/redis_acl.py: do not edit.",
        "# redis-entrypoint.sh replaces each >{{NAME}} with #<SHA-256 of the password> (read from NAME, or",
        "# from the file NAME__FILE names) and drops these comment lines; Redis loads it with --aclfile.",
        "user default off",
        "user admin on >{{REDIS_ADMIN_PASSWORD}} ~* &* +@all",
    ]
    for spec in SERVICES:
        for user in users_of(spec):
            command = setuser_command(user, "{{" + redis_password_var(user) + "}}")
            lines.append("user " + " ".join(command[2:]))
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------------------------
# Writing
# --------------------------------------------------------------------------------------------

BEGIN = "# >>> generated by deploy/generate_compose.py: {name} (edit the generator, not this block)"
END = "# <<< generated: {name}"


def replace_block(text: str, name: str, body: list[str]) -> str:
    begin, end = BEGIN.format(name=name), END.format(name=name)
    pattern = re.compile(rf"^([ \t]*){re.escape(begin)}\n.*?^[ \t]*{re.escape(end)}$", re.M | re.S)
    match = pattern.search(text)
    if not match:
        raise SystemExit(f"generate_compose: no `{begin}` ... `{end}` markers")
    indent = match.group(1)
    new = "\n".join([indent + begin, *body, indent + end])
    return text[: match.start()] + new + text[match.end() :]


def expected_files() -> dict[Path, str]:
    files = requirement_files()
    files[REPO_ROOT / "deploy" / "compose" / "redis" / "users.acl.template"] = acl_template()
    blocks = {
        REPO_ROOT / "Dockerfile": {"service targets": dockerfile_block()},
        REPO_ROOT / "docker-compose.dev.yml": {
            "shared settings": tuning_block("dev"),
            "the fleet": dev_fleet_block(),
        },
        REPO_ROOT / "docker-compose.prod.yml": {
            "shared settings": tuning_block("prod"),
            "the fleet": prod_fleet_block(),
            "secrets": prod_secrets_block(),
        },
    }
    for path, parts in blocks.items():
        text = path.read_text()
        for name, body in parts.items():
            text = replace_block(text, name, body)
        files[path] = text
    return files


def stale_files() -> list[Path]:
    return [path for path, text in expected_files().items() if not path.exists() or path.read_text() != text]


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="deploy/generate_compose.py", description=__doc__.split("\n")[0])
    parser.add_argument("--check", action="store_true", help="exit 1 when a generated part is stale")
    sub = parser.add_subparsers(dest="command")
    dev = sub.add_parser("dev-env", help="write <devdata>/compose/dev.env and the dev signing key")
    dev.add_argument(
        "--devdata", type=Path, default=Path(os.environ.get("BIZOSAAS_DEVDATA") or REPO_ROOT / ".devdata")
    )
    prod = sub.add_parser("secrets", help="create the missing secret files of docker-compose.prod.yml")
    prod.add_argument("directory", nargs="?", type=Path, default=REPO_ROOT / "secrets")
    args = parser.parse_args(argv)
    if args.command == "dev-env":
        print(f"generate_compose: Docker mode's settings are in {write_dev_env(args.devdata)}")
        return 0
    if args.command == "secrets":
        done = write_prod_secrets(args.directory)
        print("\n".join(done) if done else f"every secret is already in {args.directory}")
        return 0
    if args.check:
        stale = stale_files()
        for path in stale:
            print(f"stale: {path.relative_to(REPO_ROOT)} (run .venv/bin/python deploy/generate_compose.py)")
        return 1 if stale else 0
    for path, text in expected_files().items():
        if not path.exists() or path.read_text() != text:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
            print(f"wrote {path.relative_to(REPO_ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
