"""Fake Stripe: the slice of the REST API our billing uses, plus signed webhook delivery.

Wire format as documented by Stripe: `Authorization: Bearer sk_test_...` (or HTTP Basic with the key
as user name), form-encoded bodies in bracket notation (`metadata[tenant_id]=t1`,
`line_items[0][price]=price_x`), JSON answers, `{"error": {...}}` errors, `Idempotency-Key` on
POSTs, and webhook events signed `Stripe-Signature: t=<unix>,v1=<hex HMAC-SHA256(secret, "t.payload")>`.

API: `POST/GET /v1/customers[/{id}]`, `POST /v1/checkout/sessions`, `GET /v1/checkout/sessions/{id}`,
`GET /v1/checkout/sessions/{id}/line_items`, `POST /v1/checkout/sessions/{id}/expire`,
`GET/DELETE /v1/subscriptions/{id}`, `GET /v1/invoices/{id}`, `GET /v1/events[/{id}]`.
A session's `url` opens a tiny hosted-checkout page (`/checkout/{id}`) whose Pay button completes it.

Controls (no auth): `GET /_fake/state`, `POST /_fake/reset`, `POST /_fake/fail`,
`POST /_fake/webhook_endpoints` {"url", "secret"?, "secondary_secret"?, "enabled_events"?},
`POST /_fake/complete_checkout/{session_id}`, `POST /_fake/fail_payment/{subscription_id}`,
`POST /_fake/cancel/{subscription_id}`, `POST /_fake/redeliver/{event_id}`. The event triggers take an
optional JSON body {"timestamp_offset": -600, "tamper": true} to send a stale or tampered delivery.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import html
import json
import re
import secrets
import string
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

import aiohttp
from aiohttp import web

from fakes._server import FailRule, failure_control, json_object, public_origin, run_cli, take_failure

DEFAULT_PORT = 8095
DEFAULT_API_KEY = "sk_test_fake_bizosaas"
API_VERSION = "2024-06-20"
DOC = "https://stripe.com/docs/error-codes"
_ALNUM = string.ascii_letters + string.digits


def new_id(prefix: str, length: int = 24) -> str:
    return prefix + "".join(secrets.choice(_ALNUM) for _ in range(length))


class StripeError(Exception):
    """Becomes Stripe's `{"error": {...}}` answer."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        type_: str = "invalid_request_error",
        code: str | None = None,
        param: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.body: dict[str, Any] = {"message": message, "type": type_}
        if code:
            self.body["code"] = code
            self.body["doc_url"] = f"{DOC}#{code.replace('_', '-')}"
        if param:
            self.body["param"] = param

    def response(self) -> web.Response:
        return web.json_response({"error": self.body}, status=self.status)


def missing(kind: str, ident: str, param: str = "id") -> StripeError:
    return StripeError(404, f"No such {kind}: '{ident}'", code="resource_missing", param=param)


# --- bracket notation --------------------------------------------------------------------------

_KEY = re.compile(r"^([^\[\]]+)((?:\[[^\[\]]*\])*)$")


def parse_stripe_form(pairs: Iterable[tuple[str, str]]) -> dict[str, Any]:
    """`a[b][0][c]=v` -> {"a": {"b": [{"c": "v"}]}}; `expand[]=x` appends; all-index dicts become lists."""
    root: dict[str, Any] = {}
    for key, value in pairs:
        m = _KEY.match(key)
        if m is None:
            raise StripeError(400, f"Invalid parameter name: {key}", code="parameter_invalid_string")
        parts = [m.group(1), *re.findall(r"\[([^\[\]]*)\]", m.group(2))]
        node: dict[str, Any] = root
        for i, part in enumerate(parts):
            if part == "":
                part = str(len(node))
            if i == len(parts) - 1:
                if isinstance(node.get(part), dict):
                    raise StripeError(400, f"Invalid value for {key}: expected a hash", param=key)
                node[part] = value
            else:
                child = node.setdefault(part, {})
                if not isinstance(child, dict):
                    raise StripeError(400, f"Invalid hash for {key}", param=key)
                node = child
    return _listify(root)


def _listify(node: Any) -> Any:
    if not isinstance(node, dict):
        return node
    out = {k: _listify(v) for k, v in node.items()}
    if out and all(k.isdigit() for k in out):
        return [out[k] for k in sorted(out, key=int)]
    return out


# --- resources --------------------------------------------------------------------------------

CUSTOMER_PARAMS = {
    "address", "balance", "business_name", "cash_balance", "description", "email", "expand",
    "individual_name", "invoice_prefix", "invoice_settings", "metadata", "name", "next_invoice_sequence",
    "payment_method", "phone", "preferred_locales", "shipping", "source", "tax", "tax_exempt",
    "tax_id_data", "test_clock", "validate",
}  # fmt: skip
SESSION_PARAMS = {
    "adaptive_pricing", "after_expiration", "allow_promotion_codes", "automatic_tax",
    "billing_address_collection", "branding_settings", "cancel_url", "client_reference_id",
    "consent_collection", "currency", "custom_fields", "custom_text", "customer", "customer_account",
    "customer_creation", "customer_email", "customer_update", "discounts", "excluded_payment_method_types",
    "expand", "expires_at", "invoice_creation", "line_items", "locale", "metadata", "mode",
    "name_collection", "optional_items", "origin_context", "payment_intent_data", "payment_method_collection",
    "payment_method_configuration", "payment_method_data", "payment_method_options", "payment_method_types",
    "permissions", "phone_number_collection", "redirect_on_completion", "return_url",
    "saved_payment_method_options", "setup_intent_data", "shipping_address_collection", "shipping_options",
    "submit_type", "subscription_data", "success_url", "tax_id_collection", "ui_mode", "wallet_options",
}  # fmt: skip
DEFAULT_PRICE = {"unit_amount": 2000, "currency": "usd", "recurring": {"interval": "month"}}
INTERVAL_SECONDS = {"day": 86400, "week": 7 * 86400, "month": 30 * 86400, "year": 365 * 86400}


def check_params(params: Mapping[str, Any], allowed: set[str]) -> None:
    for name in params:
        if name not in allowed:
            raise StripeError(
                400, f"Received unknown parameter: {name}", code="parameter_unknown", param=name
            )


def check_metadata(value: Any, param: str = "metadata") -> dict[str, str]:
    if value in (None, ""):
        return {}
    if not isinstance(value, dict):
        raise StripeError(400, f"Invalid hash for {param}", param=param)
    if len(value) > 50:
        raise StripeError(400, "Metadata can have at most 50 keys.", param=param)
    for k, v in value.items():
        if len(k) > 40 or not isinstance(v, str) or len(v) > 500:
            raise StripeError(400, f"Invalid metadata: key '{k}' or its value is too long", param=param)
    return {k: v for k, v in value.items() if v != ""}


def to_int(value: Any, param: str) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        raise StripeError(400, f"Invalid integer: {value}", param=param) from None


def expand_list(params: Mapping[str, Any]) -> list[str]:
    value = params.get("expand", [])
    return value if isinstance(value, list) else [value]


@dataclass
class Endpoint:
    url: str
    secret: str
    secondary_secret: str | None = None
    enabled_events: list[str] = field(default_factory=lambda: ["*"])

    def wants(self, event_type: str) -> bool:
        return "*" in self.enabled_events or event_type in self.enabled_events

    def public(self) -> dict[str, Any]:
        return {
            "url": self.url,
            "secret": self.secret,
            "secondary_secret": self.secondary_secret,
            "enabled_events": self.enabled_events,
        }


class StripeState:
    def __init__(self, api_key: str | None, prices: Mapping[str, Mapping[str, Any]] | None) -> None:
        self.api_key = api_key
        self.prices_config = dict(prices) if prices is not None else None
        self.reset()

    def reset(self) -> None:
        self.customers: dict[str, dict[str, Any]] = {}
        self.sessions: dict[str, dict[str, Any]] = {}
        self.line_items: dict[str, list[dict[str, Any]]] = {}
        self.subscriptions: dict[str, dict[str, Any]] = {}
        self.invoices: dict[str, dict[str, Any]] = {}
        self.prices: dict[str, dict[str, Any]] = {}
        self.events: dict[str, dict[str, Any]] = {}
        self.endpoints: list[Endpoint] = []
        self.deliveries: list[dict[str, Any]] = []
        self.requests: list[dict[str, Any]] = []
        self.subscription_metadata: dict[str, dict[str, str]] = {}  # by session: subscription_data[metadata]
        self.idempotency: dict[tuple[str, str], dict[str, Any]] = {}
        self.in_flight: set[tuple[str, str]] = set()
        self.fail_rules: list[FailRule] = []

    def snapshot(self) -> dict[str, Any]:
        return {
            "customers": list(self.customers.values()),
            "checkout_sessions": list(self.sessions.values()),
            "subscriptions": list(self.subscriptions.values()),
            "invoices": list(self.invoices.values()),
            "events": list(self.events.values()),
            "webhook_endpoints": [e.public() for e in self.endpoints],
            "deliveries": self.deliveries,
            "requests": self.requests,
            "idempotency_keys": [k for _, k in self.idempotency],
            "fail_rules": [vars(r) for r in self.fail_rules],
        }

    def price(self, price_id: str, param: str) -> dict[str, Any]:
        if price_id in self.prices:
            return self.prices[price_id]
        if self.prices_config is not None and price_id not in self.prices_config:
            raise missing("price", price_id, param)
        spec = (self.prices_config or {}).get(price_id, DEFAULT_PRICE)
        return self._make_price(price_id, spec)

    def _make_price(self, price_id: str, spec: Mapping[str, Any]) -> dict[str, Any]:
        recurring = spec.get("recurring")
        price = {
            "id": price_id,
            "object": "price",
            "active": True,
            "billing_scheme": "per_unit",
            "created": int(time.time()),
            "currency": str(spec.get("currency", "usd")).lower(),
            "livemode": False,
            "lookup_key": spec.get("lookup_key"),
            "metadata": dict(spec.get("metadata", {})),
            "nickname": spec.get("nickname"),
            "product": spec.get("product") or new_id("prod_", 14),
            "recurring": (
                {
                    "interval": recurring.get("interval", "month"),
                    "interval_count": int(recurring.get("interval_count", 1)),
                    "usage_type": "licensed",
                    "aggregate_usage": None,
                    "trial_period_days": None,
                }
                if recurring
                else None
            ),
            "tax_behavior": "unspecified",
            "type": "recurring" if recurring else "one_time",
            "unit_amount": int(spec.get("unit_amount", 0)),
            "unit_amount_decimal": str(spec.get("unit_amount", 0)),
        }
        self.prices[price_id] = price
        return price


STATE = web.AppKey("stripe_state", StripeState)
HTTP = web.AppKey("stripe_http", aiohttp.ClientSession)
OPTIONS = web.AppKey("stripe_options", dict)
API_KEY = web.RequestKey("stripe_api_key", str)
PARAMS = web.RequestKey("stripe_params", dict)


def state_of(request: web.Request) -> StripeState:
    return request.app[STATE]


def origin(request: web.Request) -> str:
    return public_origin(request, request.app[OPTIONS].get("public_url"))


# --- middlewares ---------------------------------------------------------------------------------


def _mask(key: str) -> str:
    return key[:8] + "*" * max(0, len(key) - 12) + key[-4:] if len(key) > 12 else key


def _api_key(request: web.Request) -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    if scheme.lower() == "basic":
        try:
            return base64.b64decode(value).decode().split(":", 1)[0] or None
        except (ValueError, UnicodeDecodeError):
            return None
    return None


@web.middleware
async def errors_mw(request: web.Request, handler: Any) -> web.StreamResponse:
    try:
        response = await handler(request)
    except StripeError as exc:
        response = exc.response()
    except web.HTTPNotFound:
        if not request.path.startswith("/v1/"):
            raise
        response = StripeError(
            404, f"Unrecognized request URL ({request.method}: {request.path})."
        ).response()
    if request.path.startswith("/v1/"):
        response.headers.setdefault("Request-Id", new_id("req_", 14))
        response.headers["Stripe-Version"] = request.headers.get("Stripe-Version", API_VERSION)
    return response


@web.middleware
async def fail_mw(request: web.Request, handler: Any) -> web.StreamResponse:
    rule = take_failure(state_of(request).fail_rules, request.path)
    if rule is None:
        return await handler(request)
    if rule.status == 429:
        err = StripeError(429, "Too many requests made to the API too quickly", code="rate_limit")
    else:
        err = StripeError(rule.status, "An unknown error occurred (injected)", type_="api_error")
    response = err.response()
    retryable = rule.status in (409, 429) or rule.status >= 500
    response.headers["Stripe-Should-Retry"] = "true" if retryable else "false"
    return response


@web.middleware
async def auth_mw(request: web.Request, handler: Any) -> web.StreamResponse:
    if not request.path.startswith("/v1/"):
        return await handler(request)
    st = state_of(request)
    key = _api_key(request)
    if key is None:
        raise StripeError(
            401,
            "You did not provide an API key. You need to provide your API key in the Authorization header, "
            "using Bearer auth (e.g. 'Authorization: Bearer YOUR_SECRET_KEY'). See https://stripe.com/docs/api#authentication "
            "for details, or we can help at https://support.stripe.com/.",
        )
    valid = key == st.api_key if st.api_key is not None else key.startswith("sk_test_")
    if not valid:
        raise StripeError(401, f"Invalid API Key provided: {_mask(key)}")
    request[API_KEY] = key
    body = await request.read()
    pairs = parse_qsl(
        body.decode() if request.method == "POST" else request.query_string, keep_blank_values=True
    )
    request[PARAMS] = parse_stripe_form(pairs)
    st.requests.append(
        {
            "method": request.method,
            "path": request.path,
            "params": request[PARAMS],
            "idempotency_key": request.headers.get("Idempotency-Key"),
            "stripe_version": request.headers.get("Stripe-Version"),
        }
    )
    idem = request.headers.get("Idempotency-Key")
    if request.method != "POST" or not idem:
        return await handler(request)
    if len(idem) > 255:
        raise StripeError(
            400, "Idempotency-Key must be at most 255 characters long.", type_="idempotency_error"
        )
    slot = (key, idem)
    fingerprint = [request.method, request.path, sorted(pairs)]
    saved = st.idempotency.get(slot)
    if saved is not None:
        if saved["fingerprint"][:2] != fingerprint[:2]:
            raise StripeError(
                400,
                "Keys for idempotent requests can only be used for the same endpoint they were first used for "
                f"('{saved['fingerprint'][0]} {saved['fingerprint'][1]}'). Try using a key other than '{idem}' "
                "if you meant to execute a different request.",
                type_="idempotency_error",
            )
        if saved["fingerprint"] != fingerprint:
            raise StripeError(
                400,
                "Keys for idempotent requests can only be used with the same parameters they were first used "
                f"with. Try using a key other than '{idem}' if you meant to execute a different request.",
                type_="idempotency_error",
            )
        return web.Response(
            body=saved["body"],
            status=saved["status"],
            content_type="application/json",
            headers={
                "Idempotent-Replayed": "true",
                "Idempotency-Key": idem,
                "Original-Request": saved["request_id"],
            },
        )
    if slot in st.in_flight:
        raise StripeError(
            409,
            "There is currently another in-progress request using this Idempotent Key (that probably means you "
            "submitted twice, and the other request is still going through): " + idem,
            type_="idempotency_error",
        )
    st.in_flight.add(slot)
    try:
        try:
            response = await handler(request)
        except StripeError as exc:
            response = exc.response()
    finally:
        st.in_flight.discard(slot)
    request_id = new_id("req_", 14)
    response.headers["Request-Id"] = request_id
    response.headers["Idempotency-Key"] = idem
    # Stripe does not save results of requests that failed validation (4xx); it does save the rest.
    if isinstance(response, web.Response) and not 400 <= response.status < 500:
        st.idempotency[slot] = {
            "fingerprint": fingerprint,
            "status": response.status,
            "body": response.body,
            "request_id": request_id,
        }
    return response


# --- API handlers ---------------------------------------------------------------------------


def _customer(st: StripeState, params: Mapping[str, Any]) -> dict[str, Any]:
    cid = new_id("cus_", 14)
    customer = {
        "id": cid,
        "object": "customer",
        "address": None,
        "balance": 0,
        "created": int(time.time()),
        "currency": None,
        "default_source": None,
        "delinquent": False,
        "description": params.get("description"),
        "discount": None,
        "email": params.get("email"),
        "invoice_prefix": secrets.token_hex(4).upper(),
        "invoice_settings": {
            "custom_fields": None,
            "default_payment_method": None,
            "footer": None,
            "rendering_options": None,
        },
        "livemode": False,
        "metadata": check_metadata(params.get("metadata")),
        "name": params.get("name"),
        "next_invoice_sequence": 1,
        "phone": params.get("phone"),
        "preferred_locales": params.get("preferred_locales") or [],
        "shipping": None,
        "tax_exempt": params.get("tax_exempt", "none"),
        "test_clock": None,
    }
    st.customers[cid] = customer
    return customer


async def create_customer(request: web.Request) -> web.Response:
    params = request[PARAMS]
    check_params(params, CUSTOMER_PARAMS)
    return web.json_response(_customer(state_of(request), params))


async def get_customer(request: web.Request) -> web.Response:
    cid = request.match_info["id"]
    customer = state_of(request).customers.get(cid)
    if customer is None:
        raise missing("customer", cid)
    return web.json_response(customer)


async def update_customer(request: web.Request) -> web.Response:
    cid = request.match_info["id"]
    params = request[PARAMS]
    check_params(params, CUSTOMER_PARAMS)
    customer = state_of(request).customers.get(cid)
    if customer is None:
        raise missing("customer", cid)
    for name in ("description", "email", "name", "phone"):
        if name in params:
            customer[name] = params[name] or None
    if "metadata" in params:
        raw = params["metadata"]
        if raw == "":
            customer["metadata"] = {}
        else:
            check_metadata(raw)
            for k, v in raw.items():
                if v == "":
                    customer["metadata"].pop(k, None)
                else:
                    customer["metadata"][k] = v
    return web.json_response(customer)


def _line_items(st: StripeState, raw: Any) -> list[dict[str, Any]]:
    if not isinstance(raw, list) or not raw:
        raise StripeError(400, "Invalid array", param="line_items")
    items = []
    for i, entry in enumerate(raw):
        param = f"line_items[{i}]"
        if not isinstance(entry, dict):
            raise StripeError(400, "Invalid hash", param=param)
        if "price" in entry:
            price = st.price(entry["price"], f"{param}[price]")
        elif isinstance(entry.get("price_data"), dict):
            pd = entry["price_data"]
            if "currency" not in pd or "unit_amount" not in pd:
                raise StripeError(
                    400, f"Missing required param: {param}[price_data][currency].", code="parameter_missing"
                )
            price = st._make_price(
                new_id("price_", 24),
                {
                    "currency": pd["currency"],
                    "unit_amount": to_int(pd["unit_amount"], f"{param}[price_data][unit_amount]"),
                    "recurring": pd.get("recurring"),
                    "product": pd.get("product"),
                },
            )
        else:
            raise StripeError(
                400,
                f"You must specify either `price` or `price_data` in {param}.",
                code="parameter_missing",
                param=param,
            )
        if "quantity" not in entry:
            raise StripeError(400, f"Missing required param: {param}[quantity].", code="parameter_missing")
        quantity = to_int(entry["quantity"], f"{param}[quantity]")
        if quantity < 1:
            raise StripeError(400, "Quantity must be at least 1.", param=f"{param}[quantity]")
        amount = price["unit_amount"] * quantity
        items.append(
            {
                "id": new_id("li_", 24),
                "object": "item",
                "amount_discount": 0,
                "amount_subtotal": amount,
                "amount_tax": 0,
                "amount_total": amount,
                "currency": price["currency"],
                "description": None,
                "price": price,
                "quantity": quantity,
            }
        )
    return items


async def create_session(request: web.Request) -> web.Response:
    st = state_of(request)
    params = request[PARAMS]
    check_params(params, SESSION_PARAMS)
    mode = params.get("mode")
    if mode is None:
        raise StripeError(400, "Missing required param: mode.", code="parameter_missing", param="mode")
    if mode not in ("payment", "setup", "subscription"):
        raise StripeError(
            400,
            "Invalid mode: must be one of payment, setup, or subscription",
            code="parameter_invalid_string",
        )
    customer_id, email = params.get("customer"), params.get("customer_email")
    if customer_id and email:
        raise StripeError(400, "You may only specify one of these parameters: customer, customer_email.")
    if customer_id and customer_id not in st.customers:
        raise missing("customer", customer_id, "customer")
    items: list[dict[str, Any]] = []
    if mode in ("payment", "subscription"):
        if "line_items" not in params:
            raise StripeError(
                400,
                f"`line_items` is required in `{mode}` mode.",
                code="parameter_missing",
                param="line_items",
            )
        items = _line_items(st, params["line_items"])
        recurring = [it for it in items if it["price"]["recurring"]]
        if mode == "subscription" and not recurring:
            raise StripeError(
                400,
                "You must provide at least one recurring price in `subscription` mode when using prices.",
                param="line_items",
            )
        if mode == "payment" and recurring:
            raise StripeError(
                400,
                "You specified `payment` mode but passed a recurring price. Either switch to `subscription` "
                "mode or use only one-time prices.",
                param="line_items",
            )
        if len({it["currency"] for it in items}) > 1:
            raise StripeError(400, "All prices must use the same currency.", param="line_items")
    for url_param in ("success_url", "cancel_url"):
        url = params.get(url_param)
        if url is not None and not re.match(r"^https?://", url):
            raise StripeError(400, "Not a valid URL", code="url_invalid", param=url_param)
    sub_data = params.get("subscription_data") or {}
    if sub_data and mode != "subscription":
        raise StripeError(
            400, "You can only specify `subscription_data` in `subscription` mode.", param="subscription_data"
        )
    sub_metadata = check_metadata(sub_data.get("metadata"), "subscription_data[metadata]")
    now = int(time.time())
    sid = "cs_test_" + "".join(secrets.choice(_ALNUM) for _ in range(58))
    total = sum(it["amount_total"] for it in items)
    session = {
        "id": sid,
        "object": "checkout.session",
        "after_expiration": None,
        "allow_promotion_codes": None,
        "amount_subtotal": total if items else None,
        "amount_total": total if items else None,
        "automatic_tax": {"enabled": False, "liability": None, "status": None},
        "billing_address_collection": params.get("billing_address_collection"),
        "cancel_url": params.get("cancel_url"),
        "client_reference_id": params.get("client_reference_id"),
        "client_secret": None,
        "consent": None,
        "created": now,
        "currency": items[0]["currency"] if items else params.get("currency"),
        "custom_fields": [],
        "customer": customer_id,
        "customer_creation": None if customer_id or mode == "subscription" else "if_required",
        "customer_details": None,
        "customer_email": email,
        "expires_at": now + 24 * 3600,
        "invoice": None,
        "livemode": False,
        "locale": params.get("locale"),
        "metadata": check_metadata(params.get("metadata")),
        "mode": mode,
        "payment_intent": None,
        "payment_link": None,
        "payment_method_collection": "always" if mode == "subscription" else None,
        "payment_method_types": params.get("payment_method_types") or ["card"],
        "payment_status": "no_payment_required" if mode == "setup" else "unpaid",
        "setup_intent": None,
        "status": "open",
        "submit_type": params.get("submit_type"),
        "subscription": None,
        "success_url": params.get("success_url"),
        "total_details": {"amount_discount": 0, "amount_shipping": 0, "amount_tax": 0},
        "ui_mode": params.get("ui_mode", "hosted"),
        "url": f"{origin(request)}/checkout/{sid}",
    }
    st.sessions[sid] = session
    st.line_items[sid] = items
    st.subscription_metadata[sid] = sub_metadata
    body = dict(session)
    if "line_items" in expand_list(params):
        body["line_items"] = _list(items, f"/v1/checkout/sessions/{sid}/line_items")
    return web.json_response(body)


def _list(data: list[dict[str, Any]], url: str) -> dict[str, Any]:
    return {"object": "list", "data": data, "has_more": False, "url": url}


def _session(request: web.Request) -> dict[str, Any]:
    sid = request.match_info["id"]
    session = state_of(request).sessions.get(sid)
    if session is None:
        raise missing("checkout.session", sid)
    return session


async def get_session(request: web.Request) -> web.Response:
    session = _session(request)
    body = dict(session)
    if "line_items" in expand_list(request[PARAMS]):
        items = state_of(request).line_items[session["id"]]
        body["line_items"] = _list(items, f"/v1/checkout/sessions/{session['id']}/line_items")
    return web.json_response(body)


async def get_session_line_items(request: web.Request) -> web.Response:
    session = _session(request)
    items = state_of(request).line_items[session["id"]]
    return web.json_response(_list(items, f"/v1/checkout/sessions/{session['id']}/line_items"))


async def expire_session(request: web.Request) -> web.Response:
    session = _session(request)
    if session["status"] != "open":
        raise StripeError(
            400,
            f'Only Checkout Sessions with a status in ["open"] can be expired. This Checkout Session has a '
            f'status of "{session["status"]}".',
        )
    session["status"] = "expired"
    session["url"] = None
    await emit(request.app, "checkout.session.expired", session)
    return web.json_response(session)


def _by_id(request: web.Request, kind: str, table: dict[str, dict[str, Any]]) -> dict[str, Any]:
    ident = request.match_info["id"]
    if ident not in table:
        raise missing(kind, ident)
    return table[ident]


async def get_subscription(request: web.Request) -> web.Response:
    return web.json_response(_by_id(request, "subscription", state_of(request).subscriptions))


async def cancel_subscription_api(request: web.Request) -> web.Response:
    sub = _by_id(request, "subscription", state_of(request).subscriptions)
    await cancel_subscription(request.app, sub, {})
    return web.json_response(sub)


async def get_invoice(request: web.Request) -> web.Response:
    return web.json_response(_by_id(request, "invoice", state_of(request).invoices))


async def get_event(request: web.Request) -> web.Response:
    return web.json_response(_by_id(request, "event", state_of(request).events))


async def list_events(request: web.Request) -> web.Response:
    params = request[PARAMS]
    events = sorted(state_of(request).events.values(), key=lambda e: e["created"], reverse=True)
    if "type" in params:
        events = [e for e in events if e["type"] == params["type"]]
    limit = to_int(params.get("limit", 10), "limit")
    return web.json_response(
        {"object": "list", "data": events[:limit], "has_more": len(events) > limit, "url": "/v1/events"}
    )


# --- billing flow and webhooks ---------------------------------------------------------------


def _period(price: Mapping[str, Any], start: int) -> int:
    rec = price.get("recurring") or {"interval": "month", "interval_count": 1}
    return start + INTERVAL_SECONDS[rec["interval"]] * int(rec.get("interval_count", 1))


def _invoice(
    st: StripeState, sub: dict[str, Any], *, paid: bool, reason: str, start: int, end: int
) -> dict[str, Any]:
    iid = new_id("in_", 24)
    amount = sum(item["price"]["unit_amount"] * item["quantity"] for item in sub["items"]["data"])
    number = f"{st.customers[sub['customer']]['invoice_prefix']}-{len(st.invoices) + 1:04d}"
    invoice = {
        "id": iid,
        "object": "invoice",
        "account_country": "US",
        "amount_due": amount,
        "amount_paid": amount if paid else 0,
        "amount_remaining": 0 if paid else amount,
        "attempt_count": 1,
        "attempted": True,
        "billing_reason": reason,
        "collection_method": "charge_automatically",
        "created": int(time.time()),
        "currency": sub["currency"],
        "customer": sub["customer"],
        "customer_email": st.customers[sub["customer"]]["email"],
        "hosted_invoice_url": f"https://invoice.stripe.com/i/fake/{iid}",
        "invoice_pdf": f"https://pay.stripe.com/invoice/fake/{iid}/pdf",
        "lines": {
            "object": "list",
            "data": [
                {
                    "id": new_id("il_", 24),
                    "object": "line_item",
                    "amount": item["price"]["unit_amount"] * item["quantity"],
                    "currency": sub["currency"],
                    "period": {"start": start, "end": end},
                    "price": item["price"],
                    "quantity": item["quantity"],
                    "subscription": sub["id"],
                    "type": "subscription",
                }
                for item in sub["items"]["data"]
            ],
            "has_more": False,
            "url": f"/v1/invoices/{iid}/lines",
        },
        "livemode": False,
        "metadata": {},
        "next_payment_attempt": None if paid else int(time.time()) + 3 * 86400,
        "number": number,
        "paid": paid,
        "parent": {
            "quote_details": None,
            "subscription_details": {"metadata": dict(sub["metadata"]), "subscription": sub["id"]},
            "type": "subscription_details",
        },
        "period_end": end,
        "period_start": start,
        "status": "paid" if paid else "open",
        "subscription": sub["id"],
        "subscription_details": {"metadata": dict(sub["metadata"])},
        "subtotal": amount,
        "total": amount,
    }
    st.invoices[iid] = invoice
    sub["latest_invoice"] = iid
    return invoice


async def complete_checkout(app: web.Application, session: dict[str, Any], opts: Mapping[str, Any]) -> list:
    st = app[STATE]
    if session["status"] != "open":
        raise StripeError(400, f"Checkout Session {session['id']} is {session['status']}, not open.")
    if session["customer"] is None:
        customer = _customer(st, {"email": session["customer_email"]})
        session["customer"] = customer["id"]
    customer = st.customers[session["customer"]]
    session["status"] = "complete"
    session["payment_status"] = "paid" if session["mode"] != "setup" else "no_payment_required"
    session["url"] = None
    session["customer_details"] = {
        "address": None,
        "email": customer["email"] or session["customer_email"],
        "name": customer["name"],
        "phone": None,
        "tax_exempt": "none",
        "tax_ids": [],
    }
    events = []
    if session["mode"] == "subscription":
        now = int(time.time())
        items = st.line_items[session["id"]]
        end = _period(items[0]["price"], now)
        sub_id = new_id("sub_", 24)
        sub = {
            "id": sub_id,
            "object": "subscription",
            "billing_cycle_anchor": now,
            "cancel_at": None,
            "cancel_at_period_end": False,
            "canceled_at": None,
            "collection_method": "charge_automatically",
            "created": now,
            "currency": items[0]["currency"],
            "current_period_end": end,
            "current_period_start": now,
            "customer": customer["id"],
            "default_payment_method": new_id("pm_", 24),
            "ended_at": None,
            "items": {
                "object": "list",
                "data": [
                    {
                        "id": new_id("si_", 14),
                        "object": "subscription_item",
                        "created": now,
                        "current_period_end": end,
                        "current_period_start": now,
                        "metadata": {},
                        "price": it["price"],
                        "quantity": it["quantity"],
                        "subscription": sub_id,
                    }
                    for it in items
                ],
                "has_more": False,
                "total_count": len(items),
                "url": f"/v1/subscription_items?subscription={sub_id}",
            },
            "latest_invoice": None,
            "livemode": False,
            "metadata": dict(st.subscription_metadata.get(session["id"], {})),
            "start_date": now,
            "status": "active",
            "trial_end": None,
            "trial_start": None,
        }
        st.subscriptions[sub_id] = sub
        invoice = _invoice(st, sub, paid=True, reason="subscription_create", start=now, end=end)
        session["subscription"] = sub_id
        session["invoice"] = invoice["id"]
        events.append(await emit(app, "checkout.session.completed", session, opts))
        events.append(await emit(app, "invoice.paid", invoice, opts))
    else:
        if session["mode"] == "payment":
            session["payment_intent"] = new_id("pi_", 24)
        events.append(await emit(app, "checkout.session.completed", session, opts))
    return events


async def cancel_subscription(app: web.Application, sub: dict[str, Any], opts: Mapping[str, Any]) -> list:
    if sub["status"] == "canceled":
        raise StripeError(
            400,
            f"A canceled subscription can only update its cancellation_details and metadata. {sub['id']}",
            code="resource_missing",
        )
    now = int(time.time())
    sub.update(status="canceled", canceled_at=now, ended_at=now)
    sub["cancellation_details"] = {"comment": None, "feedback": None, "reason": "cancellation_requested"}
    return [await emit(app, "customer.subscription.deleted", sub, opts)]


def sign(payload: str, secret: str, timestamp: int) -> str:
    return hmac.new(secret.encode(), f"{timestamp}.{payload}".encode(), hashlib.sha256).hexdigest()


async def emit(
    app: web.Application, event_type: str, obj: Mapping[str, Any], opts: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    st = app[STATE]
    endpoints = [e for e in st.endpoints if e.wants(event_type)]
    event = {
        "id": new_id("evt_", 24),
        "object": "event",
        "api_version": app[OPTIONS]["api_version"],
        "created": int(time.time()),
        "data": {"object": json.loads(json.dumps(obj))},
        "livemode": False,
        "pending_webhooks": len(endpoints),
        "request": {"id": None, "idempotency_key": None},
        "type": event_type,
    }
    st.events[event["id"]] = event
    for endpoint in endpoints:
        await deliver(app, endpoint, event, opts or {})
    return event


async def deliver(
    app: web.Application, endpoint: Endpoint, event: Mapping[str, Any], opts: Mapping[str, Any]
) -> dict[str, Any]:
    payload = json.dumps(event, indent=2)
    timestamp = int(time.time()) + int(opts.get("timestamp_offset", 0))
    header = f"t={timestamp},v1={sign(payload, endpoint.secret, timestamp)}"
    if endpoint.secondary_secret:
        header += f",v1={sign(payload, endpoint.secondary_secret, timestamp)}"
    body = payload
    if opts.get("tamper"):
        body = payload.replace('"livemode": false', '"livemode": true', 1)
    record: dict[str, Any] = {
        "event_id": event["id"],
        "type": event["type"],
        "url": endpoint.url,
        "signature": header,
        "tampered": bool(opts.get("tamper")),
        "timestamp": timestamp,
        "status": None,
        "error": None,
    }
    try:
        async with app[HTTP].post(
            endpoint.url,
            data=body.encode(),
            headers={
                "Content-Type": "application/json; charset=utf-8",
                "Stripe-Signature": header,
                "User-Agent": "Stripe/1.0 (+https://stripe.com/docs/webhooks)",
                "Cache-Control": "no-cache",
            },
            timeout=aiohttp.ClientTimeout(total=app[OPTIONS]["webhook_timeout"]),
        ) as resp:
            record["status"] = resp.status
            record["response"] = (await resp.text())[:2000]
    except (TimeoutError, aiohttp.ClientError) as exc:
        record["error"] = f"{type(exc).__name__}: {exc}"
    app[STATE].deliveries.append(record)
    return record


# --- controls --------------------------------------------------------------------------------


async def fake_state(request: web.Request) -> web.Response:
    return web.json_response(state_of(request).snapshot())


async def fake_reset(request: web.Request) -> web.Response:
    state_of(request).reset()
    return web.json_response({"ok": True})


async def fake_add_endpoint(request: web.Request) -> web.Response:
    data = await json_object(request)
    if "url" not in data:
        raise web.HTTPBadRequest(text="url is required")
    endpoint = Endpoint(
        url=data["url"],
        secret=data.get("secret") or "whsec_" + secrets.token_urlsafe(24),
        secondary_secret=data.get("secondary_secret"),
        enabled_events=list(data.get("enabled_events") or ["*"]),
    )
    state_of(request).endpoints.append(endpoint)
    return web.json_response(endpoint.public())


def _control(fn: Any) -> Any:
    async def handler(request: web.Request) -> web.Response:
        before = len(state_of(request).deliveries)
        try:
            events = await fn(request, await json_object(request))
        except StripeError as exc:
            return exc.response()
        deliveries = state_of(request).deliveries[before:]
        return web.json_response({"events": events, "deliveries": deliveries})

    return handler


async def _complete(request: web.Request, opts: dict[str, Any]) -> list:
    return await complete_checkout(request.app, _session(request), opts)


async def _fail_payment(request: web.Request, opts: dict[str, Any]) -> list:
    st = state_of(request)
    sub = _by_id(request, "subscription", st.subscriptions)
    now = int(time.time())
    end = _period(sub["items"]["data"][0]["price"], now)
    invoice = _invoice(st, sub, paid=False, reason="subscription_cycle", start=now, end=end)
    sub["status"] = "past_due"
    return [await emit(request.app, "invoice.payment_failed", invoice, opts)]


async def _cancel(request: web.Request, opts: dict[str, Any]) -> list:
    sub = _by_id(request, "subscription", state_of(request).subscriptions)
    return await cancel_subscription(request.app, sub, opts)


async def _redeliver(request: web.Request, opts: dict[str, Any]) -> list:
    event = _by_id(request, "event", state_of(request).events)
    for endpoint in state_of(request).endpoints:
        if endpoint.wants(event["type"]):
            await deliver(request.app, endpoint, event, opts)
    return [event]


# --- hosted checkout page (for a person clicking through the dev stack) ---------------------------


async def checkout_page(request: web.Request) -> web.Response:
    session = _session(request)
    items = state_of(request).line_items.get(session["id"], [])
    rows = "".join(
        f"<li>{html.escape(it['price']['id'])} x {it['quantity']}: {it['amount_total'] / 100:.2f} "
        f"{it['currency'].upper()}</li>"
        for it in items
    )
    sid = html.escape(session["id"])
    page = (
        "<!doctype html><title>Fake Stripe Checkout</title><h1>Fake Stripe Checkout</h1>"
        f"<p>Session {sid} ({html.escape(session['status'])})</p><ul>{rows}</ul>"
        f'<form method="post" action="/checkout/{sid}/pay"><button>Pay</button></form>'
        f'<form method="post" action="/checkout/{sid}/cancel"><button>Cancel</button></form>'
    )
    return web.Response(text=page, content_type="text/html")


async def checkout_pay(request: web.Request) -> web.Response:
    session = _session(request)
    if session["status"] == "open":
        await complete_checkout(request.app, session, {})
    target = (session["success_url"] or "/").replace("{CHECKOUT_SESSION_ID}", session["id"])
    raise web.HTTPSeeOther(target)


async def checkout_cancel(request: web.Request) -> web.Response:
    session = _session(request)
    raise web.HTTPSeeOther(session["cancel_url"] or "/")


# --- app -------------------------------------------------------------------------------------------


def make_app(
    *,
    api_key: str | None = DEFAULT_API_KEY,
    prices: Mapping[str, Mapping[str, Any]] | None = None,
    api_version: str = API_VERSION,
    public_url: str | None = None,
    webhook_timeout: float = 10.0,
) -> web.Application:
    """`api_key=None` accepts any `sk_test_` key. `prices` maps price ids to {"unit_amount", "currency",
    "recurring": {"interval"}}; when given, other price ids are `resource_missing` (else any id is a
    20.00 USD monthly price). `public_url` overrides the origin used in Checkout `url`s."""
    app = web.Application(middlewares=[errors_mw, fail_mw, auth_mw])
    app[STATE] = StripeState(api_key, prices)
    app[OPTIONS] = {
        "api_version": api_version,
        "public_url": public_url,
        "webhook_timeout": webhook_timeout,
    }

    async def http_session(app: web.Application) -> Any:
        app[HTTP] = aiohttp.ClientSession()
        yield
        await app[HTTP].close()

    app.cleanup_ctx.append(http_session)
    app.router.add_post("/v1/customers", create_customer)
    app.router.add_get("/v1/customers/{id}", get_customer)
    app.router.add_post("/v1/customers/{id}", update_customer)
    app.router.add_post("/v1/checkout/sessions", create_session)
    app.router.add_get("/v1/checkout/sessions/{id}", get_session)
    app.router.add_get("/v1/checkout/sessions/{id}/line_items", get_session_line_items)
    app.router.add_post("/v1/checkout/sessions/{id}/expire", expire_session)
    app.router.add_get("/v1/subscriptions/{id}", get_subscription)
    app.router.add_delete("/v1/subscriptions/{id}", cancel_subscription_api)
    app.router.add_get("/v1/invoices/{id}", get_invoice)
    app.router.add_get("/v1/events", list_events)
    app.router.add_get("/v1/events/{id}", get_event)
    app.router.add_get("/checkout/{id}", checkout_page)
    app.router.add_post("/checkout/{id}/pay", checkout_pay)
    app.router.add_post("/checkout/{id}/cancel", checkout_cancel)
    app.router.add_get("/_fake/state", fake_state)
    app.router.add_post("/_fake/reset", fake_reset)
    app.router.add_post("/_fake/fail", failure_control(lambda r: state_of(r).fail_rules))
    app.router.add_post("/_fake/webhook_endpoints", fake_add_endpoint)
    app.router.add_post("/_fake/complete_checkout/{id}", _control(_complete))
    app.router.add_post("/_fake/fail_payment/{id}", _control(_fail_payment))
    app.router.add_post("/_fake/cancel/{id}", _control(_cancel))
    app.router.add_post("/_fake/redeliver/{id}", _control(_redeliver))
    return app


def main() -> None:
    run_cli("stripe", make_app, DEFAULT_PORT)


if __name__ == "__main__":
    main()
