"""Tasks on the tools-only path, against the live process: every task type on fixture sites and
stand-in peers, lifecycle with cancel and a worker killed mid-task, SSRF refusals, the content
memory, flow 4 from this side, another tenant's ids, schemathesis."""

from __future__ import annotations

import os
import signal
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import redis

from services.ai_agents.api import ROUTERS
from tests.ai_agents.conftest import Peers, service_overrides
from tests.ai_agents.sites import Served
from tests.support.bus import wait_for
from tests.support.fuzz import OpenApiConformance
from tests.support.kit import Account, assert_problem, eventually, register_owner
from tests.support.stack import Stack, running_fleet


@pytest.fixture(scope="module")
def agents(stack: Stack, user_service: str, peers: Peers) -> Iterator[Any]:
    with running_fleet(stack, "ai_agents", log_name="ai-tools-only", **service_overrides(peers)) as fleet:
        yield fleet


@pytest.fixture
def api(agents: Any) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=agents.processes[0].url, timeout=30) as client:
        yield client


@pytest.fixture
def owner(user_service: str) -> Account:
    return register_owner(user_service)


def start(api: httpx.Client, owner: Account, task_type: str, task_input: dict[str, Any]) -> dict[str, Any]:
    answer = api.post("/api/v1/ai/tasks", json={"type": task_type, "input": task_input}, headers=owner.auth)
    assert answer.status_code == 202, answer.text
    return answer.json()


def finished(api: httpx.Client, owner: Account, task_id: str, timeout: float = 30) -> dict[str, Any]:
    def done() -> dict[str, Any] | None:
        task = api.get(f"/api/v1/ai/tasks/{task_id}", headers=owner.auth).json()
        return task if task["status"] in ("succeeded", "failed", "cancelled") else None

    return eventually(done, timeout=timeout)


def test_seo_analysis_crawls_audits_and_reports(
    api: httpx.Client, owner: Account, site: Served, bus: redis.Redis
) -> None:
    task = start(api, owner, "seo_analysis", {"url": f"{site.url}/", "keywords": ["page", "site"]})
    assert task["status_url"] == f"/api/v1/ai/tasks/{task['id']}" and task["status"] == "queued"
    done = finished(api, owner, task["id"])
    assert (done["status"], done["engine"], done["token_usage"]) == ("succeeded", "tools-only", None), done
    audit = done["result"]["audit_site"]
    assert 0 <= audit["score"] <= 100 and 1 <= len(audit["pages"]) <= 8
    assert {p["url"] for p in audit["pages"]} <= {
        f"{site.url}/",
        *(f"{site.url}/p/{n}" for n in range(1, 13)),
    }
    assert [k["keyword"] for k in done["result"]["analyse_keywords"]["keywords"]] == ["page", "site"]
    assert [s["step"] for s in done["progress"]] == ["crawling and auditing the site", "analysing keywords"]
    (event,) = wait_for(bus, "ai_agents", "ai.task.completed", lambda e: e["data"]["task_id"] == task["id"])
    assert event["data"]["engine"] == "tools-only" and event["data"]["summary"].startswith("SEO score")


def test_presence_audit_never_reports_unreachable_dns_as_failed(
    api: httpx.Client, owner: Account, site: Served
) -> None:
    task = start(
        api, owner, "digital_presence_audit", {"url": f"{site.url}/seo/contact", "business_name": "Acme"}
    )
    done = finished(api, owner, task["id"])
    assert done["status"] == "succeeded", done
    signals, auth = done["result"]["check_presence"], done["result"]["check_email_auth"]
    assert {auth["spf"]["status"], auth["dmarc"]["status"]} <= {"present", "missing", "not_checked"}
    assert "nap" in signals and "social_profiles" in signals


def test_audits_refuse_private_addresses(api: httpx.Client, owner: Account) -> None:
    for url in ("http://10.0.0.1/", "http://169.254.169.254/latest/meta-data/", "http://[::1]/"):
        done = finished(api, owner, start(api, owner, "seo_analysis", {"url": url})["id"])
        assert done["status"] == "failed" and "Refused" in done["error"], done


def test_content_is_generated_remembered_searched_and_near_duplicates_flagged(
    api: httpx.Client, owner: Account
) -> None:
    brief = {
        "brief": "Spring sale on hiking boots",
        "channel": "social",
        "tone": "friendly",
        "keywords": ["hiking boots"],
        "length": "short",
    }
    first = finished(api, owner, start(api, owner, "content_generation", brief)["id"])
    assert first["status"] == "succeeded" and first["engine"] == "tools-only"
    draft = first["result"]["draft_content"]
    assert "hiking boots" in draft["body"].lower() and len(draft["body"]) <= 280
    assert draft["meta"]["engine"] == "tools-only" and "near_duplicate" not in first["result"]
    again = finished(api, owner, start(api, owner, "content_generation", brief)["id"])
    assert again["result"]["near_duplicate"]["content_id"] == first["result"]["content_id"]
    start(
        api,
        owner,
        "content_generation",
        {**brief, "brief": "Quarterly tax filing reminder", "keywords": ["tax return"], "channel": "email"},
    )
    found = eventually(
        lambda: (
            (
                r := api.get(
                    "/api/v1/ai/content/search", params={"q": "hiking boots sale"}, headers=owner.auth
                ).json()
            )["items"][2:]
            and r
        )
    )
    assert found["items"][0]["title"] == draft["title"] and "lexical" in found["embedder"]
    assert found["items"][0]["similarity"] > found["items"][-1]["similarity"]


def test_optimisation_reads_figures_with_a_service_token_and_recommends(
    api: httpx.Client, owner: Account, peers: Peers, bus: redis.Redis
) -> None:
    campaign_id = str(uuid.uuid4())
    peers.campaigns[campaign_id] = {
        "id": campaign_id,
        "name": "Boots",
        "currency": "EUR",
        "total_budget_minor": 10_000,
        "channels": [
            {"channel": "google_ads", "budget_minor": 5_000},
            {"channel": "meta_ads", "budget_minor": 5_000},
        ],
    }
    peers.performance[campaign_id] = {
        "campaign_id": campaign_id,
        "currency": "EUR",
        "channels": [
            {
                "channel": "google_ads",
                "spend_minor": 5_000,
                "conversions": 20,
                "conversion_value_minor": 20_000,
                "clicks": 400,
                "impressions": 9_000,
            },
            {
                "channel": "meta_ads",
                "spend_minor": 5_000,
                "conversions": 8,
                "conversion_value_minor": 7_500,
                "clicks": 500,
                "impressions": 20_000,
            },
        ],
    }
    done = finished(
        api, owner, start(api, owner, "campaign_optimization", {"campaign_id": campaign_id})["id"]
    )
    assert done["status"] == "succeeded", done

    (event,) = wait_for(
        bus, "ai_agents", "ai.recommendation.created", lambda e: e["data"]["campaign_id"] == campaign_id
    )
    moves = {i["channel"]: i for i in event["data"]["items"] if i["kind"] == "budget_shift"}
    assert moves["meta_ads"]["to_budget_minor"] < 5_000 < moves["google_ads"]["to_budget_minor"]
    assert sum(i["to_budget_minor"] for i in moves.values()) == 10_000
    asked = [r for r in peers.requests if campaign_id in r["path"]]
    assert asked and all(
        r["headers"]["Authorization"].startswith("Bearer ") and r["headers"]["X-Tenant-ID"] == owner.tenant_id
        for r in asked
    )


def test_a_running_task_is_cancelled_at_its_next_step(
    api: httpx.Client, owner: Account, site: Served
) -> None:
    task = start(api, owner, "seo_analysis", {"url": f"{site.url}/seo/slow"})
    eventually(
        lambda: (
            api.get(f"/api/v1/ai/tasks/{task['id']}", headers=owner.auth).json()["status"] == "running"
            or None
        )
    )
    asked = api.post(f"/api/v1/ai/tasks/{task['id']}/cancel", headers=owner.auth).json()
    assert asked["cancel_requested"] is True
    assert finished(api, owner, task["id"])["status"] == "cancelled"
    assert_problem(api.post(f"/api/v1/ai/tasks/{task['id']}/cancel", headers=owner.auth), 409)


def test_a_task_of_a_killed_worker_runs_again(
    api: httpx.Client, owner: Account, site: Served, agents: Any
) -> None:
    task = start(api, owner, "seo_analysis", {"url": f"{site.url}/seo/slow"})
    eventually(
        lambda: (
            api.get(f"/api/v1/ai/tasks/{task['id']}", headers=owner.auth).json()["status"] == "running"
            or None
        )
    )
    os.kill(agents.processes[0].process.pid, signal.SIGKILL)
    agents.wait_ready(timeout=60, on_news=lambda _: None)  # restarted, as under the dev stack
    done = finished(api, owner, task["id"], timeout=60)
    assert done["status"] == "succeeded" and done["runs"] == 2, done


def test_bad_input_is_422_and_another_tenants_task_404(
    api: httpx.Client, owner: Account, user_service: str
) -> None:
    bad = api.post(
        "/api/v1/ai/tasks", json={"type": "seo_analysis", "input": {"url": "ftp://x"}}, headers=owner.auth
    )
    assert assert_problem(bad, 422)["errors"][0]["loc"][:3] == ["body", "input", "url"]
    task = start(api, owner, "content_generation", {"brief": "abc", "channel": "blog"})
    stranger = register_owner(user_service)
    for method, path in (
        ("GET", f"/api/v1/ai/tasks/{task['id']}"),
        ("POST", f"/api/v1/ai/tasks/{task['id']}/cancel"),
    ):
        assert_problem(api.request(method, path, headers=stranger.auth), 404)
    assert api.get("/api/v1/ai/tasks", headers=stranger.auth).json()["items"] == []


class TestOpenApi(OpenApiConformance):
    routers = ROUTERS

    @pytest.fixture(scope="class")
    @classmethod
    def base_url(cls, agents: Any) -> str:
        return str(agents.processes[0].url)
