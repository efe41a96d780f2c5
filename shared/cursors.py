"""Opaque keyset cursors: the values of the last row of a page, as URL-safe base64 JSON.

Clients pass them back untouched; a cursor that does not decode to the expected shape is a 400
(`invalid-cursor`), never a 500. Each value is read back with the type the caller names.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Sequence
from typing import Any

from shared import errors


def encode(values: Sequence[Any]) -> str:
    raw = json.dumps([str(v) if not isinstance(v, int | float | str | None) else v for v in values])
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode(cursor: str, readers: Sequence[Callable[[Any], Any]]) -> tuple[Any, ...]:
    """The values, each passed through its reader (e.g. `uuid.UUID`, `date.fromisoformat`)."""
    try:
        values = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        if not isinstance(values, list) or len(values) != len(readers):
            raise ValueError("wrong shape")
        return tuple(read(value) for read, value in zip(readers, values, strict=True))
    except (ValueError, TypeError, binascii.Error, UnicodeDecodeError):
        raise errors.BadReference("invalid cursor", code="invalid-cursor") from None
