"""Fake Mautic 5 REST API: stages, segments, campaigns, point actions and point triggers with
list/get/new/edit/delete and batch calls, the stats tables our funnel reports read, HTTP Basic and
OAuth2 client-credentials auth, the hourly rate limit, and Mautic's wire quirks (listed where each
is reproduced), so campaign_management's Mautic client runs offline against `<url>`.

Behaviour follows Mautic's controllers (ApiBundle's FetchCommonApiController/CommonApiController,
StatsApiController, ApiSubscriber, the FOS oauth2-php token endpoint, noxlogic's rate limiter).
Every error is `{"errors": [{"code", "message", "details", "type"}]}`.

Control (no auth, not Mautic): `POST /_fake/fail {"path_prefix", "status", "count", "retry_after",
"method"?}`, `POST /_fake/stats {"<table>": [rows]}`, `POST /_fake/advance {"seconds": n}` (moves
the fake's clock: token expiry and the rate-limit hour without sleeping), `GET /_fake/state`,
`POST /_fake/reset`.
"""

from __future__ import annotations

import base64
import binascii
import copy
import math
import re
import secrets
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http import HTTPStatus
from typing import Any

from aiohttp import web

from fakes._server import run_cli

Json = dict[str, Any]
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

MAUTIC_VERSION = "5.1.1"
BATCH_LIMIT = 200  # Mautic's `api_batch_max_limit` default
# validateBatchPayload() calls returnError() without a code, whose default is HTTP 500.
BATCH_LIMIT_STATUS = 500
DEFAULT_PAGE_LIMIT = 30  # Mautic's `default_pagelimit`
STATS_DEFAULT_LIMIT = 100
RATE_WINDOW = 3600.0
NOT_FOUND = "Item was not found."
NAME_REQUIRED = "A name is required."


@dataclass(frozen=True)
class Resource:
    name: str  # state key
    path: str  # under /api
    one: str  # item key
    many: str  # list key
    defaults: Json


_NULLS = "dateAdded dateModified modifiedBy modifiedByUser name description category publishUp publishDown"
_COMMON: Json = {**dict.fromkeys(_NULLS.split()), "isPublished": True, "createdBy": 1, "createdByUser": "API"}
SEGMENT_DEFAULTS = {
    "alias": None,
    "publicName": None,
    "filters": [],
    "isGlobal": True,
    "isPreferenceCenter": False,
}
CAMPAIGN_DEFAULTS = {"events": [], "lists": [], "forms": [], "canvasSettings": {}, "allowRestart": False}
POINT_DEFAULTS = {"type": None, "delta": 0, "properties": {}, "repeatable": False}
TRIGGER_DEFAULTS = {"points": 0, "color": "a0acb8", "triggerExistingLeads": False, "events": []}
RESOURCES = (
    Resource("stages", "stages", "stage", "stages", {"weight": 0}),
    Resource("segments", "segments", "list", "lists", SEGMENT_DEFAULTS),
    Resource("campaigns", "campaigns", "campaign", "campaigns", CAMPAIGN_DEFAULTS),
    Resource("points", "points", "point", "points", POINT_DEFAULTS),
    Resource("triggers", "points/triggers", "trigger", "triggers", TRIGGER_DEFAULTS),
)
_EMAIL_STATS = "copy_id date_read date_sent email_address email_id id ip_id is_failed is_read last_opened"
_EMAIL_STATS += " lead_id list_id open_count open_details retry_count source source_id tokens tracking_hash"
STATS_COLUMNS: dict[str, list[str]] = {
    "email_stats": [*_EMAIL_STATS.split(), "viewed_in_browser"],
    "lead_stages_change_log": ["action_name", "date_added", "event_name", "id", "lead_id", "stage_id"],
}


@dataclass
class MauticState:
    username: str
    password: str
    client_id: str
    client_secret: str
    token_ttl: float
    hourly_limit: int
    items: dict[str, dict[int, Json]] = field(default_factory=lambda: {r.name: {} for r in RESOURCES})
    last_id: Counter[str] = field(default_factory=Counter)
    stats: dict[str, list[Json]] = field(default_factory=lambda: {t: [] for t in STATS_COLUMNS})
    tokens: dict[str, Json] = field(default_factory=dict)
    windows: dict[str, tuple[float, int]] = field(default_factory=dict)
    failures: list[Json] = field(default_factory=list)
    requests: Counter[str] = field(default_factory=Counter)
    clock_offset: float = 0.0

    def now(self) -> float:
        return time.time() + self.clock_offset

    def next_id(self, kind: str) -> int:
        self.last_id[kind] += 1
        return self.last_id[kind]

    def reset(self) -> None:
        for table in (*self.items.values(), *self.stats.values(), self.tokens, self.windows):
            table.clear()
        for counter in (self.last_id, self.requests, self.failures):
            counter.clear()
        self.clock_offset = 0.0


STATE = web.AppKey("mautic_state", MauticState)


def mautic_state(app: web.Application) -> MauticState:
    """The fake's state, for in-process inspection by tests."""
    return app[STATE]


class ApiError(Exception):
    """Mautic's returnError(): one error entry, answered as `{"errors": [entry]}`."""

    def __init__(
        self, status: int, message: str, *, details: Any = None, type_: str | None = None, headers: Any = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.entry = {
            "code": status,
            "message": message,
            "details": [] if details is None else details,
            "type": type_,
        }
        self.headers = headers

    def response(self) -> web.Response:
        return web.json_response({"errors": [self.entry]}, status=self.status, headers=self.headers)


def _php_array(entries: dict[int, Any]) -> list[Any] | dict[str, Any]:
    """PHP's json_encode: an array keyed 0..n-1 is a JSON list (so an empty one is `[]`, never
    `{}`), any other keys make it an object. Hence id-keyed lists, and batch answers whose failed
    items leave holes turning into objects keyed by the request index."""
    if list(entries) == list(range(len(entries))):
        return list(entries.values())
    return {str(key): value for key, value in entries.items()}


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="seconds")


def _int(value: Any, default: int | None = None) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


def _sort_key(value: Any) -> tuple[int, Any]:
    try:
        return (0, float(value))
    except (TypeError, ValueError):
        return (1, "" if value is None else str(value))


# --- auth, rate limit, injected failures ---------------------------------------------------------


def _basic(value: str) -> tuple[str, str]:
    try:
        user, _, password = base64.b64decode(value.strip()).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return "", ""
    return user, password


def _authenticate(request: web.Request, state: MauticState) -> str:
    """The /api firewall: Basic or a bearer token (header or `access_token` query). Failures are
    401s as rewritten by Mautic's ApiSubscriber. Answers the rate-limit key of the credential."""
    scheme, _, value = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() == "basic":
        if _basic(value) == (state.username, state.password):
            return f"basic:{state.username}"
        raise ApiError(401, "Authorization denied, invalid credentials.", type_="access_denied")
    token = value.strip() if scheme.lower() == "bearer" else request.query.get("access_token", "")
    grant = state.tokens.get(token)
    if not token:
        raise ApiError(401, "API authorization denied.", type_="access_denied")
    if grant is None or grant["expires_at"] <= state.now():
        message = f"The access token provided {'is invalid' if grant is None else 'has expired'}."
        challenge = f'Bearer realm="Service", error="invalid_grant", error_description="{message}"'
        raise ApiError(401, message, type_="invalid_grant", headers={"WWW-Authenticate": challenge})
    return f"oauth:{grant['client_id']}"


def _spend(state: MauticState, key: str) -> dict[str, str]:
    """One request off the credential's hourly budget (noxlogic rate limiter on /api, period
    3600 s); answers its X-RateLimit-* headers, or raises the 429 with Retry-After added."""
    now, limit = state.now(), state.hourly_limit
    start, used = state.windows.get(key, (now, 0))
    if now - start >= RATE_WINDOW:
        start, used = now, 0
    allowed = used < limit
    state.windows[key] = (start, used + allowed)
    reset = start + RATE_WINDOW
    headers = {
        "X-RateLimit-Limit": str(limit),
        "X-RateLimit-Remaining": str(max(limit - used - allowed, 0)),
        "X-RateLimit-Reset": str(int(reset)),
    }
    if not allowed:
        headers["Retry-After"] = str(max(1, math.ceil(reset - now)))
        raise ApiError(429, f"You exceeded the rate limit of {limit} API calls per hour.", headers=headers)
    return headers


def _injected(request: web.Request, state: MauticState) -> ApiError | None:
    """The next failure armed by /_fake/fail for this path (and method, if given)."""
    for rule in state.failures:
        armed = rule["count"] > 0 and rule.get("method") in (None, request.method)
        if armed and request.path.startswith(rule["path_prefix"]):
            rule["count"] -= 1
            status = rule["status"]
            if status == 429:
                message = f"You exceeded the rate limit of {state.hourly_limit} API calls per hour."
            else:
                message = rule.get("message") or HTTPStatus(status).phrase
            retry = {"Retry-After": str(int(rule["retry_after"]))} if status in (429, 503) else None
            return ApiError(status, message, headers=retry)
    return None


@web.middleware
async def _gate(request: web.Request, handler: Handler) -> web.StreamResponse:
    state = request.app[STATE]
    if request.path.startswith("/_fake/"):
        return await handler(request)
    resource = request.match_info.route.resource
    state.requests[f"{request.method} {resource.canonical if resource else request.path}"] += 1
    try:
        if (failure := _injected(request, state)) is not None:
            raise failure
        limits = _spend(state, _authenticate(request, state)) if request.path.startswith("/api") else {}
        response = await handler(request)
        response.headers.update(limits)
        return response
    except ApiError as exc:
        return exc.response()
    except web.HTTPException as exc:
        message = f"Requested URL not found: {request.path}" if exc.status == 404 else exc.reason
        return ApiError(exc.status, message).response()


async def _payload(request: web.Request) -> Any:
    """JSON or form bodies, as FOSRest's body listener accepts them."""
    if request.content_type in ("application/x-www-form-urlencoded", "multipart/form-data"):
        return dict(await request.post())
    if not request.can_read_body:
        return {}
    try:
        return await request.json()
    except ValueError:
        raise ApiError(400, "Invalid json message received") from None


# --- OAuth2 ----------------------------------------------------------------------------------------


async def _token(request: web.Request) -> web.Response:
    """`POST /oauth/v2/token`, client-credentials grant. oauth2-php answers bad clients and grant
    types with 400 (not 401); ApiSubscriber rewrites its {"error"} into the errors list."""
    state = request.app[STATE]
    form = await _payload(request)
    form = form if isinstance(form, dict) else {}
    client_id, secret = form.get("client_id"), form.get("client_secret")
    scheme, _, value = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() == "basic":  # oauth2-php takes client credentials from Basic auth too
        client_id, secret = _basic(value)
    grant_type = form.get("grant_type")
    if not grant_type:
        raise ApiError(400, "Invalid grant_type parameter or parameter missing", type_="invalid_request")
    if (client_id, secret) != (state.client_id, state.client_secret):
        raise ApiError(400, "The client credentials are invalid", type_="invalid_client")
    if grant_type != "client_credentials":
        raise ApiError(400, "The grant type is unauthorized for this client_id", type_="unauthorized_client")
    token, now = secrets.token_urlsafe(48), state.now()
    state.tokens[token] = {"client_id": client_id, "issued_at": now, "expires_at": now + state.token_ttl}
    body = {
        "access_token": token,
        "expires_in": math.ceil(state.token_ttl),
        "token_type": "bearer",
        "scope": None,
    }
    return web.json_response(body, headers={"Cache-Control": "no-store", "Pragma": "no-cache"})


# --- entities --------------------------------------------------------------------------------------


def _number_events(state: MauticState, kind: str, events: Any) -> list[Json]:
    """Campaign/trigger events arrive with temporary ids ("new_1"); Mautic saves them under integer
    ids and points `parent` references (the temporary id) at the saved event, as {"id": n}."""
    events = list(events.values()) if isinstance(events, dict) else list(events or [])
    saved, ids = [], {}
    for event in map(dict, events):
        temp = event.get("id")
        event["id"] = _int(temp) or state.next_id(kind)
        ids[str(temp)] = event["id"]
        saved.append(event)
    for event in saved:
        if "parent" in event:
            parent = event["parent"]
            ref = parent.get("id") if isinstance(parent, dict) else parent
            event["parent"] = None if ref is None else {"id": ids.get(str(ref), _int(ref, ref))}
    return saved


def _segment_refs(state: MauticState, lists: Any) -> list[Json]:
    """A campaign's `lists` accepts ids or {"id"}; Mautic answers the segments as objects."""
    refs = []
    for entry in lists or []:
        sid = _int(entry.get("id") if isinstance(entry, dict) else entry)
        segment = state.items["segments"].get(sid) or {}
        refs.append({"id": sid, "name": segment.get("name"), "alias": segment.get("alias")})
    return refs


def _normalize(state: MauticState, res: Resource, item: Json) -> None:
    if res.name == "segments":
        slug = re.sub(r"[^a-z0-9]+", "-", str(item.get("name") or "").lower()).strip("-")
        item["alias"] = item.get("alias") or slug
        item["publicName"] = item.get("publicName") or item.get("name")
    if res.name in ("campaigns", "triggers"):
        item["events"] = _number_events(state, f"{res.name}.events", item.get("events"))
    if res.name == "campaigns":
        item["lists"] = _segment_refs(state, item.get("lists"))


def _save(state: MauticState, res: Resource, params: Any, existing: Json | None, *, replace: bool) -> Json:
    """POST and PUT bind the whole form (missing fields reset to defaults); PATCH merges. The
    `id` in a body is ignored; an id is assigned only once validation passes (on flush)."""
    if not isinstance(params, dict):
        raise ApiError(400, "Bad request.")
    if existing is not None and not replace:
        item = copy.deepcopy(existing)
    else:
        item = {"id": None, **copy.deepcopy(_COMMON), **copy.deepcopy(res.defaults)}
        kept = ("id", "dateAdded", "createdBy", "createdByUser")
        item.update({key: existing[key] for key in kept} if existing else {"dateAdded": _iso(state.now())})
    item.update({key: value for key, value in params.items() if key != "id"})
    if not isinstance(item.get("name"), str) or not item["name"].strip():
        raise ApiError(400, f"name: {NAME_REQUIRED}", details={"name": [NAME_REQUIRED]})
    _normalize(state, res, item)
    if existing is None:
        item["id"] = state.next_id(res.name)
    else:
        item.update(dateModified=_iso(state.now()), modifiedBy=1, modifiedByUser="API")
    state.items[res.name][item["id"]] = item
    return item


def _existing(state: MauticState, res: Resource, item_id: Any) -> Json | None:
    return state.items[res.name].get(_int(item_id))


async def _list(request: web.Request, res: Resource) -> web.Response:
    """`GET /api/<res>`: {"total": "<n>" (a string), "<many>": {"<id>": item}} - keyed by id."""
    query, items = request.query, list(request.app[STATE].items[res.name].values())
    if search := query.get("search", "").lower():
        items = [item for item in items if search in str(item.get("name") or "").lower()]
    if query.get("published") in ("1", "true"):
        items = [item for item in items if item.get("isPublished")]
    order_by = query.get("orderBy") or "id"
    descending = query.get("orderByDir", "ASC").upper() == "DESC"
    items.sort(key=lambda item: _sort_key(item.get(order_by)), reverse=descending)
    start, limit = _int(query.get("start"), 0) or 0, _int(query.get("limit"), DEFAULT_PAGE_LIMIT)
    page = items[start : start + limit] if limit else items[start:]
    return web.json_response({"total": str(len(items)), res.many: _php_array({i["id"]: i for i in page})})


async def _get(request: web.Request, res: Resource) -> web.Response:
    item = _existing(request.app[STATE], res, request.match_info["id"])
    if item is None:
        raise ApiError(404, NOT_FOUND)
    return web.json_response({res.one: item})


async def _new(request: web.Request, res: Resource) -> web.Response:
    item = _save(request.app[STATE], res, await _payload(request), None, replace=True)
    return web.json_response({res.one: item}, status=201)


async def _edit(request: web.Request, res: Resource) -> web.Response:
    """PATCH edits or 404s; PUT replaces, or creates when the id is unknown (201, under a NEW
    auto-assigned id - Mautic ignores the id in the URL then)."""
    state = request.app[STATE]
    existing = _existing(state, res, request.match_info["id"])
    if existing is None and request.method == "PATCH":
        raise ApiError(404, NOT_FOUND)
    item = _save(state, res, await _payload(request), existing, replace=request.method == "PUT")
    return web.json_response({res.one: item}, status=201 if existing is None else 200)


async def _delete(request: web.Request, res: Resource) -> web.Response:
    """Answers the deleted item with `"id": null`: Doctrine wipes a generated id on removal and
    Mautic serialises the entity afterwards."""
    state = request.app[STATE]
    item = state.items[res.name].pop(_int(request.match_info["id"]), None)
    if item is None:
        raise ApiError(404, NOT_FOUND)
    return web.json_response({res.one: {**item, "id": None}})


async def _batch_params(request: web.Request) -> list[Any]:
    params = await _payload(request)
    if not isinstance(params, list):
        raise ApiError(400, "Bad request.")
    if len(params) > BATCH_LIMIT:
        raise ApiError(BATCH_LIMIT_STATUS, f"Batch limit exceeded: at most {BATCH_LIMIT} entities per call.")
    return params


async def _batch(request: web.Request, res: Resource) -> web.Response:
    """`POST batch/new` (201; an item with a known id is PATCHed) and `PUT|PATCH batch/edit`
    (200; PATCH 404s unknown ids, PUT creates). Per-item codes in statusCodes, failures under
    `errors` keyed by request index and left out of the entity list."""
    state, is_new = request.app[STATE], request.path.endswith("/new")
    entities: dict[int, Json] = {}
    errors: dict[int, Json] = {}
    codes: list[int] = []
    for key, params in enumerate(await _batch_params(request)):
        existing = _existing(state, res, params.get("id")) if isinstance(params, dict) else None
        try:
            if existing is None and request.method == "PATCH":
                raise ApiError(404, NOT_FOUND, type_="api")
            replace = request.method == "PUT" or existing is None
            entities[key] = _save(state, res, params, existing, replace=replace)
            codes.append(201 if existing is None else 200)
        except ApiError as exc:
            errors[key] = exc.entry
            codes.append(exc.status)
    body: Json = {res.many: _php_array(entities), "statusCodes": codes}
    if errors:
        body["errors"] = _php_array(errors)
    return web.json_response(body, status=201 if is_new else 200)


# --- stats -----------------------------------------------------------------------------------------

_INDEXED = re.compile(r"^(?P<name>\w+)\[(?P<index>\d+)\]\[(?P<key>\w+)\](?P<many>\[\])?$")
_EXPRS: dict[str, Callable[[Any, Any], bool]] = {
    "eq": lambda a, b: _sort_key(a) == _sort_key(b),
    "neq": lambda a, b: _sort_key(a) != _sort_key(b),
    "lt": lambda a, b: a is not None and _sort_key(a) < _sort_key(b),
    "lte": lambda a, b: a is not None and _sort_key(a) <= _sort_key(b),
    "gt": lambda a, b: a is not None and _sort_key(a) > _sort_key(b),
    "gte": lambda a, b: a is not None and _sort_key(a) >= _sort_key(b),
    "in": lambda a, b: _sort_key(a) in {_sort_key(v) for v in _values(b)},
    "notIn": lambda a, b: _sort_key(a) not in {_sort_key(v) for v in _values(b)},
    "isNull": lambda a, _: a is None,
    "isNotNull": lambda a, _: a is not None,
    "like": lambda a, b: a is not None and _like(b).fullmatch(str(a)) is not None,
    "notLike": lambda a, b: a is not None and _like(b).fullmatch(str(a)) is None,
}


def _values(value: Any) -> list[Any]:
    return value if isinstance(value, list) else str(value).split(",")


def _like(pattern: Any) -> re.Pattern[str]:
    parts = (".*" if ch == "%" else "." if ch == "_" else re.escape(ch) for ch in str(pattern))
    return re.compile("".join(parts), re.IGNORECASE | re.DOTALL)


def _indexed(query: Any, name: str) -> list[Json]:
    """PHP's `where[0][col]=...&where[0][val][]=...` query arrays, in index order."""
    found: dict[int, Json] = {}
    for key, value in query.items():
        if (m := _INDEXED.match(key)) and m["name"] == name:
            entry = found.setdefault(int(m["index"]), {})
            entry[m["key"]] = [*entry.get(m["key"], []), value] if m["many"] else value
    return [found[i] for i in sorted(found)]


def _matches(row: Json, columns: list[str], clause: Json) -> bool:
    col, expr = clause.get("col"), clause.get("expr", "eq")
    if col not in columns or expr not in _EXPRS:
        raise ValueError(f"Invalid where clause: col={col!r} expr={expr!r}")
    return _EXPRS[expr](row.get(col), clause.get("val"))


async def _stats(request: web.Request) -> web.Response:
    """`GET /api/stats[/<table>]`: rows as DBAL returns them (every value a string), `total` a
    string. An unknown table answers the table list; a bad filter answers `errors` with HTTP 200
    (StatsApiController catches the exception into a normal view)."""
    state, table = request.app[STATE], request.match_info.get("table")
    if table not in STATS_COLUMNS:
        return web.json_response({"availableTables": sorted(STATS_COLUMNS), "tableColumns": STATS_COLUMNS})
    columns, query = STATS_COLUMNS[table], request.query
    try:
        rows = [
            row
            for row in state.stats[table]
            if all(_matches(row, columns, w) for w in _indexed(query, "where"))
        ]
    except ValueError as exc:
        return web.json_response({"errors": [{"message": str(exc), "code": 0}]})
    for order in reversed(_indexed(query, "order")):
        rows.sort(
            key=lambda row, o=order: _sort_key(row.get(o.get("col"))), reverse=order.get("dir") == "desc"
        )
    start, limit = _int(query.get("start"), 0) or 0, _int(query.get("limit"), STATS_DEFAULT_LIMIT) or 0
    page = [
        {k: None if v is None else str(int(v) if isinstance(v, bool) else v) for k, v in row.items()}
        for row in rows
    ]
    return web.json_response({"total": str(len(rows)), "stats": page[start : start + limit]})


# --- test controls ---------------------------------------------------------------------------------


async def _fake_fail(request: web.Request) -> web.Response:
    body = await request.json()
    rule = {
        "path_prefix": body.get("path_prefix", "/"),
        "method": body.get("method"),
        "status": int(body.get("status", 503)),
        "count": int(body.get("count", 1)),
        "retry_after": body.get("retry_after", 1),
        "message": body.get("message"),
    }
    request.app[STATE].failures.append(rule)
    return web.json_response(rule)


async def _fake_stats(request: web.Request) -> web.Response:
    state, body = request.app[STATE], await request.json()
    for table, rows in body.items():
        if table not in STATS_COLUMNS:
            return web.json_response({"error": f"unknown table {table}"}, status=400)
        for row in rows:
            full = {col: row.get(col) for col in STATS_COLUMNS[table]}
            full["id"] = row.get("id") or state.next_id(f"stats.{table}")
            state.stats[table].append(full)
    return web.json_response({table: len(rows) for table, rows in state.stats.items()})


async def _fake_advance(request: web.Request) -> web.Response:
    state = request.app[STATE]
    state.clock_offset += float((await request.json()).get("seconds", 0))
    return web.json_response({"clock_offset": state.clock_offset})


async def _fake_state(request: web.Request) -> web.Response:
    state = request.app[STATE]
    grants = [{"access_token": token, **grant} for token, grant in state.tokens.items()]
    return web.json_response(
        {
            "resources": {name: list(items.values()) for name, items in state.items.items()},
            "stats": state.stats,
            "requests": dict(state.requests),
            "token_grants": grants,
            "failures": state.failures,
            "clock_offset": state.clock_offset,
        }
    )


async def _fake_reset(request: web.Request) -> web.Response:
    request.app[STATE].reset()
    return web.json_response({"reset": True})


# --- app -------------------------------------------------------------------------------------------


def _bind(handler: Callable[[web.Request, Resource], Awaitable[web.Response]], res: Resource) -> Handler:
    async def bound(request: web.Request) -> web.Response:
        return await handler(request, res)

    return bound


async def _version_header(request: web.Request, response: web.StreamResponse) -> None:
    """Mautic adds `Mautic-Version` to its API responses (here: to every response)."""
    response.headers["Mautic-Version"] = MAUTIC_VERSION


def make_app(
    *,
    username: str = "admin",
    password: str = "admin",
    client_id: str = "bizosaas",
    client_secret: str = "bizosaas-secret",
    token_ttl: float = 3600,
    hourly_limit: int = 100_000,
) -> web.Application:
    app = web.Application(middlewares=[_gate])
    app[STATE] = MauticState(username, password, client_id, client_secret, token_ttl, hourly_limit)
    app.on_response_prepare.append(_version_header)
    routes = [web.post("/oauth/v2/token", _token), web.get("/api/stats", _stats)]
    routes.append(web.get("/api/stats/{table}", _stats))
    for res in RESOURCES:
        base, item = f"/api/{res.path}", f"/api/{res.path}/{{id:\\d+}}"
        routes += [
            web.get(base, _bind(_list, res)),
            web.post(f"{base}/new", _bind(_new, res)),
            web.post(f"{base}/batch/new", _bind(_batch, res)),
            web.patch(f"{base}/batch/edit", _bind(_batch, res)),
            web.put(f"{base}/batch/edit", _bind(_batch, res)),
            web.get(item, _bind(_get, res)),
            web.patch(f"{item}/edit", _bind(_edit, res)),
            web.put(f"{item}/edit", _bind(_edit, res)),
            web.delete(f"{item}/delete", _bind(_delete, res)),
        ]
    routes += [
        web.post("/_fake/fail", _fake_fail),
        web.post("/_fake/stats", _fake_stats),
        web.post("/_fake/advance", _fake_advance),
        web.get("/_fake/state", _fake_state),
        web.post("/_fake/reset", _fake_reset),
    ]
    app.add_routes(routes)
    return app


def main() -> None:
    run_cli("mautic", make_app, 8091)


if __name__ == "__main__":
    main()
