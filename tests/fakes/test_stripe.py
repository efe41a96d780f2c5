"""The fake Stripe through the official `stripe` library (its async client on httpx) and plain httpx:
bracket-notation forms, auth, errors, idempotency, failure injection, and webhook deliveries whose
`Stripe-Signature` the library's own `Webhook.construct_event` verifies."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import stripe
from aiohttp import web

from fakes._server import FakeServer
from fakes.stripe import STATE, make_app, parse_stripe_form

KEY = "sk_test_unit_0123456789"
SECRET = "whsec_primary_secret"
ROLLED = "whsec_rolled_secret"
AUTH = {"Authorization": f"Bearer {KEY}"}
# stripe's own HTTPXClient posts bytes through `data=`, which httpx deprecates.
pytestmark = pytest.mark.filterwarnings("ignore:Use 'content=<...>':DeprecationWarning")


class Receiver:
    """Our side of a webhook endpoint: verifies with the stripe library, answers 400 when it fails."""

    def __init__(self, secret: str) -> None:
        self.secret = secret
        self.received: list[dict[str, Any]] = []
        self.server = FakeServer(self._app())

    def _app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/hook", self.hook)
        return app

    async def hook(self, request: web.Request) -> web.Response:
        payload = await request.read()
        header = request.headers.get("Stripe-Signature")
        entry: dict[str, Any] = {"payload": payload, "header": header, "headers": dict(request.headers)}
        self.received.append(entry)
        try:
            entry["event"] = stripe.Webhook.construct_event(payload, header, self.secret)
        except stripe.SignatureVerificationError as exc:
            entry["error"] = str(exc)
            return web.Response(status=400)
        return web.json_response({"received": True})

    @property
    def url(self) -> str:
        return f"{self.server.url}/hook"


@pytest.fixture
async def fake() -> AsyncIterator[FakeServer]:
    prices = {
        "price_pro_monthly": {"unit_amount": 4900, "currency": "usd", "recurring": {"interval": "month"}},
        "price_setup_fee": {"unit_amount": 9900, "currency": "usd"},
    }
    async with FakeServer(make_app(api_key=KEY, prices=prices)) as server:
        yield server


@pytest.fixture
async def http(fake: FakeServer) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=fake.url, timeout=5) as client:
        yield client


@pytest.fixture
async def client(fake: FakeServer) -> AsyncIterator[stripe.StripeClient]:
    http_client = stripe.HTTPXClient()
    yield stripe.StripeClient(
        KEY, base_addresses={"api": fake.url}, http_client=http_client, max_network_retries=0
    )
    await http_client.close_async()


@pytest.fixture
async def receiver(http: httpx.AsyncClient) -> AsyncIterator[Receiver]:
    rec = Receiver(SECRET)
    async with rec.server:
        r = await http.post("/_fake/webhook_endpoints", json={"url": rec.url, "secret": SECRET})
        assert r.status_code == 200
        yield rec


async def checkout(client: stripe.StripeClient, customer: str) -> Any:
    return await client.v1.checkout.sessions.create_async(
        {
            "mode": "subscription",
            "customer": customer,
            "line_items": [{"price": "price_pro_monthly", "quantity": 2}],
            "success_url": "https://app.example/billing/done?session={CHECKOUT_SESSION_ID}",
            "cancel_url": "https://app.example/billing/cancel",
            "client_reference_id": "tenant-42",
            "metadata": {"tenant_id": "tenant-42", "plan": "pro"},
            "subscription_data": {"metadata": {"tenant_id": "tenant-42"}},
        }
    )


def test_bracket_notation_parses_nested_hashes_and_arrays() -> None:
    pairs = [
        ("metadata[tenant_id]", "t1"),
        ("line_items[1][price]", "price_b"),
        ("line_items[0][price]", "price_a"),
        ("line_items[0][quantity]", "1"),
        ("subscription_data[metadata][plan]", "pro"),
        ("expand[]", "line_items"),
        ("expand[]", "customer"),
        ("mode", "subscription"),
    ]
    assert parse_stripe_form(pairs) == {
        "metadata": {"tenant_id": "t1"},
        "line_items": [{"price": "price_a", "quantity": "1"}, {"price": "price_b"}],
        "subscription_data": {"metadata": {"plan": "pro"}},
        "expand": ["line_items", "customer"],
        "mode": "subscription",
    }


async def test_auth_errors_use_stripe_shape(http: httpx.AsyncClient, fake: FakeServer) -> None:
    r = await http.get("/v1/customers/cus_x", headers={"Authorization": "Bearer sk_test_wrong_key_999"})
    assert r.status_code == 401
    error = r.json()["error"]
    assert error["type"] == "invalid_request_error"
    assert error["message"].startswith("Invalid API Key provided: sk_test_")
    assert "wrong_key" not in error["message"]  # masked, as Stripe does
    r = await http.get("/v1/customers/cus_x")
    assert r.status_code == 401 and "did not provide an API key" in r.json()["error"]["message"]

    bad = stripe.StripeClient(
        "sk_test_nope",
        base_addresses={"api": fake.url},
        http_client=stripe.HTTPXClient(),
        max_network_retries=0,
    )
    with pytest.raises(stripe.AuthenticationError):
        await bad.v1.customers.create_async({"email": "a@example.com"})


async def test_customer_and_checkout_session_through_the_stripe_library(
    client: stripe.StripeClient, fake: FakeServer
) -> None:
    customer = await client.v1.customers.create_async(
        {"email": "owner@agency.example", "name": "Agency", "metadata": {"tenant_id": "tenant-42"}}
    )
    assert customer.id.startswith("cus_") and customer.metadata["tenant_id"] == "tenant-42"
    assert (await client.v1.customers.retrieve_async(customer.id)).email == "owner@agency.example"

    session = await checkout(client, customer.id)
    assert session.id.startswith("cs_test_") and session.object == "checkout.session"
    assert session.status == "open" and session.mode == "subscription" and session.payment_status == "unpaid"
    assert session.customer == customer.id and session.client_reference_id == "tenant-42"
    assert session.metadata.to_dict() == {"tenant_id": "tenant-42", "plan": "pro"}
    assert session.amount_total == 9800 and session.currency == "usd"
    assert session.url.startswith(f"{fake.url}/checkout/cs_test_")
    again = await client.v1.checkout.sessions.retrieve_async(session.id, {"expand": ["line_items"]})
    assert again.line_items.data[0].price.id == "price_pro_monthly" and again.line_items.data[0].quantity == 2

    # What went over the wire was Stripe's bracket notation, parsed back into the nested shape.
    sent = next(r for r in fake.app[STATE].requests if r["path"] == "/v1/checkout/sessions")
    assert sent["params"]["line_items"] == [{"price": "price_pro_monthly", "quantity": "2"}]
    assert sent["params"]["subscription_data"] == {"metadata": {"tenant_id": "tenant-42"}}
    assert sent["idempotency_key"]  # the library sends one on every POST


async def test_invalid_requests_are_stripe_errors(client: stripe.StripeClient) -> None:
    with pytest.raises(stripe.InvalidRequestError) as missing:
        await client.v1.customers.retrieve_async("cus_doesnotexist")
    assert missing.value.code == "resource_missing" and missing.value.http_status == 404
    with pytest.raises(stripe.InvalidRequestError) as unknown:
        await client.v1.customers.create_async({"emial": "typo@example.com"})  # type: ignore[typeddict-unknown-key]
    assert unknown.value.code == "parameter_unknown" and unknown.value.param == "emial"
    with pytest.raises(stripe.InvalidRequestError) as no_price:
        await client.v1.checkout.sessions.create_async(
            {"mode": "subscription", "line_items": [{"price": "price_nope", "quantity": 1}]}
        )
    assert no_price.value.code == "resource_missing"
    with pytest.raises(stripe.InvalidRequestError, match="recurring price"):
        await client.v1.checkout.sessions.create_async(
            {"mode": "subscription", "line_items": [{"price": "price_setup_fee", "quantity": 1}]}
        )


async def test_idempotency_key_replays_and_rejects_other_params(
    http: httpx.AsyncClient, client: stripe.StripeClient
) -> None:
    headers = {**AUTH, "Idempotency-Key": "create-cust-1"}
    first = await http.post("/v1/customers", data={"email": "a@example.com"}, headers=headers)
    second = await http.post("/v1/customers", data={"email": "a@example.com"}, headers=headers)
    assert first.status_code == second.status_code == 200
    assert first.json()["id"] == second.json()["id"]
    assert second.headers["Idempotent-Replayed"] == "true"
    other = await http.post("/v1/customers", data={"email": "b@example.com"}, headers=headers)
    assert other.status_code == 400 and other.json()["error"]["type"] == "idempotency_error"
    with pytest.raises(stripe.IdempotencyError):
        await client.v1.customers.create_async(
            {"email": "c@example.com"}, {"idempotency_key": "create-cust-1"}
        )
    state = (await http.get("/_fake/state")).json()
    assert len(state["customers"]) == 1


async def test_injected_failure_is_retried_by_the_library_with_the_same_key(
    http: httpx.AsyncClient, fake: FakeServer
) -> None:
    r = await http.post("/_fake/fail", json={"path_prefix": "/v1/customers", "status": 500, "count": 1})
    assert r.status_code == 200
    http_client = stripe.HTTPXClient()
    retrying = stripe.StripeClient(
        KEY, base_addresses={"api": fake.url}, http_client=http_client, max_network_retries=1
    )
    customer = await retrying.v1.customers.create_async({"email": "retry@example.com"})
    await http_client.close_async()
    state = (await http.get("/_fake/state")).json()
    assert [c["id"] for c in state["customers"]] == [customer.id]
    keys = [req["idempotency_key"] for req in state["requests"]]
    assert len(keys) == 1  # the failed attempt never reached the API (not recorded, not saved)
    assert state["fail_rules"][0]["count"] == 0


async def test_complete_checkout_delivers_signed_events_verified_by_the_stripe_library(
    client: stripe.StripeClient, http: httpx.AsyncClient, receiver: Receiver
) -> None:
    customer = await client.v1.customers.create_async({"email": "owner@agency.example"})
    session = await checkout(client, customer.id)
    r = await http.post(f"/_fake/complete_checkout/{session.id}")
    assert r.status_code == 200
    assert [d["status"] for d in r.json()["deliveries"]] == [200, 200]

    completed, paid = (entry["event"] for entry in receiver.received)
    assert receiver.received[0]["header"].startswith("t=")
    assert receiver.received[0]["headers"]["Content-Type"].startswith("application/json")
    assert completed.type == "checkout.session.completed" and completed.livemode is False
    assert completed.id.startswith("evt_") and completed.object == "event" and completed.api_version
    obj = completed.data.object
    assert obj.id == session.id and obj.status == "complete" and obj.payment_status == "paid"
    assert obj.client_reference_id == "tenant-42" and obj.metadata["tenant_id"] == "tenant-42"
    assert obj.subscription.startswith("sub_") and obj.customer == customer.id

    assert paid.type == "invoice.paid"
    invoice = paid.data.object
    assert (
        invoice.status == "paid" and invoice.amount_paid == 9800 and invoice.subscription == obj.subscription
    )
    assert invoice.billing_reason == "subscription_create"

    sub = await client.v1.subscriptions.retrieve_async(obj.subscription)
    assert sub.status == "active" and sub.metadata.to_dict() == {"tenant_id": "tenant-42"}
    assert (await client.v1.checkout.sessions.retrieve_async(session.id)).status == "complete"

    # Later lifecycle events, also verified by the library.
    await http.post(f"/_fake/fail_payment/{sub.id}")
    await http.post(f"/_fake/cancel/{sub.id}")
    failed, deleted = (entry["event"] for entry in receiver.received[2:])
    assert failed.type == "invoice.payment_failed" and failed.data.object.status == "open"
    assert failed.data.object.parent.subscription_details.metadata["tenant_id"] == "tenant-42"
    assert deleted.type == "customer.subscription.deleted" and deleted.data.object.status == "canceled"

    state = (await http.get("/_fake/state")).json()
    assert [d["type"] for d in state["deliveries"]] == [
        "checkout.session.completed",
        "invoice.paid",
        "invoice.payment_failed",
        "customer.subscription.deleted",
    ]
    assert all(d["status"] == 200 for d in state["deliveries"])
    assert (await client.v1.events.retrieve_async(completed.id)).type == "checkout.session.completed"


async def test_stale_tampered_and_rolled_secret_deliveries(
    client: stripe.StripeClient, http: httpx.AsyncClient, receiver: Receiver
) -> None:
    customer = await client.v1.customers.create_async({"email": "x@example.com"})
    session = await checkout(client, customer.id)
    r = await http.post(f"/_fake/complete_checkout/{session.id}", json={"timestamp_offset": -600})
    assert [d["status"] for d in r.json()["deliveries"]] == [400, 400]
    assert "tolerance" in receiver.received[0]["error"]
    sub_id = r.json()["events"][0]["data"]["object"]["subscription"]

    r = await http.post(f"/_fake/fail_payment/{sub_id}", json={"tamper": True})
    assert r.json()["deliveries"][0]["status"] == 400
    assert "No signatures found matching" in receiver.received[-1]["error"]

    # A second endpoint mid-rotation: two v1 signatures; a receiver holding either secret accepts.
    rolled = Receiver(ROLLED)
    async with rolled.server:
        await http.post(
            "/_fake/webhook_endpoints",
            json={"url": rolled.url, "secret": SECRET, "secondary_secret": ROLLED},
        )
        r = await http.post(f"/_fake/redeliver/{r.json()['events'][0]['id']}")
        assert [d["status"] for d in r.json()["deliveries"]] == [200, 200]
    header = rolled.received[0]["header"]
    assert header.count("v1=") == 2
    assert stripe.Webhook.construct_event(rolled.received[0]["payload"], header, SECRET)
    with pytest.raises(stripe.SignatureVerificationError):
        stripe.Webhook.construct_event(rolled.received[0]["payload"], header, "whsec_someone_else")


async def test_hosted_checkout_page_completes_and_redirects(
    client: stripe.StripeClient, http: httpx.AsyncClient, receiver: Receiver
) -> None:
    session = await client.v1.checkout.sessions.create_async(
        {
            "mode": "subscription",
            "customer_email": "new@example.com",
            "line_items": [{"price": "price_pro_monthly", "quantity": 1}],
            "success_url": "https://app.example/ok?s={CHECKOUT_SESSION_ID}",
        }
    )
    page = await http.get(session.url)
    assert page.status_code == 200 and "Pay" in page.text
    paid = await http.post(f"{session.url}/pay")
    assert paid.status_code == 303 and paid.headers["Location"] == f"https://app.example/ok?s={session.id}"
    event = receiver.received[0]["event"]
    assert event.data.object.customer.startswith("cus_")  # created for the customer_email
    assert event.data.object.customer_details.email == "new@example.com"


async def test_reset_clears_everything(http: httpx.AsyncClient, client: stripe.StripeClient) -> None:
    await client.v1.customers.create_async({"email": "a@example.com"})
    assert (await http.post("/_fake/reset")).status_code == 200
    state = (await http.get("/_fake/state")).json()
    assert state["customers"] == [] and state["requests"] == []
    json.dumps(state)
