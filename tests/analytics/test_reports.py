"""Reports end to end (flow 5 from analytics' side): asked for, built by the worker, announced
with `report.ready`, downloaded and parsed back; a worker that died leaves the report to another."""

from __future__ import annotations

import csv
import io
import json
import uuid
from typing import Any

import httpx
import openpyxl
import pytest
import redis
from pypdf import PdfReader
from sqlalchemy import text

from tests.analytics.test_ingestion import daily, ingest
from tests.support.bus import wait_for
from tests.support.kit import Account, assert_problem, eventually, register_owner

FILTERS = {"from": "2026-11-01", "to": "2026-11-30"}


@pytest.fixture(scope="module")
def reporting(api_module: httpx.Client, user_service: str) -> Account:
    """A tenant with two channels of November figures."""
    owner = register_owner(user_service)
    cid = str(uuid.uuid4())
    ingest(
        api_module,
        owner,
        [
            daily(cid, "2026-11-03", impressions=10_000, clicks=250, spend_minor=12_345, conversions=5),
            {
                **daily(cid, "2026-11-04", impressions=4_000, clicks=40, spend_minor=1_000),
                "channel": "meta_ads",
            },
        ],
    )
    return owner


@pytest.fixture(scope="module")
def api_module(analytics_service: str) -> Any:
    with httpx.Client(base_url=analytics_service, timeout=30) as client:
        yield client


def built(api: httpx.Client, account: Account, body: dict[str, Any]) -> tuple[dict[str, Any], httpx.Response]:
    asked = api.post("/api/v1/analytics/reports", json=body, headers=account.auth)
    assert asked.status_code == 202, asked.text
    report = asked.json()
    assert asked.headers["location"] == report["status_url"] and report["status"] in (
        "queued",
        "running",
        "ready",
    )
    done = eventually(
        lambda: (r := api.get(report["status_url"], headers=account.auth).json())["status"] == "ready" and r
    )
    file = api.get(done["download_url"], headers=account.auth)
    assert file.status_code == 200, file.text
    return done, file


def test_a_csv_report_is_built_announced_and_downloaded(
    api: httpx.Client, reporting: Account, bus: redis.Redis
) -> None:
    report, file = built(api, reporting, {"type": "kpi_summary", "filters": FILTERS, "format": "csv"})
    assert file.headers["content-type"].startswith("text/csv")
    assert file.headers["content-disposition"].startswith('attachment; filename="kpi_summary-')
    rows = list(csv.reader(io.StringIO(file.text)))
    header, body = rows[0], {r[0]: dict(zip(rows[0], r, strict=True)) for r in rows[1:]}
    assert header[:4] == ["Channel", "Impressions", "Clicks", "Spend (EUR)"]
    assert body["google_ads"]["Spend (EUR)"] == "123.45" and body["google_ads"]["CTR"] == "0.025"
    assert body["meta_ads"]["Clicks"] == "40"
    [ready] = wait_for(bus, "analytics", "report.ready", lambda e: e["data"]["report_id"] == report["id"])
    assert ready["data"] == {
        "report_id": report["id"],
        "requested_by": reporting.user_id,
        "format": "csv",
        "status": "ready",
        "download_path": f"/api/v1/analytics/reports/{report['id']}/download",
    }
    assert ready["tenant_id"] == reporting.tenant_id


def test_json_xlsx_and_pdf_read_back(api: httpx.Client, reporting: Account) -> None:
    _, as_json = built(api, reporting, {"type": "kpi_summary", "filters": FILTERS, "format": "json"})
    document = json.loads(as_json.content)
    assert {r["channel"]: r["spend_minor"] for r in document["rows"]} == {
        "google_ads": 12_345,
        "meta_ads": 1_000,
    }

    _, as_xlsx = built(
        api,
        reporting,
        {"type": "timeseries", "filters": {**FILTERS, "granularity": "week"}, "format": "xlsx"},
    )
    sheet = openpyxl.load_workbook(io.BytesIO(as_xlsx.content)).active
    values = list(sheet.iter_rows(values_only=True))
    assert values[0][:2] == ("Period", "Impressions")
    week = {row[0]: row for row in values[1:]}
    assert week["2026-11-02"][1] == 14_000 and week["2026-11-02"][3] == pytest.approx(133.45)

    _, as_pdf = built(api, reporting, {"type": "kpi_summary", "filters": FILTERS, "format": "pdf"})
    page = PdfReader(io.BytesIO(as_pdf.content)).pages[0].extract_text()
    assert "KPI summary by channel" in page and "123.45" in page and "2.50%" in page


def test_a_report_is_409_until_ready_and_another_tenant_cannot_see_it(
    api: httpx.Client, reporting: Account, user_service: str
) -> None:
    asked = api.post(
        "/api/v1/analytics/reports", json={"type": "campaigns", "filters": FILTERS}, headers=reporting.auth
    )
    report = asked.json()
    stranger = register_owner(user_service)
    assert_problem(api.get(report["status_url"], headers=stranger.auth), 404)
    assert_problem(api.get(f"{report['status_url']}/download", headers=stranger.auth), 404)
    eventually(lambda: api.get(report["status_url"], headers=reporting.auth).json()["status"] == "ready")
    listed = api.get("/api/v1/analytics/reports", headers=reporting.auth).json()["items"]
    assert report["id"] in [r["id"] for r in listed]


async def test_a_report_whose_worker_died_is_built_again(
    api: httpx.Client, reporting: Account, owner_engine: Any
) -> None:
    """A crash leaves 'running' with a lease; once the lease is over another worker takes it."""
    report_id = uuid.uuid4()
    async with owner_engine.begin() as conn:
        await conn.execute(
            text(
                "insert into analytics.reports (id, tenant_id, requested_by, kind, filters, format, status,"
                " attempts, lease_until) values (:id, :tenant, :who, 'kpi_summary', cast(:filters as jsonb),"
                " 'json', 'running', 1, now() - interval '1 second')"
            ),
            {
                "id": report_id,
                "tenant": reporting.tenant_id,
                "who": reporting.user_id,
                "filters": json.dumps(FILTERS),
            },
        )
    path = f"/api/v1/analytics/reports/{report_id}"
    done = eventually(lambda: (r := api.get(path, headers=reporting.auth).json())["status"] == "ready" and r)
    assert done["attempts"] == 2


def test_bad_report_requests_are_422(api: httpx.Client, reporting: Account) -> None:
    for body in (
        {"type": "kpi_summary", "filters": {"from": "2026-11-30", "to": "2026-11-01"}},
        {"type": "kpi_summary", "filters": FILTERS, "format": "docx"},
        {"type": "everything", "filters": FILTERS},
    ):
        assert_problem(api.post("/api/v1/analytics/reports", json=body, headers=reporting.auth), 422)
