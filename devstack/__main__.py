"""`python -m devstack up`: what `./start-dev.sh` runs (DESIGN §9).

Takes PostgreSQL and Redis from DATABASE_URL / REDIS_URL when set, else starts embedded ones with
their data in `.devdata/`; writes `.devdata/stack.env`; makes a dev signing key once; migrates;
starts the provider fakes (devstack/providers.py) and the seven services; waits for every `/ready`; prints their URLs; and on Ctrl-C or SIGTERM
stops everything it started.
"""

from __future__ import annotations

import argparse
import asyncio
import fcntl
import os
import signal
import sys
import time
from pathlib import Path
from types import FrameType

from devstack.embedded import EmbeddedPostgres, EmbeddedRedis
from devstack.fleet import Fleet
from devstack.providers import RunningFakes, give_to_services, wanted
from devstack.stackenv import (
    WEBHOOK_SECRETS,
    StackAddresses,
    apply_redis_users,
    ensure_signing_key,
    fleet_environments,
    load_or_create_secrets,
    stack_environment,
    write_env_file,
)
from shared.fleet import REPO_ROOT, SERVICES, WITH_DATABASE
from shared.migrations import migrate

DEVDATA = Path(os.environ.get("BIZOSAAS_DEVDATA") or REPO_ROOT / ".devdata")


class Stopped(Exception):
    pass


def _raise_stopped(signum: int, _frame: FrameType | None) -> None:
    raise Stopped(signal.Signals(signum).name)


def _take_lock(path: Path):  # type: ignore[no-untyped-def]
    path.parent.mkdir(parents=True, exist_ok=True)
    handle = path.open("a+")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.seek(0)
        owner = handle.read().strip() or "?"
        print(
            f"The BizOSaaS dev stack is already running (pid {owner}); stop it first (Ctrl-C or kill {owner})."
        )
        raise SystemExit(1) from None
    handle.seek(0)
    handle.truncate()
    handle.write(str(os.getpid()))
    handle.flush()
    return handle


def _print_table(fleet: Fleet, ready_after: dict[str, float], total: float, env: dict[str, str]) -> None:
    print(f"\nBizOSaaS is up in {total:.1f}s (stack settings in {DEVDATA / 'stack.env'}):\n")
    print(f"  {'service':<22}{'url':<28}{'docs':<36}ready after")
    for proc in fleet.processes:
        print(
            f"  {proc.spec.name:<22}{proc.url:<28}{proc.url + '/docs':<36}{ready_after[proc.spec.name]:.1f}s"
        )
    print(
        f"\n  PostgreSQL  {env['DATABASE_URL'].split('@')[-1]}\n  Redis       {env['REDIS_URL'].split('@')[-1]}"
    )
    print(f"  logs        {DEVDATA / 'logs'}\n\nPress Ctrl-C to stop everything.", flush=True)


def _servers(secrets: dict[str, str]) -> tuple[str, str, EmbeddedPostgres | None, EmbeddedRedis | None]:
    """PostgreSQL and Redis from DATABASE_URL / REDIS_URL, or embedded ones in .devdata/."""
    postgres = redis = None
    owner_url = os.environ.get("DATABASE_URL")
    if not owner_url:
        port = int(os.environ.get("DEV_POSTGRES_PORT") or 55432)
        postgres = EmbeddedPostgres(DEVDATA / "postgres", port, secrets["postgres"])
        owner_url = postgres.start()
    redis_url = os.environ.get("REDIS_URL")
    if not redis_url:
        port = int(os.environ.get("DEV_REDIS_PORT") or 56379)
        redis = EmbeddedRedis(DEVDATA / "redis", port, password=secrets["redis_admin"])
        redis_url = redis.start()
    return owner_url, redis_url, postgres, redis


def _supervise(fleet: Fleet) -> None:
    """Runs until a signal: restarts what dies, reports what keeps dying."""
    while True:
        for line in fleet.supervise():
            print(line, flush=True)
        time.sleep(0.5)


def up() -> int:
    lock = _take_lock(DEVDATA / "devstack.pid")
    signal.signal(signal.SIGTERM, _raise_stopped)
    signal.signal(signal.SIGINT, _raise_stopped)
    started = time.monotonic()
    secrets = load_or_create_secrets(DEVDATA / "secrets.json")
    postgres = redis = None
    fleet: Fleet | None = None
    fakes: RunningFakes | None = None
    try:
        owner_url, redis_url, postgres, redis = _servers(secrets)
        key_file = Path(
            os.environ.get("JWT_PRIVATE_KEY_FILE") or ensure_signing_key(DEVDATA / "keys" / "jwt-signing.pem")
        )
        offset = int(os.environ.get("DEV_PORT_OFFSET") or 0)
        ports = {spec.name: spec.port + offset for spec in SERVICES}
        acl = apply_redis_users(redis_url, secrets)
        if not acl:
            print(
                "start-dev: this Redis refused ACL SETUSER; every service shares REDIS_URL (no per-service users)."
            )
        stack = StackAddresses(owner_url, redis_url, ports, redis_acl=acl)
        asyncio.run(migrate(owner_url, {s.name: secrets[s.name] for s in WITH_DATABASE}))
        envs = fleet_environments(stack, secrets, signing_key=key_file)
        fakes = RunningFakes(wanted(os.environ), offset, DEVDATA / "logs")
        give_to_services(envs, fakes.start())
        signing = {k: envs["integration"][k] for k in WEBHOOK_SECRETS if k in envs["integration"]}
        env = stack_environment(stack, {"GATEWAY_OPERATOR_TOKEN": secrets["gateway_operator"], **signing})
        write_env_file(DEVDATA / "stack.env", env)
        fleet = Fleet(
            envs=envs,
            ports=ports,
            log_dir=DEVDATA / "logs",
        )
        fleet.start()
        ready_after = fleet.wait_ready(timeout=float(os.environ.get("DEV_READY_TIMEOUT") or 90))
        _print_table(fleet, ready_after, time.monotonic() - started, env)
        _supervise(fleet)
        return 0
    except Stopped as stop:
        print(f"\nReceived {stop}; stopping the stack...", flush=True)
        return 0
    except Exception as error:
        print(f"start-dev: {error}", file=sys.stderr)
        return 1
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        if fleet is not None:
            fleet.stop()
        if fakes is not None:
            fakes.stop()
        if redis is not None:
            redis.stop()
        if postgres is not None:
            postgres.stop()
        lock.close()
        print("Stopped.", flush=True)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m devstack")
    parser.add_argument("command", nargs="?", default="up", choices=["up"])
    parser.parse_args(argv)  # only `up`; --help explains it
    return up()


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
