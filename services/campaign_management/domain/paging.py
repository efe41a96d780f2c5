"""Keyset pagination: a page ends at a (sort value, id) pair; the next page starts after it.

Depth costs nothing (page 100 is as fast as page 1) and rows inserted meanwhile never shift a page.
The cursor is opaque to clients: base64 of JSON naming the sort, so a cursor from one sort cannot
be replayed on another.
"""

from __future__ import annotations

import base64
import binascii
import json
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from shared import errors

SORTS: dict[str, tuple[str, bool]] = {
    # name: (column, descending)
    "-created_at": ("created_at", True),
    "created_at": ("created_at", False),
    "name": ("name", False),
    "-name": ("name", True),
    "start_at": ("start_at", False),
    "-total_budget_minor": ("total_budget_minor", True),
}


_VALUE_CHECKS: dict[str, Any] = {
    "created_at": datetime.fromisoformat,
    "start_at": lambda v: v if v == "infinity" else datetime.fromisoformat(v),
    "name": str,
    "total_budget_minor": int,
}


@dataclass(frozen=True)
class Position:
    sort: str
    value: Any
    id: str


def encode(position: Position) -> str:
    raw = json.dumps([position.sort, position.value, position.id], default=str)
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode(cursor: str, sort: str) -> Position:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        cursor_sort, value, row_id = json.loads(raw)
        uuid.UUID(str(row_id))
    except (ValueError, binascii.Error, TypeError):
        raise errors.BadReference("invalid cursor", code="invalid-cursor") from None
    if cursor_sort != sort:
        raise errors.BadReference(
            f"this cursor belongs to sort {cursor_sort!r}, not {sort!r}", code="invalid-cursor"
        )
    try:
        _VALUE_CHECKS[SORTS[sort][0]](value)
    except (ValueError, TypeError):
        raise errors.BadReference("invalid cursor", code="invalid-cursor") from None
    return Position(sort, value, str(row_id))
