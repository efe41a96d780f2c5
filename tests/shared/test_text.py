"""The request types of shared.text refuse what would later fail as a 500."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from pydantic import TypeAdapter, ValidationError

from shared.text import IsoDay, IsoInstant, StorableRequest, trimmed

INSTANT = TypeAdapter(IsoInstant)
DAY = TypeAdapter(IsoDay)


def test_an_iso_instant_with_an_offset_is_read_as_that_instant() -> None:
    assert INSTANT.validate_python("2026-11-26T10:00:00+01:00") == datetime(2026, 11, 26, 9, tzinfo=UTC)


@pytest.mark.parametrize(
    "value",
    [
        "0001-01-01T00:00:03.0+01:00",
        "9999-12-31T23:59:00-01:00",
        "0001-01-01T00:00:00Z",  # the driver would store -infinity
        "9999-12-31T23:59:59.999999Z",
    ],
)
def test_an_instant_outside_the_utc_calendar_is_refused(value: str) -> None:
    with pytest.raises(ValidationError, match="between years 1 and 9999"):
        INSTANT.validate_python(value)


@pytest.mark.parametrize("value", [0, 1700000000, "1700000000", "tomorrow"])
def test_an_instant_must_be_iso_text(value: object) -> None:
    with pytest.raises(ValidationError, match="ISO 8601"):
        INSTANT.validate_python(value)


def test_a_day_must_be_written_yyyy_mm_dd() -> None:
    assert DAY.validate_python("2026-02-28") == date(2026, 2, 28)
    with pytest.raises(ValidationError, match="YYYY-MM-DD"):
        DAY.validate_python("20260228")


def test_a_trimmed_text_is_measured_before_its_blanks_go() -> None:
    name = TypeAdapter(trimmed(5))
    assert name.validate_python(" abc ") == "abc"
    with pytest.raises(ValidationError):
        name.validate_python("\tabcde")
    with pytest.raises(ValidationError, match="blank"):
        name.validate_python("   ")


class Budget(StorableRequest):
    amount: int
    ratio: float | None = None
    flag: bool = False
    tags: list[str] = []


def test_a_boolean_is_not_a_number_in_a_request() -> None:
    assert Budget.model_validate({"amount": 5, "ratio": 1, "flag": True}).ratio == 1.0
    with pytest.raises(ValidationError, match="amount must be a number"):
        Budget.model_validate({"amount": True})
    with pytest.raises(ValidationError, match="ratio must be a number"):
        Budget.model_validate({"amount": 1, "ratio": False})


def test_numbers_and_booleans_keep_their_json_types() -> None:
    with pytest.raises(ValidationError, match="amount must be a number"):
        Budget.model_validate({"amount": "5"})
    with pytest.raises(ValidationError, match="flag must be a boolean"):
        Budget.model_validate({"amount": 5, "flag": 1})
    with pytest.raises(ValidationError, match="flag must be a boolean"):
        Budget.model_validate({"amount": 5, "flag": "yes"})
    assert Budget.model_validate({"amount": 5, "ratio": None, "tags": ["a"]}).ratio is None


def test_whole_numbers_beyond_64_bits_are_refused_at_any_depth() -> None:
    assert Budget.model_validate({"amount": 2**63 - 1}).amount == 2**63 - 1
    with pytest.raises(ValidationError, match="64 bits"):
        Budget.model_validate({"amount": 2**63})
    with pytest.raises(ValidationError, match="64 bits"):
        Budget.model_validate({"amount": 1, "tags": [], "nested": {"n": -(2**64)}})
