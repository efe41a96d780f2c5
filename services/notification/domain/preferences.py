"""Who hears about what, on which channel, and when.

A category (security, campaign, kpi_alert...) has default channels; a tenant can switch channels per
category for everyone and a user for themselves (the user wins). Critical categories (security,
billing) cannot be silenced: their default channels are always used. Quiet hours hold non-critical
messages until the window ends in the user's own time zone, and digestible categories are batched
into fixed windows.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

from shared.clock import time_zone

CHANNELS = ("email", "sms", "push", "in_app")
ALWAYS_REACHABLE = frozenset({"in_app"})
"""Every user has an inbox; the other channels need an address, a phone or a push subscription."""


@dataclass(frozen=True)
class Category:
    """What kind of news a message is, which decides its default channels and whether it may be
    silenced (`critical`) or batched (`digestible`)."""

    name: str
    critical: bool = False
    digestible: bool = False
    default_channels: tuple[str, ...] = ("email", "in_app")

    def __post_init__(self) -> None:
        unknown = set(self.default_channels) - set(CHANNELS)
        if unknown:
            raise ValueError(f"unknown channels {sorted(unknown)} in category {self.name!r}")


def _categories(*categories: Category) -> dict[str, Category]:
    return {item.name: item for item in categories}


CATEGORIES: dict[str, Category] = _categories(
    Category("security", critical=True),
    Category("account"),  # welcome, invitations
    Category("campaign"),
    Category("execution"),
    Category("kpi_alert", digestible=True),
    Category("report"),
    Category("integration"),
    Category("billing", critical=True),
    Category("ai", digestible=True, default_channels=("in_app",)),
    Category("marketing", digestible=True, default_channels=("email",)),
)


def category(name: str) -> Category:
    """The built-in category, or an ordinary one for a name a tenant made up (never critical: only the
    platform decides what cannot be switched off)."""
    return CATEGORIES.get(name) or Category(name=name)


def _enabled(channel: str, kind: Category, user: Mapping[str, bool], tenant: Mapping[str, bool]) -> bool:
    if channel in user:
        return bool(user[channel])
    if channel in tenant:
        return bool(tenant[channel])
    return channel in kind.default_channels


def choose_channels(
    category: Category,
    requested: Sequence[str] | None,
    user: Mapping[str, bool],
    tenant: Mapping[str, bool],
    reachable: set[str],
) -> list[str]:
    """The channels to send on, in CHANNELS order.

    `user` and `tenant` switch channels on or off for this category (user over tenant over the
    category's defaults), but a critical category keeps its default channels whatever they say.
    `requested` (the sender's explicit channels; None for "no preference") narrows the result, so an
    empty list sends nothing. Last, a channel the user cannot be reached on is dropped (`in_app` is
    always reachable, the caller need not list it).
    """
    chosen = {channel for channel in CHANNELS if _enabled(channel, category, user, tenant)}
    if category.critical:
        chosen |= set(category.default_channels)
    if requested is not None:
        chosen &= set(requested)
    chosen &= set(reachable) | ALWAYS_REACHABLE
    return [channel for channel in CHANNELS if channel in chosen]


@dataclass(frozen=True)
class QuietHours:
    """A daily window of local wall-clock time, start included and end excluded; it may cross midnight
    (22:00-07:00). start == end means no quiet hours at all (not 24 hours of silence)."""

    start: time
    end: time
    timezone: str

    def __post_init__(self) -> None:
        if self.start.tzinfo is not None or self.end.tzinfo is not None:
            raise ValueError("quiet hours are wall-clock times: give them without a time zone")
        time_zone(self.timezone)

    @property
    def zone(self) -> ZoneInfo:
        return time_zone(self.timezone)

    @property
    def active(self) -> bool:
        return self.start != self.end

    def covers(self, wall: time) -> bool:
        """Whether a local wall-clock time falls inside the window."""
        if not self.active:
            return False
        if self.start < self.end:
            return self.start <= wall < self.end
        return wall >= self.start or wall < self.end


def _require_aware(now: datetime) -> None:
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("now must be an aware datetime (UTC)")


def _wall(instant: datetime, tz: ZoneInfo) -> datetime:
    return instant.astimezone(tz).replace(tzinfo=None, fold=0)


def _after_gap(low: datetime, high: datetime, tz: ZoneInfo) -> datetime:
    """The instant the clocks jumped, between `low` (before it) and `high` (after it), by bisection on
    whole seconds (zone transitions fall on whole seconds)."""
    later = high.astimezone(tz).utcoffset()
    first, last = int(low.timestamp()), int(high.timestamp())
    while last - first > 1:
        middle = (first + last) // 2
        if datetime.fromtimestamp(middle, tz).utcoffset() == later:
            last = middle
        else:
            first = middle
    return datetime.fromtimestamp(last, UTC)


def _resolve(wall: datetime, tz: ZoneInfo, not_before: datetime) -> datetime:
    """The UTC instant of a local wall time. A repeated wall time (clocks going back) is its first
    occurrence not before `not_before`; a skipped one (clocks going forward) becomes the first valid
    local time after it, i.e. the moment of the jump."""
    first = wall.replace(tzinfo=tz, fold=0).astimezone(UTC)
    second = wall.replace(tzinfo=tz, fold=1).astimezone(UTC)
    if _wall(first, tz) != wall:  # in a gap: fold=1 lands before the jump, fold=0 after it
        return _after_gap(min(first, second), max(first, second), tz)
    return first if first >= not_before else second


def _window_end(instant: datetime, quiet: QuietHours) -> datetime:
    """When the window that contains `instant` ends."""
    local = instant.astimezone(quiet.zone)
    day = local.date()
    if quiet.start > quiet.end and local.time() >= quiet.start:
        day += timedelta(days=1)
    return _resolve(datetime.combine(day, quiet.end), quiet.zone, instant)


def quiet_until(now: datetime, quiet: QuietHours | None, critical: bool) -> datetime | None:
    """The UTC instant a message held by quiet hours may go, or None to send it now (critical, no
    quiet hours, or outside the window in the user's local time)."""
    if critical or quiet is None or not quiet.active:
        return None
    _require_aware(now)
    instant = now
    for _ in range(3):  # a clock jump can land inside the next window (Samoa skipped a whole day)
        if not quiet.covers(instant.astimezone(quiet.zone).time()):
            break
        instant = _window_end(instant, quiet)
    return None if instant == now else instant.astimezone(UTC)


def digest_window_end(now: datetime, window_minutes: int) -> datetime:
    """The end of the fixed digest window containing `now`: windows are aligned on multiples of
    `window_minutes` from midnight UTC, so every message of a window lands in the same digest whatever
    time it arrived; the day's last window is cut at midnight when the length does not divide a day."""
    if window_minutes < 1:
        raise ValueError("a digest window lasts at least a minute")
    _require_aware(now)
    utc = now.astimezone(UTC)
    midnight = utc.replace(hour=0, minute=0, second=0, microsecond=0)
    window = timedelta(minutes=window_minutes)
    end = midnight + ((utc - midnight) // window + 1) * window
    return min(end, midnight + timedelta(days=1))
