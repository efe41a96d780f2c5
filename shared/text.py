"""Text and JSON we can store and answer again.

PostgreSQL refuses a NUL character in text and jsonb, an unpaired surrogate has no UTF-8 form,
jsonb refuses NaN and Infinity, bigint and the JSON encoder stop at 64-bit whole numbers, and very
deep nesting breaks the response serializer. Each of these reached the database as a 500 before;
request models check them at the door instead.
"""

from __future__ import annotations

import math
import re
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Annotated, Any, ClassVar, Literal, get_args, get_origin

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    StringConstraints,
    model_validator,
)

MAX_JSON_DEPTH = 32


def check_storable_text(value: str) -> str:
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("must be valid Unicode text (no unpaired surrogates)") from None
    return value


def check_storable_json(value: Any, depth: int = 0) -> Any:
    """Every string storable, every number finite and within 64 bits, nested at most
    MAX_JSON_DEPTH deep."""
    if depth > MAX_JSON_DEPTH:
        raise ValueError(f"must be nested at most {MAX_JSON_DEPTH} levels deep")
    if isinstance(value, dict):
        for key, item in value.items():
            check_storable_json(key, depth + 1)
            check_storable_json(item, depth + 1)
    elif isinstance(value, list | tuple):
        for item in value:
            check_storable_json(item, depth + 1)
    elif isinstance(value, str):
        check_storable_text(value)
    elif isinstance(value, float) and not math.isfinite(value):
        raise ValueError("numbers must be finite")
    elif isinstance(value, int) and not -(2**63) <= value < 2**63:
        raise ValueError("whole numbers must fit in 64 bits")
    return value


def refuse_bool(value: Any) -> Any:
    """For numbers pydantic reads leniently: `true` is not 1."""
    if isinstance(value, bool):
        raise ValueError("must be a number, not true or false")
    return value


_NUMBERS = {int, float, Decimal}


def _json_kind(annotation: Any) -> str | None:
    """ "number" for an int/float/Decimal field, "boolean" for a bool field (optional, annotated
    or a union of such), else None: the JSON type its value must have."""
    found: set[Any] = set()
    pending = [annotation]
    while pending:
        current = pending.pop()
        arguments = get_args(current)
        if get_origin(current) is Annotated:
            pending.append(arguments[0])
        elif arguments and get_origin(current) not in (list, dict, tuple, set, frozenset, Literal):
            pending.extend(arguments)
        else:
            found.add(get_origin(current) or current)
    found.discard(type(None))
    if found and found <= _NUMBERS:
        return "number"
    if found == {bool}:
        return "boolean"
    return None


def _has_kind(value: Any, kind: str) -> bool:
    if value is None:
        return True
    if kind == "number":
        return type(value) in (int, float)
    return type(value) is bool


class StorableRequest(BaseModel):
    """A request body whose every string (at any depth) can be stored, whose numbers and
    booleans have their JSON types (pydantic would read `true` as 1, and `1` or "yes" as true),
    and whose unknown fields are refused."""

    model_config = ConfigDict(extra="forbid")
    _json_kinds: ClassVar[dict[str, str]] = {}

    @classmethod
    def __pydantic_init_subclass__(cls, **kwargs: Any) -> None:
        super().__pydantic_init_subclass__(**kwargs)
        cls._json_kinds = {
            name: kind
            for name, field in cls.model_fields.items()
            if (kind := _json_kind(field.annotation)) is not None
        }

    @model_validator(mode="before")
    @classmethod
    def _storable(cls, data: Any) -> Any:
        check_storable_json(data)
        if isinstance(data, dict):
            for name, kind in cls._json_kinds.items():
                if not _has_kind(data.get(name), kind):
                    raise ValueError(f"{name} must be a {kind}")
        return data


_ISO_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def _iso_day(value: Any) -> Any:
    """Only `YYYY-MM-DD`: pydantic would also read `0` or `1700000000` as a Unix time's day."""
    if isinstance(value, date) and not isinstance(value, datetime):
        return value
    if isinstance(value, str) and _ISO_DAY.match(value):
        return value
    raise ValueError("must be a day written YYYY-MM-DD")


IsoDay = Annotated[date, BeforeValidator(_iso_day)]
"""A calendar day in requests (query, body): ISO 8601 only."""


def _iso_instant(value: Any) -> Any:
    """Only ISO 8601 text: pydantic would also read a bare number as a Unix time."""
    if isinstance(value, datetime) or (isinstance(value, str) and value[:4].isdigit() and "-" in value):
        return value
    raise ValueError("must be an ISO 8601 date-time, e.g. 2026-11-26T09:00:00Z")


def _in_utc_range(value: datetime) -> datetime:
    """An offset can push an instant past year 1 or 9999 in UTC, where Python and the driver
    fail, and the driver stores the very first and last instants as -infinity and infinity."""
    try:
        utc = value.astimezone(UTC).replace(tzinfo=None) if value.tzinfo else value
    except OverflowError:
        utc = datetime.min
    if utc in (datetime.min, datetime.max):
        raise ValueError("must lie between years 1 and 9999 in UTC, ends excluded")
    return value


IsoInstant = Annotated[datetime, BeforeValidator(_iso_instant), AfterValidator(_in_utc_range)]
"""An instant in requests: ISO 8601 only."""


def _stripped(value: str) -> str:
    stripped = value.strip()
    if not stripped:
        raise ValueError("must not be blank")
    return stripped


def trimmed(max_length: int) -> Any:
    """A required text whose surrounding blanks are dropped after its length is checked, so the
    limits the API document states hold for what the client sends."""
    return Annotated[str, StringConstraints(min_length=1, max_length=max_length), AfterValidator(_stripped)]
