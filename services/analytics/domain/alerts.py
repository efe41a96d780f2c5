"""When a KPI breaches a rule: thresholds (CPA above X, pacing above 110 %) and anomalies (the
latest day against the mean and deviation of the 14 days before it). A breach is reported once:
when a rule goes from fine to breached, not on every ingest while it stays breached."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

OPERATORS = ("above", "below")
ANOMALY_HISTORY_DAYS = 14


def breaches(value: float | None, operator: str, threshold: float) -> bool:
    if value is None:
        return False
    return value > threshold if operator == "above" else value < threshold


@dataclass(frozen=True)
class Anomaly:
    value: float
    mean: float
    deviation: float
    score: float  # how many deviations away


def anomaly(value: float | None, history: Sequence[float | None], sigmas: float) -> Anomaly | None:
    """The latest value against its history (older first), or None when it is ordinary. Needs a
    full history (at least 7 known values) and a history that varies: a flat line has no spread
    to measure surprise by."""
    known = [v for v in history if v is not None]
    if value is None or len(known) < 7:
        return None
    mean = sum(known) / len(known)
    deviation = math.sqrt(sum((v - mean) ** 2 for v in known) / (len(known) - 1))
    if deviation == 0:
        return None
    score = (value - mean) / deviation
    return Anomaly(value, mean, deviation, round(score, 3)) if abs(score) > sigmas else None


def should_fire(was_breached: bool, now_breached: bool) -> bool:
    """Once per breach: only the move from fine to breached is news."""
    return now_breached and not was_breached
