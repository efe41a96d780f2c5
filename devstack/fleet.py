"""Starting, watching and stopping the seven services as real uvicorn processes."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from shared.fleet import REPO_ROOT, SERVICES, ServiceSpec


@dataclass
class ServiceProcess:
    spec: ServiceSpec
    port: int
    log_path: Path
    process: subprocess.Popen[bytes]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def log_tail(self, chars: int = 3000) -> str:
        return self.log_path.read_text(errors="replace")[-chars:] if self.log_path.exists() else ""


@dataclass
class Fleet:
    env: dict[str, str]
    ports: dict[str, int]
    log_dir: Path
    services: tuple[ServiceSpec, ...] = SERVICES
    processes: list[ServiceProcess] = field(default_factory=list)

    def start(self) -> None:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, **self.env, "PYTHONUNBUFFERED": "1"}
        for spec in self.services:
            port = self.ports[spec.name]
            log_path = self.log_dir / f"{spec.name}.log"
            with log_path.open("ab") as log:
                process = subprocess.Popen(
                    [
                        sys.executable,
                        "-m",
                        "uvicorn",
                        spec.app_path,
                        "--host",
                        "127.0.0.1",
                        "--port",
                        str(port),
                        "--no-access-log",
                        # Each service decides itself whom to trust with X-Forwarded-For (the
                        # gateway's GATEWAY_TRUSTED_PROXIES, user_management's TRUSTED_PROXIES);
                        # uvicorn's default would let any local client rewrite its address.
                        "--no-proxy-headers",
                        "--timeout-graceful-shutdown",
                        "5",
                    ],
                    cwd=REPO_ROOT,
                    env=env,
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            self.processes.append(ServiceProcess(spec, port, log_path, process))

    def wait_ready(self, timeout: float = 60.0) -> dict[str, float]:
        """Seconds until each service's `/ready` answered 200; raises if one dies or times out."""
        started = time.monotonic()
        ready_after: dict[str, float] = {}
        with httpx.Client(timeout=2.0) as http:
            while len(ready_after) < len(self.processes):
                for proc in self.processes:
                    name = proc.spec.name
                    if name in ready_after:
                        continue
                    if proc.process.poll() is not None:
                        raise RuntimeError(
                            f"{name} exited with {proc.process.returncode}:\n{proc.log_tail()}"
                        )
                    try:
                        if http.get(f"{proc.url}/ready").status_code == 200:
                            ready_after[name] = time.monotonic() - started
                    except httpx.HTTPError:
                        pass
                if time.monotonic() - started > timeout:
                    waiting = [p.spec.name for p in self.processes if p.spec.name not in ready_after]
                    raise TimeoutError(f"not ready after {timeout:.0f}s: {', '.join(waiting)}")
                time.sleep(0.1)
        return ready_after

    def exited(self) -> list[ServiceProcess]:
        return [p for p in self.processes if p.process.poll() is not None]

    def stop(self, timeout: float = 15.0) -> None:
        """SIGTERM every process group, then SIGKILL what is left after `timeout`."""
        for proc in self.processes:
            if proc.process.poll() is None:
                _signal_group(proc.process, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        for proc in self.processes:
            try:
                proc.process.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                _signal_group(proc.process, signal.SIGKILL)
                proc.process.wait(5)
        self.processes.clear()


def _signal_group(process: subprocess.Popen[bytes], sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, sig)
