"""The campaign lifecycle as a pure state machine.

draft -> scheduled -> active <-> paused -> completed -> archived; a draft may be archived, and a
completed campaign never runs again. `launch` goes to `scheduled` when the start lies ahead, else
straight to `active`; the scheduler moves `scheduled` to `active` at the start and `active` or
`paused` to `completed` at the end.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from shared import errors


class Status(StrEnum):
    DRAFT = "draft"
    SCHEDULED = "scheduled"
    ACTIVE = "active"
    PAUSED = "paused"
    COMPLETED = "completed"
    ARCHIVED = "archived"


class Action(StrEnum):
    LAUNCH = "launch"
    START = "start"  # the scheduler, at start_at
    PAUSE = "pause"
    RESUME = "resume"
    COMPLETE = "complete"
    ARCHIVE = "archive"


# (state, action) -> next state; launch is resolved by `next_status` (scheduled or active).
MOVES: dict[tuple[Status, Action], Status] = {
    (Status.DRAFT, Action.LAUNCH): Status.ACTIVE,
    (Status.DRAFT, Action.ARCHIVE): Status.ARCHIVED,
    (Status.SCHEDULED, Action.START): Status.ACTIVE,
    (Status.SCHEDULED, Action.PAUSE): Status.PAUSED,
    (Status.SCHEDULED, Action.ARCHIVE): Status.ARCHIVED,
    (Status.ACTIVE, Action.PAUSE): Status.PAUSED,
    (Status.ACTIVE, Action.COMPLETE): Status.COMPLETED,
    (Status.PAUSED, Action.RESUME): Status.ACTIVE,
    (Status.PAUSED, Action.COMPLETE): Status.COMPLETED,
    (Status.COMPLETED, Action.ARCHIVE): Status.ARCHIVED,
}

USER_ACTIONS = (Action.LAUNCH, Action.PAUSE, Action.RESUME, Action.COMPLETE, Action.ARCHIVE)


class IllegalTransition(errors.Conflict):
    code = "illegal-transition"

    def __init__(self, current: Status, action: Action) -> None:
        allowed = allowed_actions(current)
        super().__init__(
            f"cannot {action.value} a {current.value} campaign; allowed: {', '.join(allowed) or 'nothing'}",
            current_status=current.value,
            allowed_actions=allowed,
        )


def allowed_actions(current: Status) -> list[str]:
    """What a user may do from `current` (the scheduler's own move is not offered)."""
    return [action.value for action in USER_ACTIONS if (current, action) in MOVES]


def next_status(current: Status, action: Action, start_at: datetime | None, now: datetime) -> Status:
    """The state after `action`, or IllegalTransition naming the current state and the moves left."""
    target = MOVES.get((current, action))
    if target is None:
        raise IllegalTransition(current, action)
    if action is Action.LAUNCH and start_at is not None and start_at > now:
        return Status.SCHEDULED
    return target


def is_running(status: Status) -> bool:
    """Running on the ad platforms: what `campaign.launched` started and pause/complete stop."""
    return status is Status.ACTIVE
