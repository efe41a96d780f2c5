"""The dev launcher's supervision: a service that keeps dying is given up on and reported with
its log tail, while the others keep running."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

from devstack.embedded import free_port
from devstack.fleet import MAX_RESTARTS_IN_WINDOW, Fleet
from devstack.stackenv import write_env_file
from shared.fleet import ServiceSpec
from tests.support.kit import eventually


@dataclass(frozen=True)
class ProbeSpec(ServiceSpec):
    """A stand-in service whose app module we choose."""

    module: str = ""

    @property
    def app_path(self) -> str:
        return f"{self.module}:app"


def test_a_service_that_keeps_dying_is_given_up_on_and_the_others_keep_running(tmp_path: Path) -> None:
    broken = ProbeSpec("broken", 0, module="tests.support.no_such_module")
    steady = ProbeSpec("steady", 0, module="tests.support.tiny_app")
    ports = {"broken": free_port(), "steady": free_port()}
    fleet = Fleet(envs={}, ports=ports, log_dir=tmp_path, services=(broken, steady))
    fleet.start()
    try:
        news: list[str] = []
        now = 0.0
        steady_pid = fleet.processes[1].process.pid  # type: ignore[union-attr]

        def gave_up() -> bool:
            nonlocal now
            now += 60.0 / (MAX_RESTARTS_IN_WINDOW + 2)  # backoff elapses, still inside the window
            news.extend(fleet.supervise(now))
            return fleet.processes[0].given_up

        eventually(gave_up, timeout=60, interval=0.2)
        restarts = [line for line in news if line.startswith("broken restarted")]
        assert len(restarts) == MAX_RESTARTS_IN_WINDOW
        (report,) = [line for line in news if "keeps dying" in line]
        assert "not restarting it" in report and "no_such_module" in report  # the log tail is in it
        assert fleet.processes[1].running and fleet.processes[1].process.pid == steady_pid  # type: ignore[union-attr]
        assert fleet.supervise(now + 1000) == []  # given up for good: no more restarts
    finally:
        fleet.stop(timeout=5)


def test_stack_env_is_safe_to_source_in_a_shell(tmp_path: Path) -> None:
    import subprocess

    values = {
        "PLAN_RATE_LIMITS": '{"basic": "1000/3600", "pro": "10000/3600"}',
        "CORS_ORIGINS": '["https://app.example", "https://x.example"]',
        "TRICKY": "it's $HOME `date` \\n; echo owned",
    }
    path = tmp_path / "stack.env"
    write_env_file(path, values)
    script = f"set -a; source {path}; " + "; ".join(f'printf "%s\\0" "${name}"' for name in values)
    out = subprocess.run(["bash", "-c", script], capture_output=True, check=True, env={}).stdout.decode()
    assert out.split("\0")[:-1] == list(values.values())
    assert sys.executable  # the test ran under the project's interpreter
