"""Ingestion against the real process: idempotent batches, corrections, all-or-nothing bad
batches naming each bad row, lineage, and flow 2 from analytics' side (integration's sync events,
inline and by `rows_url`, with rows waiting for their campaign mapping)."""

from __future__ import annotations

import random
import uuid
from datetime import UTC, datetime
from typing import Any

import httpx
import jwt
import redis
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from shared.fleet import spec
from tests.analytics.conftest import Integration
from tests.support.bus import publish, wait_for
from tests.support.kit import Account, assert_problem, eventually, register_owner

NOVEMBER = {"from": "2026-11-01", "to": "2026-11-30"}


def daily(campaign_id: str, day: str, **counters: Any) -> dict[str, Any]:
    return {"campaign_id": campaign_id, "channel": "google_ads", "date": day, "currency": "EUR", **counters}


def ingest(api: httpx.Client, account: Account, rows: list[dict[str, Any]]) -> dict[str, Any]:
    answer = api.post("/api/v1/analytics/metrics", json={"rows": rows}, headers=account.auth)
    assert answer.status_code == 200, answer.text
    return answer.json()


def totals(api: httpx.Client, account: Account, **params: Any) -> dict[str, Any]:
    answer = api.get("/api/v1/analytics/kpis", params={**NOVEMBER, **params}, headers=account.auth)
    assert answer.status_code == 200, answer.text
    return answer.json()["current"]


def known_totals(api: httpx.Client, account: Account, campaign_id: str) -> dict[str, Any]:
    """The campaign's figures, or {} while analytics has not heard of it (the bus is asynchronous)."""
    answer = api.get(
        "/api/v1/analytics/kpis", params={**NOVEMBER, "campaign_id": campaign_id}, headers=account.auth
    )
    return answer.json()["current"] if answer.status_code == 200 else {}


def test_the_same_batch_twice_counts_once_and_a_correction_replaces(
    api: httpx.Client, owner: Account
) -> None:
    cid = str(uuid.uuid4())
    batch = [daily(cid, f"2026-11-{d:02d}", impressions=1000, clicks=20, spend_minor=500) for d in (1, 2, 3)]
    assert ingest(api, owner, batch) | {"batch_id": None} == {
        "batch_id": None,
        "received": 3,
        "inserted": 3,
        "updated": 0,
        "unchanged": 0,
    }
    again = ingest(api, owner, batch)
    assert (again["inserted"], again["updated"], again["unchanged"]) == (0, 0, 3)
    assert (
        totals(api, owner)["impressions"] == 3000
        and totals(api, owner, campaign_id=cid)["spend_minor"] == 1500
    )

    late = ingest(api, owner, [daily(cid, "2026-11-02", impressions=1500, clicks=20, spend_minor=900)])
    assert (late["inserted"], late["updated"]) == (0, 1)
    after = totals(api, owner, campaign_id=cid)
    assert (after["impressions"], after["spend_minor"], after["clicks"]) == (3500, 1900, 60)
    assert totals(api, owner)["spend_minor"] == 1900, "the tenant-wide rollups moved by the same difference"


def test_a_row_moved_to_another_currency_leaves_the_first(api: httpx.Client, owner: Account) -> None:
    cid = str(uuid.uuid4())
    ingest(api, owner, [daily(cid, "2026-11-05", spend_minor=700)])
    ingest(api, owner, [{**daily(cid, "2026-11-05", spend_minor=800), "currency": "USD"}])
    assert totals(api, owner, currency="EUR")["spend_minor"] == 0
    assert totals(api, owner, currency="USD")["spend_minor"] == 800


def test_money_in_two_currencies_is_never_added_up(api: httpx.Client, owner: Account) -> None:
    ingest(api, owner, [daily(str(uuid.uuid4()), "2026-11-05", spend_minor=700)])
    ingest(api, owner, [{**daily(str(uuid.uuid4()), "2026-11-06", spend_minor=900), "currency": "GBP"}])
    problem = assert_problem(api.get("/api/v1/analytics/kpis", params=NOVEMBER, headers=owner.auth), 409)
    assert problem["currencies"] == ["EUR", "GBP"] and "currency=" in problem["detail"]
    assert totals(api, owner, currency="GBP")["spend_minor"] == 900


def test_a_bad_batch_names_each_bad_row_and_stores_nothing(api: httpx.Client, owner: Account) -> None:
    cid = str(uuid.uuid4())
    rows = [
        daily(cid, "2026-11-01", impressions=10),
        daily(cid, "2026-11-02", spend="twelve"),
        daily(cid, "2026-11-03", clicks=-4),
        {**daily(cid, "2026-11-04"), "currency": "euro"},
        daily(cid, "2026-11-05", spend="1.00", cost_micros=1_000_000),
        daily(cid, "2026-11-06", impressions=True),
    ]
    problem = assert_problem(
        api.post("/api/v1/analytics/metrics", json={"rows": rows}, headers=owner.auth), 422
    )
    bad = sorted({e["loc"][2] for e in problem["errors"]})
    assert bad == [2, 3, 5], "schema errors first: the clicks, the currency, a boolean for a count"
    fixed = [rows[0], rows[1], daily(cid, "2026-11-03", clicks=4), daily(cid, "2026-11-04"), rows[4]]
    problem = assert_problem(
        api.post("/api/v1/analytics/metrics", json={"rows": fixed}, headers=owner.auth), 422
    )
    assert {(e["loc"][2], e["loc"][3]) for e in problem["errors"]} == {(1, "spend"), (4, "cost_micros")}
    assert "rows 1, 4" in problem["detail"] and "nothing stored" in problem["detail"]
    assert not _known(api, owner, cid), "nothing of the batch was stored"


def _known(api: httpx.Client, account: Account, campaign_id: str) -> bool:
    return (
        api.get(f"/api/v1/analytics/campaigns/{campaign_id}/performance", headers=account.auth).status_code
        == 200
    )


def test_duplicates_and_mixed_daily_and_hourly_rows_are_refused(api: httpx.Client, owner: Account) -> None:
    cid = str(uuid.uuid4())
    twice = [daily(cid, "2026-11-07", clicks=1), daily(cid, "2026-11-07", clicks=2)]
    problem = assert_problem(
        api.post("/api/v1/analytics/metrics", json={"rows": twice}, headers=owner.auth), 422
    )
    assert "as row 0" in problem["errors"][0]["msg"] and problem["errors"][0]["loc"][2] == 1
    ingest(api, owner, [daily(cid, "2026-11-07", clicks=1)])
    hourly = {
        "campaign_id": cid,
        "channel": "google_ads",
        "hour_start": "2026-11-07T10:00:00Z",
        "currency": "EUR",
    }
    problem = assert_problem(
        api.post("/api/v1/analytics/metrics", json={"rows": [hourly]}, headers=owner.auth), 422
    )
    assert "other kind" in problem["errors"][0]["msg"]
    assert not _known(api, owner, str(uuid.uuid4()))
    for bad, why in (
        ({**hourly, "hour_start": "2026-11-08T10:30:00Z"}, "start of an hour"),
        ({**hourly, "hour_start": "2026-11-08T10:00:00"}, "offset"),
        ({**daily(cid, "1999-12-31")}, "between"),
    ):
        answer = api.post("/api/v1/analytics/metrics", json={"rows": [bad]}, headers=owner.auth)
        assert why in assert_problem(answer, 422)["errors"][0]["msg"], answer.text


def test_every_row_keeps_its_lineage(api: httpx.Client, owner: Account) -> None:
    cid = str(uuid.uuid4())
    first = ingest(api, owner, [daily(cid, "2026-11-09", clicks=1, source="google_ads")])
    rows = api.get(
        "/api/v1/analytics/metrics", params={"campaign_id": cid, **NOVEMBER}, headers=owner.auth
    ).json()
    [stored] = rows["items"]
    assert (stored["source"], stored["batch_id"], stored["sync_id"]) == (
        "google_ads",
        first["batch_id"],
        None,
    )
    assert stored["ingested_at"] and rows["next_cursor"] is None


def test_a_sync_event_lands_its_rows_and_waits_for_unknown_campaigns(
    api: httpx.Client, owner: Account, bus: redis.Redis
) -> None:
    """Flow 2: integration.sync_completed -> the rows are stored (rows naming a platform campaign
    wait for execution.updated to say which campaign it is) -> KPIs show them."""
    cid, sync_id = str(uuid.uuid4()), str(uuid.uuid4())
    rows = [
        {
            "external_campaign_id": "987654",
            "channel": "google_ads",
            "date": "2026-11-10",
            "impressions": 800,
            "clicks": 16,
            "spend_minor": 4000,
            "currency": "EUR",
            "conversions": 2,
            "conversion_value_minor": 9000,
        },
        {"campaign_id": cid, "channel": "email", "date": "2026-11-10", "clicks": 5, "currency": "EUR"},
    ]
    publish(
        bus,
        "integration.sync_completed",
        {
            "connection_id": str(uuid.uuid4()),
            "provider": "google_ads",
            "sync_id": sync_id,
            "window_from": "2026-11-10",
            "window_to": "2026-11-10",
            "rows": rows,
        },
        owner.tenant_id,
    )
    [ingested] = wait_for(bus, "analytics", "metrics.ingested", lambda e: e["data"]["sync_id"] == sync_id)
    assert (ingested["data"]["inserted"], ingested["data"]["parked"]) == (1, 1)
    assert totals(api, owner, campaign_id=cid)["clicks"] == 5
    publish(
        bus,
        "execution.updated",
        {"campaign_id": cid, "channel": "google_ads", "external_id": "987654", "status": "running"},
        owner.tenant_id,
    )
    eventually(lambda: known_totals(api, owner, cid).get("impressions") == 800)
    landed = totals(api, owner, campaign_id=cid)
    assert (landed["spend_minor"], landed["roas"], landed["clicks"]) == (4000, 2.25, 21)
    stored = api.get(
        "/api/v1/analytics/metrics", params={"campaign_id": cid, **NOVEMBER}, headers=owner.auth
    ).json()
    assert {(r["channel"], r["source"], r["sync_id"]) for r in stored["items"]} == {
        ("google_ads", "google_ads", sync_id),
        ("email", "google_ads", sync_id),
    }


def test_a_large_sync_is_fetched_from_integration_as_this_service(
    api: httpx.Client, owner: Account, bus: redis.Redis, integration: Integration
) -> None:
    cid, sync_id = str(uuid.uuid4()), str(uuid.uuid4())
    path = f"/api/v1/integrations/syncs/{sync_id}/rows"
    integration.rows[path] = [
        {
            "campaign_id": cid,
            "channel": "meta_ads",
            "date": f"2026-11-{d:02d}",
            "currency": "EUR",
            "impressions": "1000",
            "spend": "10.50",
        }
        for d in range(1, 21)
    ]
    publish(
        bus,
        "integration.sync_completed",
        {"connection_id": str(uuid.uuid4()), "provider": "meta_ads", "sync_id": sync_id, "rows_url": path},
        owner.tenant_id,
    )
    eventually(lambda: known_totals(api, owner, cid).get("impressions") == 20_000)
    assert totals(api, owner, campaign_id=cid)["spend_minor"] == 21_000
    [request] = [r for r in integration.requests if r["path"] == path]
    assert request["headers"]["X-Tenant-ID"] == owner.tenant_id
    claims = jwt.decode(request["headers"]["Authorization"].split()[1], options={"verify_signature": False})
    assert claims["typ"] == "service" and "integrations:read" in claims["scope"].split()


def test_rows_naming_an_unknown_platform_campaign_are_refused_over_http(
    api: httpx.Client, owner: Account
) -> None:
    row = {
        "external_campaign_id": "nobody-knows",
        "channel": "meta_ads",
        "date": "2026-11-10",
        "currency": "EUR",
    }
    problem = assert_problem(
        api.post("/api/v1/analytics/metrics", json={"rows": [row]}, headers=owner.auth), 422
    )
    assert problem["errors"][0]["loc"] == ["body", "rows", 0, "external_campaign_id"]


async def test_months_get_partitions_that_only_the_owner_touches(
    api: httpx.Client, owner: Account, owner_engine: AsyncEngine
) -> None:
    """Rows of any month land in that month's partition, made on demand; the service role reads them
    only through the parent table, whose row-level security a direct read would bypass."""
    ingest(api, owner, [daily(str(uuid.uuid4()), "2019-05-03", impressions=7)])
    role = spec("analytics").role
    async with owner_engine.connect() as conn:
        partitions = set(
            (
                await conn.execute(
                    text(
                        "select c.relname from pg_inherits i join pg_class c on c.oid = i.inhrelid"
                        " where i.inhparent = 'analytics.metric_rows'::regclass"
                    )
                )
            ).scalars()
        )
        direct, through_parent = (
            await conn.execute(
                text(
                    "select has_table_privilege(:role, 'analytics.metric_rows_201905', 'select'),"
                    " has_table_privilege(:role, 'analytics.metric_rows', 'select')"
                ),
                {"role": role},
            )
        ).one()
    this_month = datetime.now(UTC).strftime("metric_rows_%Y%m")
    assert {"metric_rows_201905", this_month} <= partitions
    assert (direct, through_parent) == (False, True)


ROLLUP_TOTALS = """
select grain, campaign_id, channel, currency, bucket::text, {sums} from analytics.rollups
where tenant_id = :tenant group by 1, 2, 3, 4, 5 having {nonzero}
union all
select 'h', campaign_id, channel, currency, bucket::text, {sums} from analytics.rollup_hours
where tenant_id = :tenant group by 1, 2, 3, 4, 5 having {nonzero}
"""

REBUILT_TOTALS = """
with r as (select * from analytics.metric_rows where tenant_id = :tenant),
buckets as (
    select 'd' as grain, '{all}'::uuid as campaign, channel, currency, day::text as bucket, {names} from r
    union all
    select 'w', '{all}'::uuid, channel, currency, (day - (extract(isodow from day)::int - 1))::text, {names} from r
    union all
    select 'm', '{all}'::uuid, channel, currency, date_trunc('month', day)::date::text, {names} from r
    union all
    select 'm', campaign_id, channel, currency, date_trunc('month', day)::date::text, {names} from r
    union all
    select 'h', '{all}'::uuid, channel, currency, to_timestamp(hour_key * 3600.0)::text, {names} from r
    where hour_key >= 0
)
select grain, campaign, channel, currency, bucket, {sums} from buckets group by 1, 2, 3, 4, 5 having {nonzero}
"""


async def test_rollups_always_equal_the_sums_of_the_stored_rows(
    api: httpx.Client, owner: Account, owner_engine: AsyncEngine
) -> None:
    """Whatever a run of batches inserts, corrects, moves to another currency or leaves alone,
    every rollup bucket holds exactly the sums of the rows stored in it."""
    rng = random.Random(11)
    campaigns = [str(uuid.uuid4()) for _ in range(3)]
    for _ in range(6):
        rows, seen = [], set()
        for _ in range(40):
            campaign, channel = rng.choice(campaigns), rng.choice(["google_ads", "meta_ads"])
            day = f"2026-11-{rng.randint(1, 20):02d}"
            hourly = campaign == campaigns[2]
            key = (campaign, channel, day, rng.randint(0, 3) if hourly else -1)
            if key in seen:
                continue
            seen.add(key)
            row: dict[str, Any] = {
                "campaign_id": campaign,
                "channel": channel,
                "currency": rng.choice(["EUR", "EUR", "USD"]),
                "impressions": rng.randint(0, 500),
                "clicks": rng.randint(0, 20),
                "spend_minor": rng.randint(0, 9000),
                "conversions": rng.choice([0, 1, "2.5"]),
                "leads": rng.randint(0, 2),
            }
            if hourly:
                row["hour_start"] = f"{day}T{key[3]:02d}:00:00Z"
            else:
                row["date"] = day
            rows.append(row)
        ingest(api, owner, rows)
    names = ("impressions", "clicks", "spend_minor", "conversions", "conversion_value_minor", "leads")
    sums = ", ".join(f"sum({n}) as {n}" for n in names)
    nonzero = " or ".join(f"sum({n}) <> 0" for n in names)
    async with owner_engine.connect() as conn:
        found = {}
        for sql in (ROLLUP_TOTALS, REBUILT_TOTALS):
            query = text(sql.format(sums=sums, nonzero=nonzero, names=", ".join(names), all=uuid.UUID(int=0)))
            found[sql] = sorted(
                tuple(map(str, r)) for r in await conn.execute(query, {"tenant": owner.tenant_id})
            )
    assert len(found[ROLLUP_TOTALS]) > 50
    assert found[ROLLUP_TOTALS] == found[REBUILT_TOTALS]


def _add_rule(api: httpx.Client, account: Account, rule: dict[str, Any]) -> None:
    answer = api.post("/api/v1/analytics/alerts", json=rule, headers=account.auth)
    assert answer.status_code == 201, answer.text


async def test_only_a_tenant_with_alert_rules_queues_changed_campaigns_for_them(
    api: httpx.Client, owner: Account, user_service: str, owner_engine: AsyncEngine
) -> None:
    """The alert worker looks at a changed campaign in a transaction of its own: without a rule
    to check, that was 250 transactions for nothing per 1,000-row batch."""
    ruled = register_owner(user_service)
    _add_rule(
        api, ruled, {"name": "r", "kind": "threshold", "metric": "ctr", "operator": "below", "threshold": 0.5}
    )
    for account in (owner, ruled):
        ingest(api, account, [daily(str(uuid.uuid4()), "2026-11-09", impressions=100, clicks=1)])
    async with owner_engine.connect() as conn:
        queued = dict(
            (
                await conn.execute(
                    text(
                        "select tenant_id::text, count(*) from analytics.alert_queue"
                        " where tenant_id in (:a, :b) group by 1"
                    ),
                    {"a": owner.tenant_id, "b": ruled.tenant_id},
                )
            ).all()
        )
        fired = (
            await conn.execute(
                text("select count(*) from analytics.alert_events where tenant_id = :b"),
                {"b": ruled.tenant_id},
            )
        ).scalar()
    assert owner.tenant_id not in queued
    assert queued.get(ruled.tenant_id, 0) == 1 or fired == 1, "queued, or already evaluated and fired"
