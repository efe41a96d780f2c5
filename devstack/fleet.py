"""Starting, watching, restarting and stopping the services as real uvicorn processes.

A service that dies is restarted with backoff while the others keep running (as a compose restart
policy or Kubernetes would); one that keeps dying is given up on and reported with its log tail.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from devstack.stackenv import process_environment
from shared.fleet import REPO_ROOT, SERVICES, ServiceSpec

RESTART_WINDOW_SECONDS = 120.0
MAX_RESTARTS_IN_WINDOW = 5
MAX_BACKOFF_SECONDS = 30.0


@dataclass
class ServiceProcess:
    spec: ServiceSpec
    port: int
    log_path: Path
    env: dict[str, str]
    process: subprocess.Popen[bytes] | None = None
    deaths: list[float] = field(default_factory=list)
    restart_at: float | None = None
    given_up: bool = False

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def log_tail(self, chars: int = 3000) -> str:
        return self.log_path.read_text(errors="replace")[-chars:] if self.log_path.exists() else ""

    def spawn(self) -> None:
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "uvicorn",
                    self.spec.app_path,
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(self.port),
                    "--no-access-log",
                    # Each service decides itself whom to trust with X-Forwarded-For
                    # (TRUSTED_PROXIES); uvicorn's default would let any local client rewrite it.
                    "--no-proxy-headers",
                    "--timeout-graceful-shutdown",
                    "5",
                ],
                cwd=REPO_ROOT,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.restart_at = None


@dataclass
class Fleet:
    envs: Mapping[str, Mapping[str, str]]
    ports: Mapping[str, int]
    log_dir: Path
    services: tuple[ServiceSpec, ...] = SERVICES
    processes: list[ServiceProcess] = field(default_factory=list)

    def start(self) -> None:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        for spec in self.services:
            proc = ServiceProcess(
                spec,
                self.ports[spec.name],
                self.log_dir / f"{spec.name}.log",
                process_environment(spec.name, self.envs.get(spec.name, {})),
            )
            proc.spawn()
            self.processes.append(proc)

    def supervise(self, now: float | None = None) -> list[str]:
        """Restart what died (with backoff); give up on what keeps dying. Returns what happened."""
        now = time.monotonic() if now is None else now
        news: list[str] = []
        for proc in self.processes:
            if proc.given_up or proc.running:
                continue
            if proc.restart_at is None:
                news.append(self._schedule_restart(proc, now))
            elif now >= proc.restart_at:
                proc.spawn()
                news.append(f"{proc.spec.name} restarted (pid {proc.process.pid if proc.process else '?'})")
        return [line for line in news if line]

    def _schedule_restart(self, proc: ServiceProcess, now: float) -> str:
        code = proc.process.returncode if proc.process else None
        proc.deaths = [t for t in proc.deaths if now - t < RESTART_WINDOW_SECONDS] + [now]
        if len(proc.deaths) > MAX_RESTARTS_IN_WINDOW:
            proc.given_up = True
            return (
                f"{proc.spec.name} keeps dying ({len(proc.deaths)} exits in {RESTART_WINDOW_SECONDS:.0f}s, "
                f"last code {code}); not restarting it. The others keep running. Log tail:\n{proc.log_tail()}"
            )
        delay = min(MAX_BACKOFF_SECONDS, 0.5 * 2 ** (len(proc.deaths) - 1))
        proc.restart_at = now + delay
        return f"{proc.spec.name} exited with {code}; restarting in {delay:.1f}s"

    def wait_ready(self, timeout: float = 60.0, on_news=print) -> dict[str, float]:  # type: ignore[no-untyped-def]
        """Seconds until each service's `/ready` answered 200, restarting any that die meanwhile;
        raises if one is given up on or the time runs out."""
        started = time.monotonic()
        ready_after: dict[str, float] = {}
        with httpx.Client(timeout=2.0) as http:
            while len(ready_after) < len(self.processes):
                for line in self.supervise():
                    on_news(line)
                for proc in self.processes:
                    name = proc.spec.name
                    if proc.given_up:
                        raise RuntimeError(f"{name} keeps exiting:\n{proc.log_tail()}")
                    if name in ready_after or not proc.running:
                        continue
                    with contextlib.suppress(httpx.HTTPError):
                        if http.get(f"{proc.url}/ready").status_code == 200:
                            ready_after[name] = time.monotonic() - started
                if time.monotonic() - started > timeout:
                    waiting = [p.spec.name for p in self.processes if p.spec.name not in ready_after]
                    raise TimeoutError(f"not ready after {timeout:.0f}s: {', '.join(waiting)}")
                time.sleep(0.1)
        return ready_after

    def exited(self) -> list[ServiceProcess]:
        return [p for p in self.processes if not p.running]

    def stop(self, timeout: float = 15.0) -> None:
        """SIGTERM every process group, then SIGKILL what is left after `timeout`."""
        live = [p.process for p in self.processes if p.process is not None and p.process.poll() is None]
        for process in live:
            _signal_group(process, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        for process in live:
            try:
                process.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                _signal_group(process, signal.SIGKILL)
                process.wait(5)
        self.processes.clear()


def _signal_group(process: subprocess.Popen[bytes], sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, sig)
