"""Pure rules of integration: sync windows and pages, budgets, connection fields, and what each
Stripe event means for a tenant's plan."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.integration.domain import windows
from services.integration.domain.billing import outcome_of
from services.integration.domain.budgets import daily_budget
from services.integration.domain.catalog import PROVIDERS, InvalidConnection, check_fields

TODAY = date(2026, 11, 26)


def test_the_first_sync_reaches_back_the_initial_days_and_ends_yesterday() -> None:
    window = windows.incremental(None, TODAY, trailing_days=14, initial_days=30)
    assert (window.first, window.last, window.days) == (date(2026, 10, 27), date(2026, 11, 25), 30)


def test_an_incremental_sync_repulls_the_trailing_days() -> None:
    google = windows.incremental(date(2026, 11, 25), TODAY, trailing_days=14, initial_days=30)
    meta = windows.incremental(date(2026, 11, 25), TODAY, trailing_days=28, initial_days=30)
    assert (google.first, google.last) == (date(2026, 11, 11), date(2026, 11, 25))
    assert meta.first == date(2026, 10, 28)


def test_a_backfill_stays_in_the_past_and_within_three_years() -> None:
    assert windows.requested(date(2025, 1, 1), date(2025, 12, 31), TODAY).days == 365
    for first, last, message in (
        (date(2025, 2, 1), date(2025, 1, 1), "must not come after"),
        (date(2026, 11, 1), TODAY, "before today"),
        (date(2022, 1, 1), date(2025, 12, 31), "three years"),
    ):
        with pytest.raises(windows.InvalidWindow, match=message):
            windows.requested(first, last, TODAY)


@given(
    st.dates(min_value=date(2020, 1, 1), max_value=date(2026, 1, 1)),
    st.integers(1, 400),
    st.integers(1, 40),
    st.integers(0, 400),
)
def test_pages_cover_the_window_after_the_checkpoint_exactly_once(
    first: date, length: int, page_days: int, done_days: int
) -> None:
    window = windows.Window(first, first + timedelta(days=length - 1))
    checkpoint = first + timedelta(days=done_days - 1) if 0 < done_days <= length else None
    pages = list(windows.pages(window, checkpoint, page_days))
    days = [p.first + timedelta(days=n) for p in pages for n in range(p.days)]
    start = checkpoint + timedelta(days=1) if checkpoint else first
    assert days == [start + timedelta(days=n) for n in range((window.last - start).days + 1)]
    assert all(p.days <= page_days for p in pages)


def test_a_lifetime_budget_is_spread_over_the_flight_rounded_up() -> None:
    start = datetime(2026, 12, 1, tzinfo=UTC)
    assert daily_budget(10_000, "lifetime", start, start + timedelta(days=3)) == 3_334
    assert daily_budget(10_000, "daily", start, start + timedelta(days=3)) == 10_000
    assert daily_budget(10_000, "lifetime", start, None) == 10_000


def test_connection_fields_follow_the_provider() -> None:
    check_fields(PROVIDERS["google_ads"], {"access_token": "a"}, {"login_customer_id": "1"})
    check_fields(PROVIDERS["mautic"], {"client_id": "c", "client_secret": "s"}, {"base_url": "https://m"})
    for provider, credentials, options, message in (
        ("google_ads", {}, {}, "needs the credential 'access_token'"),
        ("google_ads", {"access_token": "a", "pin": "1"}, {}, "no credential 'pin'"),
        ("mautic", {"username": "u"}, {"base_url": "https://m"}, "username and password"),
        ("mautic", {"username": "u", "password": "p"}, {}, "needs the option 'base_url'"),
    ):
        with pytest.raises(InvalidConnection, match=message):
            check_fields(PROVIDERS[provider], credentials, options)


TENANT = uuid.uuid4()


def stripe_event(kind: str, obj: dict[str, Any]) -> dict[str, Any]:
    return {"id": "evt_1", "type": kind, "data": {"object": obj}}


def test_a_paid_checkout_and_a_paid_invoice_succeed_for_the_tenant_in_their_metadata() -> None:
    checkout = outcome_of(
        stripe_event(
            "checkout.session.completed",
            {
                "payment_status": "paid",
                "amount_total": 4900,
                "currency": "eur",
                "customer": "cus_1",
                "subscription": "sub_1",
                "metadata": {"tenant_id": str(TENANT), "plan": "pro"},
            },
        )
    )
    assert checkout is not None and checkout.succeeded
    assert (checkout.tenant_id, checkout.plan, checkout.amount_minor, checkout.currency) == (
        TENANT,
        "pro",
        4900,
        "EUR",
    )
    invoice = outcome_of(
        stripe_event(
            "invoice.paid",
            {
                "id": "in_1",
                "amount_paid": 4900,
                "currency": "eur",
                "customer": "cus_1",
                "parent": {"subscription_details": {"metadata": {"tenant_id": str(TENANT), "plan": "pro"}}},
            },
        )
    )
    assert invoice is not None and (invoice.invoice_id, invoice.tenant_id, invoice.plan) == (
        "in_1",
        TENANT,
        "pro",
    )


def test_failures_and_cancellations_fail_and_other_events_mean_nothing() -> None:
    failed = outcome_of(
        stripe_event("invoice.payment_failed", {"id": "in_2", "amount_due": 4900, "customer": "cus_9"})
    )
    assert failed is not None and not failed.succeeded and failed.reason == "payment_failed"
    assert failed.tenant_id is None and failed.customer_id == "cus_9"  # found by the recorded customer
    cancelled = outcome_of(
        stripe_event("customer.subscription.deleted", {"id": "sub_1", "customer": "cus_1"})
    )
    assert (
        cancelled is not None
        and cancelled.reason == "subscription_cancelled"
        and cancelled.subscription_id == "sub_1"
    )
    assert outcome_of(stripe_event("checkout.session.completed", {"payment_status": "unpaid"})) is None
    assert outcome_of(stripe_event("customer.created", {})) is None
