"""The AI task lifecycle as a pure state machine.

queued -> running -> succeeded | failed | cancelled; a queued task may be cancelled before it starts.
A worker holds a running task under a lease; when the lease lapses (the worker died or hung) the task
goes back to queued for another worker, and the run is counted: after `MAX_RUNS` starts that all
ended in a lapsed lease the task fails instead, so a task that kills its worker cannot loop forever.
Succeeded, failed and cancelled are final: a result, once reported, is never overwritten.
"""

from __future__ import annotations

from collections.abc import Sequence
from enum import StrEnum

from shared import errors

TASK_TYPES = ("digital_presence_audit", "seo_analysis", "content_generation", "campaign_optimization")

MAX_RUNS = 3
"""Starts allowed per task: the third lapsed lease fails it (a poison task, not bad luck)."""


class Status(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"


MOVES: dict[Status, tuple[Status, ...]] = {
    Status.QUEUED: (Status.RUNNING, Status.CANCELLED),
    # back to queued only when the lease lapsed; see `after_lapsed_lease`
    Status.RUNNING: (Status.SUCCEEDED, Status.FAILED, Status.CANCELLED, Status.QUEUED),
    Status.SUCCEEDED: (),
    Status.FAILED: (),
    Status.CANCELLED: (),
}

TERMINAL = frozenset(status for status, targets in MOVES.items() if not targets)


class IllegalMove(errors.Conflict):
    """A move the lifecycle forbids, naming where the task is and where it could go instead."""

    code = "illegal-transition"

    def __init__(self, current: str, to: str, allowed: Sequence[str]) -> None:
        self.current = current
        self.to = to
        self.allowed = tuple(allowed)
        super().__init__(
            f"cannot move a {current} task to {to}; allowed: {', '.join(self.allowed) or 'nothing'}",
            current_status=current,
            requested_status=to,
            allowed=list(self.allowed),
        )


class UnknownTaskType(errors.InvalidInput):
    code = "unknown-task-type"

    def __init__(self, task_type: str) -> None:
        super().__init__(
            f"unknown task type {task_type!r}; known: {', '.join(TASK_TYPES)}",
            task_type=task_type,
            allowed=list(TASK_TYPES),
        )


def check_type(task_type: str) -> str:
    """`task_type` when it is one of TASK_TYPES, else UnknownTaskType listing them."""
    if task_type not in TASK_TYPES:
        raise UnknownTaskType(task_type)
    return task_type


def allowed(current: str) -> tuple[str, ...]:
    """The statuses reachable from `current` in one move (none from a final or unknown status)."""
    try:
        return tuple(status.value for status in MOVES[Status(current)])
    except ValueError:
        return ()


def move(current: str, to: str) -> str:
    """The new status `to`, or IllegalMove when the lifecycle forbids it (or either status is unknown)."""
    targets = allowed(current)
    if to not in targets:
        raise IllegalMove(current, to, targets)
    return Status(to).value


def is_terminal(status: str) -> bool:
    """Final: the task's result (or failure, or cancellation) stands for good."""
    return status in TERMINAL


def after_lapsed_lease(runs: int) -> str:
    """Where a running task goes when its lease lapsed after `runs` starts (this one included):
    queued for another try while runs < MAX_RUNS, else failed."""
    if runs < 1:
        raise ValueError(f"a running task has been started at least once, not {runs} times")
    return Status.QUEUED.value if runs < MAX_RUNS else Status.FAILED.value
