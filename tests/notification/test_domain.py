"""The pure rules of notification, in microseconds: sandboxed templates and locale fallback, channel
choice and quiet hours across DST, the retry schedule and the delivery status machine."""

from __future__ import annotations

import random
import time as clock
from datetime import UTC, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.notification.domain import preferences, retry, templates
from services.notification.domain.preferences import Category, QuietHours, choose_channels, quiet_until
from services.notification.domain.retry import DeliveryError, DeliveryStatus, can_move
from services.notification.domain.templates import TemplateError, TemplateParts

PARIS = ZoneInfo("Europe/Paris")

# --- templates -----------------------------------------------------------------------------------


def test_an_undefined_variable_is_an_error_on_render() -> None:
    with pytest.raises(TemplateError) as caught:
        templates.render(TemplateParts(subject="Hi", html="<p>Hello {{ first_name }}</p>"), {})
    assert caught.value.part == "html"
    assert str(caught.value) == "html: 'first_name' is undefined"


def test_validate_lists_the_variables_and_with_a_sample_renders() -> None:
    parts = TemplateParts(
        subject="Hello {{ first_name }}",
        text="{% for i in range(3) %}{{ i }}{% endfor %} {{ user.email }} {{ loop_count | default(0) }}",
    )
    assert templates.validate(parts) == {"first_name", "user", "loop_count"}
    with pytest.raises(TemplateError, match=r"^subject: 'first_name' is undefined$"):
        templates.validate(parts, sample={"user": {"email": "a@b.c"}})
    assert templates.validate(parts, sample={"first_name": "Ada", "user": {"email": "a@b.c"}})


def test_defined_tests_and_default_filters_still_work_under_strict_undefined() -> None:
    parts = TemplateParts(
        text="{% if plan is defined %}{{ plan }}{% else %}none{% endif %} {{ x | default('-') }}"
    )
    assert templates.render(parts, {}).text == "none -"
    assert templates.render(parts, {"plan": "pro", "x": 1}).text == "pro 1"


@pytest.mark.parametrize(
    ("source", "data", "problem"),
    [
        ("{{ ''.__class__.__mro__ }}", {}, "access to attribute '__class__' of 'str' object is unsafe"),
        ("{{ cycler.__init__.__globals__ }}", {}, "__init__"),
        ("{{ lipsum.__globals__['os'] }}", {}, "__globals__"),
        ("{{ x.__subclasses__() }}", {"x": object}, "__subclasses__"),
        ("{{ ''.__class__.__mro__[1].__subclasses__() }}", {}, "__class__"),
        ("{{ self._TemplateReference__context }}", {}, "_TemplateReference__context"),
        ("{{ items.append(1) }}", {"items": []}, "append"),
        ("{{ d.update(a=1) }}", {"d": {}}, "update"),
        ("{{ '{0.__class__}'.format(x) }}", {"x": 1}, "__class__"),
    ],
)
def test_sandbox_escapes_are_refused(source: str, data: dict[str, Any], problem: str) -> None:
    with pytest.raises(TemplateError) as caught:
        templates.render(TemplateParts(text=source), data)
    assert caught.value.part == "text"
    assert problem in str(caught.value)
    with pytest.raises(TemplateError):
        templates.validate(TemplateParts(text=source), sample=data)


def test_only_the_html_part_autoescapes() -> None:
    data = {"name": "<script>alert(1)</script> & co"}
    rendered = templates.render(TemplateParts(text="Hi {{ name }}", html="<p>Hi {{ name }}</p>"), data)
    assert rendered.html == "<p>Hi &lt;script&gt;alert(1)&lt;/script&gt; &amp; co</p>"
    assert rendered.text == "Hi <script>alert(1)</script> & co"


def test_absent_parts_stay_absent_and_blocks_are_trimmed() -> None:
    parts = TemplateParts(subject="S", text="{% if true %}\n  line\n{% endif %}\n", html="")
    assert templates.render(parts, {}) == TemplateParts(subject="S", text="  line\n", html="")


@pytest.mark.parametrize(
    ("parts", "message"),
    [
        (TemplateParts(subject="Hello {{ name }"), "subject: unexpected '}' at line 1"),
        (TemplateParts(text="ok", html="<p>\n{% if x %}open"), "html: Unexpected end of template"),
        (TemplateParts(sms="{{ 1 +}}"), "sms: unexpected 'end of print statement' at line 1"),
    ],
)
def test_syntax_errors_name_the_part(parts: TemplateParts, message: str) -> None:
    with pytest.raises(TemplateError) as caught:
        templates.validate(parts)
    assert str(caught.value).startswith(message)
    assert caught.value.part == message.split(":")[0]


def test_runaway_output_and_oversized_arithmetic_are_cut_short() -> None:
    with pytest.raises(TemplateError, match="renders to more than 1000000 characters"):
        templates.render(TemplateParts(text="{% for i in range(100000) %}{{ 'x' * 20 }}{% endfor %}"), {})
    with pytest.raises(TemplateError, match="Range too big"):
        templates.render(TemplateParts(text="{% for i in range(10**6) %}{% endfor %}"), {})
    started = clock.monotonic()
    hostile = TemplateParts(subject="{{ 'a' * 10**9 }}", text="{{ 7 ** 100000000 }}")
    assert templates.validate(hostile) == frozenset()  # not folded at compile time
    with pytest.raises(TemplateError, match=r"^subject: repeating a sequence"):
        templates.render(hostile, {})
    with pytest.raises(TemplateError, match=r"^text: a power beyond"):
        templates.render(TemplateParts(text=hostile.text), {})
    assert clock.monotonic() - started < 5


def test_a_template_bug_is_a_template_error() -> None:
    with pytest.raises(TemplateError, match=r"^push_body: ZeroDivisionError"):
        templates.render(TemplateParts(push_body="{{ 1 / 0 }}"), {})
    with pytest.raises(TemplateError, match=r"^text: ValueError: Exceeds the limit"):  # folded on compile
        templates.validate(TemplateParts(text="{{ " + "9" * 5000 + " }}"))


def test_escape_plain_makes_a_safe_html_body() -> None:
    assert templates.escape_plain("a < b & c\r\nline 2\n") == "a &lt; b &amp; c<br>\nline 2<br>\n"


# --- locales -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("locale", "chain"),
    [
        ("fr-CA", ["fr-CA", "fr", "default"]),
        ("FR-ca", ["fr-CA", "fr", "default"]),
        ("fr_ca", ["fr-CA", "fr", "default"]),
        ("fr", ["fr", "default"]),
        ("zh-hant-tw", ["zh-Hant-TW", "zh-Hant", "zh", "default"]),
        (None, ["default"]),
        ("", ["default"]),
        ("default", ["default"]),
        ("français", ["default"]),
        ("fr-CA\n", ["fr-CA", "fr", "default"]),
        ("../../etc/passwd", ["default"]),
        ("x", ["default"]),
    ],
)
def test_locale_chain(locale: str | None, chain: list[str]) -> None:
    assert templates.locale_chain(locale) == chain


@given(
    st.one_of(
        st.none(),
        st.text(max_size=40),
        st.from_regex(r"[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8}){0,3}", fullmatch=True),
    )
)
def test_locale_chain_always_ends_with_the_default(locale: str | None) -> None:
    chain = templates.locale_chain(locale)
    assert chain[-1] == "default"
    assert len(chain) == len(set(chain))
    assert all(templates.normalize_locale(code) == code for code in chain[:-1])


def test_pick_falls_back_along_the_chain() -> None:
    available = {"default": "en", "fr": "fr", "FR-be": "be"}
    assert templates.pick(available, "fr-CA") == "fr"
    assert templates.pick(available, "fr-BE") == "be"
    assert templates.pick(available, "de-DE") == "en"
    assert templates.pick(available, None) == "en"
    assert templates.pick({"fr": 1}, "de") is None


# --- channels ------------------------------------------------------------------------------------

ALL = {"email", "sms", "push"}


def test_categories() -> None:
    assert preferences.category("security").critical
    assert preferences.category("ai").default_channels == ("in_app",)
    invented = preferences.category("shop.orders")
    assert not invented.critical and invented.default_channels == ("email", "in_app")
    with pytest.raises(ValueError, match="fax"):
        Category("x", default_channels=("fax",))


def test_a_critical_category_keeps_its_channels_when_turned_off() -> None:
    security = preferences.category("security")
    assert choose_channels(security, None, {"email": False, "in_app": False}, {}, ALL) == ["email", "in_app"]
    campaign = preferences.category("campaign")
    assert choose_channels(campaign, None, {"email": False}, {}, ALL) == ["in_app"]


def test_user_overrides_tenant_overrides_default() -> None:
    campaign = preferences.category("campaign")
    assert choose_channels(campaign, None, {}, {"sms": True, "email": False}, ALL) == ["sms", "in_app"]
    assert choose_channels(
        campaign, None, {"email": True, "sms": False}, {"sms": True, "email": False}, ALL
    ) == [
        "email",
        "in_app",
    ]


def test_requested_channels_narrow() -> None:
    campaign = preferences.category("campaign")
    assert choose_channels(campaign, ["email"], {}, {}, ALL) == ["email"]
    assert choose_channels(campaign, ["sms", "email"], {}, {}, ALL) == ["email"]  # sms is off
    assert choose_channels(campaign, [], {}, {}, ALL) == []


def test_only_reachable_channels_and_in_app_always() -> None:
    campaign = preferences.category("campaign")
    on = {"email": True, "sms": True, "push": True}
    assert choose_channels(campaign, None, on, {}, {"push"}) == ["push", "in_app"]
    assert choose_channels(preferences.category("security"), None, {}, {}, set()) == ["in_app"]


# --- quiet hours ---------------------------------------------------------------------------------

NIGHT = QuietHours(time(22), time(7), "Europe/Paris")


def local(*args: int) -> datetime:
    return datetime(*args, tzinfo=PARIS).astimezone(UTC)  # type: ignore[misc]


def test_quiet_hours_hold_until_the_local_morning() -> None:
    assert quiet_until(local(2026, 6, 10, 23, 30), NIGHT, critical=False) == local(2026, 6, 11, 7, 0)
    assert quiet_until(local(2026, 6, 11, 6, 59), NIGHT, critical=False) == local(2026, 6, 11, 7, 0)
    assert local(2026, 6, 11, 7, 0) == datetime(2026, 6, 11, 5, 0, tzinfo=UTC)
    assert quiet_until(local(2026, 6, 10, 12, 0), NIGHT, critical=False) is None
    assert quiet_until(local(2026, 6, 11, 7, 0), NIGHT, critical=False) is None
    assert quiet_until(local(2026, 6, 10, 23, 30), NIGHT, critical=True) is None
    assert quiet_until(local(2026, 6, 10, 23, 30), None, critical=False) is None
    assert (
        quiet_until(local(2026, 6, 10, 23, 30), QuietHours(time(8), time(8), "UTC"), critical=False) is None
    )


def test_a_window_ending_in_the_spring_forward_gap_ends_at_the_jump() -> None:
    window = QuietHours(time(1), time(2, 30), "Europe/Paris")  # 02:00-03:00 does not exist on 2026-03-29
    end = quiet_until(datetime(2026, 3, 29, 0, 30, tzinfo=UTC), window, critical=False)  # 01:30 CET
    assert end == datetime(2026, 3, 29, 1, 0, tzinfo=UTC)
    assert end.astimezone(PARIS).replace(tzinfo=None) == datetime(2026, 3, 29, 3, 0)  # 03:00 CEST


def test_a_window_ending_in_the_repeated_autumn_hour() -> None:
    window = QuietHours(time(1), time(2, 30), "Europe/Paris")  # 02:00-03:00 happens twice on 2026-10-25
    first_pass = datetime(2026, 10, 24, 23, 30, tzinfo=UTC)  # 01:30 CEST
    assert quiet_until(first_pass, window, critical=False) == datetime(2026, 10, 25, 0, 30, tzinfo=UTC)
    second_pass = datetime(2026, 10, 25, 1, 10, tzinfo=UTC)  # 02:10 CET
    assert quiet_until(second_pass, window, critical=False) == datetime(2026, 10, 25, 1, 30, tzinfo=UTC)


def test_quiet_hours_refuse_unknown_zones_and_naive_instants() -> None:
    for unknown in ("Mars/Olympus", "US"):  # "US" is a directory of the zone database, not a zone
        with pytest.raises(ValueError, match="unknown time zone"):
            QuietHours(time(22), time(7), unknown)
    with pytest.raises(ValueError, match="aware"):
        quiet_until(datetime(2026, 6, 10, 23, 30), NIGHT, critical=False)


ZONES = ["Europe/Paris", "America/New_York", "Australia/Lord_Howe", "Asia/Kolkata", "Pacific/Apia", "UTC"]
TRANSITIONS = [
    datetime(2026, 3, 29, 1),
    datetime(2026, 10, 25, 1),
    datetime(2026, 3, 8, 7),
    datetime(2026, 11, 1, 6),
]
TRANSITIONS += [datetime(2026, 4, 4, 15), datetime(2026, 10, 3, 15, 30), datetime(2011, 12, 30, 10)]
near_transitions = st.builds(
    lambda at, minutes: (at + timedelta(minutes=minutes)).replace(tzinfo=UTC),
    st.sampled_from(TRANSITIONS),
    st.integers(-36 * 60, 36 * 60),
)
instants = st.one_of(
    near_transitions, st.datetimes(datetime(2000, 1, 1), datetime(2037, 1, 1), timezones=st.just(UTC))
)
wall_times = st.builds(time, st.integers(0, 23), st.sampled_from([0, 15, 30, 45]))


@given(instants, wall_times, wall_times, st.sampled_from(ZONES))
def test_quiet_until_is_never_before_now_and_always_outside_the_window(
    now: datetime, start: time, end: time, zone: str
) -> None:
    quiet = QuietHours(start, end, zone)
    until = quiet_until(now, quiet, critical=False)
    inside = quiet.covers(now.astimezone(quiet.zone).time())
    if until is None:
        assert not inside
        return
    assert inside and until > now and until.tzinfo is UTC
    assert not quiet.covers(until.astimezone(quiet.zone).time())
    assert until - now <= timedelta(hours=49)


@pytest.mark.parametrize(
    ("now", "minutes", "end"),
    [
        (datetime(2026, 6, 10, 10, 7, tzinfo=UTC), 15, datetime(2026, 6, 10, 10, 15, tzinfo=UTC)),
        (datetime(2026, 6, 10, 10, 15, tzinfo=UTC), 15, datetime(2026, 6, 10, 10, 30, tzinfo=UTC)),
        (datetime(2026, 6, 10, 12, 7, tzinfo=PARIS), 60, datetime(2026, 6, 10, 11, 0, tzinfo=UTC)),
        (datetime(2026, 6, 10, 22, 0, tzinfo=UTC), 420, datetime(2026, 6, 11, 0, 0, tzinfo=UTC)),
        (datetime(2026, 6, 10, 0, 0, tzinfo=UTC), 1440, datetime(2026, 6, 11, 0, 0, tzinfo=UTC)),
    ],
)
def test_digest_windows_are_aligned_on_midnight_utc(now: datetime, minutes: int, end: datetime) -> None:
    assert preferences.digest_window_end(now, minutes) == end


# --- retries -------------------------------------------------------------------------------------


class Midpoint(random.Random):
    def uniform(self, a: float, b: float) -> float:
        return (a + b) / 2


NOMINAL = [15.0, 30.0, 60.0, 120.0, 240.0, 480.0, 960.0]


def test_the_nominal_schedule_doubles_from_15_seconds() -> None:
    assert [retry.retry_delay(n, Midpoint()) for n in range(1, retry.MAX_TRIES)] == NOMINAL
    assert retry.retry_delay(1, Midpoint(), retry_after=120) == 120
    assert retry.retry_delay(1, Midpoint(), retry_after=86_400) == retry.MAX_RETRY_AFTER
    assert retry.retry_delay(7, Midpoint(), retry_after=1) == 960
    for attempt in (0, retry.MAX_TRIES):
        with pytest.raises(ValueError):
            retry.retry_delay(attempt)


@given(st.integers(0, 2**32))
def test_jittered_waits_stay_near_the_schedule_and_total_about_half_an_hour(seed: int) -> None:
    rng = random.Random(seed)
    delays = [retry.retry_delay(n, rng) for n in range(1, retry.MAX_TRIES)]
    assert all(
        0.75 * nominal <= delay <= 1.25 * nominal for delay, nominal in zip(delays, NOMINAL, strict=True)
    )
    assert 20 * 60 <= sum(delays) <= 40 * 60


def test_should_retry_and_outcomes() -> None:
    assert retry.should_retry(1, permanent=False)
    assert retry.should_retry(7, permanent=False)
    assert not retry.should_retry(8, permanent=False)
    assert not retry.should_retry(1, permanent=True)
    assert retry.outcome_of(DeliveryError("busy", permanent=False), 3) == "retry"
    assert retry.outcome_of(DeliveryError("busy", permanent=False), 8) == "failed"
    assert retry.outcome_of(DeliveryError("bad key", permanent=True), 1) == "failed"
    assert (
        retry.outcome_of(DeliveryError("550 no such user", permanent=True, status="bounced"), 1) == "bounced"
    )


def test_delivery_errors_carry_no_secrets() -> None:
    error = DeliveryError(
        "POST https://AC1:s3cret@api.example/send?api_key=k3y failed: Authorization: Bearer t0ken",
        permanent=False,
        retry_after=30,
    )
    assert not any(secret in str(error) or secret in repr(error) for secret in ("s3cret", "k3y", "t0ken"))
    assert error.retry_after == 30 and error.status == "failed"
    assert DeliveryError("x", permanent=False, status="bounced").permanent  # a bounce is always permanent
    assert len(DeliveryError("x" * 10_000, permanent=False).message) == retry.MAX_ERROR_CHARS
    with pytest.raises(ValueError):
        DeliveryError("x", permanent=True, status="opened")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("source", "target", "allowed"),
    [
        ("queued", "sending", True),
        ("sending", "sent", True),
        ("sending", "queued", True),
        ("sent", "delivered", True),
        ("sent", "bounced", True),
        ("delivered", "opened", True),
        ("opened", "clicked", True),
        ("queued", "failed", True),
        ("delivered", "sent", False),
        ("clicked", "opened", False),
        ("failed", "sending", False),
        ("bounced", "delivered", False),
        ("queued", "delivered", False),
        ("sent", "sent", False),
        ("sent", "exploded", False),
    ],
)
def test_delivery_status_moves_only_forward(source: str, target: str, allowed: bool) -> None:
    assert can_move(source, target) is allowed


def test_final_statuses() -> None:
    assert {
        DeliveryStatus.CLICKED,
        DeliveryStatus.FAILED,
        DeliveryStatus.BOUNCED,
        DeliveryStatus.DEAD,
    } == retry.FINAL
    assert set(retry.TRANSITIONS) == set(DeliveryStatus)
