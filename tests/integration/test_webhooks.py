"""Webhooks on the raw body and flow 6: a Stripe checkout paid through the fake's signed events
moves the tenant's plan in user_management; signatures made by the official `stripe` library are
accepted, tampered and stale ones refused with nothing stored; Meta and Mautic likewise."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import redis
import stripe

from tests.integration.conftest import Fleet
from tests.support.bus import events, wait_for
from tests.support.kit import Account, assert_problem, eventually


@pytest.fixture(scope="module")
def stripe_fake(integration_fleet: Fleet) -> Iterator[httpx.Client]:
    """The fake Stripe, delivering its events to our webhook signed with our secret."""
    with httpx.Client(base_url=integration_fleet.fakes.stripe.url, timeout=30) as client:
        endpoint = {
            "url": f"{integration_fleet.url}/api/v1/webhooks/stripe",
            "secret": integration_fleet.env["STRIPE_WEBHOOK_SECRET"],
        }
        assert client.post("/_fake/webhook_endpoints", json=endpoint).status_code in (200, 201)
        yield client


def plan_of(user_service: str, owner: Account) -> str:
    return str(httpx.get(f"{user_service}/api/v1/tenants/current", headers=owner.auth).json()["plan"])


def test_a_paid_checkout_moves_the_plan_and_a_failed_payment_moves_it_back(
    api: httpx.Client, owner: Account, user_service: str, stripe_fake: httpx.Client, bus: redis.Redis
) -> None:
    answer = api.post("/api/v1/integrations/billing/checkout", json={"plan": "pro"}, headers=owner.auth)
    assert answer.status_code == 201, answer.text
    session_id = answer.json()["session_id"]
    session = stripe_fake.get(f"/v1/checkout/sessions/{session_id}", auth=(stripe_fake_key(), "")).json()
    assert session["metadata"] == {"tenant_id": owner.tenant_id, "plan": "pro"}
    assert session["mode"] == "subscription"

    completed = stripe_fake.post(f"/_fake/complete_checkout/{session_id}", json={})
    assert completed.status_code == 200, completed.text
    eventually(lambda: plan_of(user_service, owner) == "pro" or None, timeout=30)
    paid = wait_for(bus, "integration", "payment.succeeded", lambda e: e["tenant_id"] == owner.tenant_id)
    assert paid[0]["data"]["plan"] == "pro" and paid[0]["data"]["amount_minor"] > 0

    subscription = stripe_fake.get(
        f"/v1/checkout/sessions/{session_id}", auth=(stripe_fake_key(), "")
    ).json()["subscription"]
    assert stripe_fake.post(f"/_fake/fail_payment/{subscription}", json={}).status_code == 200
    eventually(lambda: plan_of(user_service, owner) == "basic" or None, timeout=30)


def stripe_fake_key() -> str:
    from tests.integration.conftest import STRIPE_KEY

    return STRIPE_KEY


def stripe_event(event_type: str = "customer.created") -> str:
    return json.dumps(
        {"id": f"evt_{uuid.uuid4().hex}", "object": "event", "type": event_type, "data": {"object": {}}}
    )


def test_stripe_signatures_of_the_official_library_are_accepted_and_others_refused(
    api: httpx.Client, integration_fleet: Fleet, bus: redis.Redis
) -> None:
    secret = integration_fleet.env["STRIPE_WEBHOOK_SECRET"]
    payload = stripe_event()
    event_id = json.loads(payload)["id"]
    signed = stripe.WebhookSignature.generate_signature_header(payload, secret, timestamp=int(time.time()))

    def post(body: str, header: str) -> httpx.Response:
        return api.post(
            "/api/v1/webhooks/stripe",
            content=body.encode(),
            headers={"Stripe-Signature": header, "Content-Type": "application/json"},
        )

    stale = stripe.WebhookSignature.generate_signature_header(
        payload, secret, timestamp=int(time.time()) - 600
    )
    assert_problem(post(payload.replace("customer.created", "invoice.paid"), signed), 400, "bad-signature")
    assert_problem(post(payload, stale), 400, "bad-signature")
    assert_problem(post(payload, "t=1,v1=00"), 400, "bad-signature")
    assert_problem(
        post(payload, stripe.WebhookSignature.generate_signature_header(payload, "whsec_other")), 400
    )
    first, again = post(payload, signed), post(payload, signed)
    assert (first.status_code, first.json(), again.json()) == (
        200,
        {"received": True, "duplicate": False},
        {"received": True, "duplicate": True},
    )
    wait_for(bus, "integration", "webhook.received", lambda e: e["data"]["event_id"] == event_id)
    time.sleep(0.5)  # a second event would have been relayed by now
    assert (
        len([e for e in events(bus, "integration", "webhook.received") if e["data"]["event_id"] == event_id])
        == 1
    )


def test_meta_signature_and_subscription_handshake(api: httpx.Client, integration_fleet: Fleet) -> None:
    secret = integration_fleet.env["META_APP_SECRET"].encode()
    body = json.dumps(
        {"object": "ad_account", "entry": [{"id": "1", "time": int(time.time()), "changes": []}]}
    )
    good = "sha256=" + hmac.new(secret, body.encode(), hashlib.sha256).hexdigest()
    answer = api.post("/api/v1/webhooks/meta", content=body, headers={"X-Hub-Signature-256": good})
    assert answer.json() == {"received": True, "duplicate": False}
    tampered = api.post("/api/v1/webhooks/meta", content=body + " ", headers={"X-Hub-Signature-256": good})
    assert_problem(tampered, 400, "bad-signature")
    token = integration_fleet.env["META_VERIFY_TOKEN"]
    params: dict[str, Any] = {
        "hub.mode": "subscribe",
        "hub.verify_token": token,
        "hub.challenge": "1158201444",
    }
    handshake = api.get("/api/v1/webhooks/meta", params=params)
    assert (handshake.status_code, handshake.text) == (200, "1158201444")
    assert_problem(api.get("/api/v1/webhooks/meta", params={**params, "hub.verify_token": "guess"}), 400)


def test_mautic_signature(api: httpx.Client, integration_fleet: Fleet) -> None:
    secret = integration_fleet.env["MAUTIC_WEBHOOK_SECRET"].encode()
    body = json.dumps({"mautic.lead_post_save_new": [{"contact": {"id": 7}}], "timestamp": time.time()})
    good = base64.b64encode(hmac.new(secret, body.encode(), hashlib.sha256).digest()).decode()
    assert (
        api.post("/api/v1/webhooks/mautic", content=body, headers={"Webhook-Signature": good}).status_code
        == 200
    )
    assert_problem(
        api.post("/api/v1/webhooks/mautic", content=body, headers={"Webhook-Signature": "AAAA"}), 400
    )
    assert_problem(api.post("/api/v1/webhooks/myspace", content=body), 404)


def test_checkout_refuses_plans_it_cannot_sell_and_non_owners(api: httpx.Client, owner: Account) -> None:
    assert_problem(
        api.post("/api/v1/integrations/billing/checkout", json={"plan": "basic"}, headers=owner.auth), 422
    )
    assert_problem(api.post("/api/v1/integrations/billing/checkout", json={"plan": "pro"}), 401)
