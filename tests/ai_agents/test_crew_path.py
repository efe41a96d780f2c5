"""The LLM path end to end: the live process configured with the fake OpenAI-compatible server,
whose default policy calls the crew's first tool and then answers. The tools really run (the
fixture site is crawled, the peers are asked), the engine and token usage are recorded, and the
result holds the tools' findings and the crew's answer; embeddings come from the configured
endpoint."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from fakes import llm
from fakes._server import ThreadedFake
from tests.ai_agents.conftest import Peers, service_overrides
from tests.ai_agents.sites import Served
from tests.ai_agents.test_tasks import finished, start
from tests.support.kit import Account, register_owner
from tests.support.stack import Stack, running_fleet

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


@pytest.fixture(scope="module")
def fake_llm() -> Iterator[ThreadedFake]:
    fake = ThreadedFake(llm.make_app(api_key="sk-fake-llm"))
    fake.start()
    try:
        yield fake
    finally:
        fake.stop()


@pytest.fixture(scope="module")
def agents(stack: Stack, user_service: str, peers: Peers, fake_llm: ThreadedFake) -> Iterator[Any]:
    overrides = {
        **service_overrides(peers),
        "LLM_BASE_URL": f"{fake_llm.url}/v1",
        "LLM_MODEL": "fake-model",
        "LLM_API_KEY": "sk-fake-llm",
        "EMBEDDINGS_BASE_URL": f"{fake_llm.url}/v1",
        "EMBEDDINGS_MODEL": "fake-embedding",
    }
    with running_fleet(stack, "ai_agents", log_name="ai-crews", **overrides) as fleet:
        yield fleet


@pytest.fixture
def api(agents: Any) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=agents.processes[0].url, timeout=30) as client:
        yield client


@pytest.fixture
def owner(user_service: str) -> Account:
    return register_owner(user_service)


def test_an_seo_crew_calls_the_real_tools_and_its_answer_is_stored(
    api: httpx.Client, owner: Account, site: Served, fake_llm: ThreadedFake
) -> None:
    before = len(site.requests)
    done = finished(
        api, owner, start(api, owner, "seo_analysis", {"url": f"{site.url}/", "keywords": ["page"]})["id"], 60
    )
    assert done["status"] == "succeeded", done
    assert done["engine"] == "crewai:fake-model"
    assert done["token_usage"]["total_tokens"] > 0
    calls = done["result"]["tool_calls"]
    assert calls and calls[0]["tool"] == "audit_site" and calls[0]["ok"] is True
    assert done["result"]["audit_site"]["pages"] and done["result"]["crew_output"]
    assert any(path.startswith("/p/") for path in site.paths()[before:])  # the crawl really happened
    asked = httpx.get(f"{fake_llm.url}/_fake/requests").json()["requests"]
    offered = {name for r in asked for name in r.get("tools") or []}
    assert {"audit_site", "analyse_keywords"} <= offered
    assert all(r["authorization"] == "Bearer sk-fake-llm" for r in asked if "messages" in r)


def test_agents_say_which_engine_runs(api: httpx.Client, owner: Account) -> None:
    agents = api.get("/api/v1/ai/agents", headers=owner.auth).json()
    assert agents["engine"] == "crewai:fake-model"
    assert {c["task_type"] for c in agents["crews"]} == {
        "digital_presence_audit",
        "seo_analysis",
        "content_generation",
        "campaign_optimization",
    }


def test_content_from_a_crew_is_remembered_with_the_configured_embeddings(
    api: httpx.Client, owner: Account
) -> None:
    brief = {"brief": "Autumn newsletter for the bakery", "channel": "email", "keywords": ["sourdough"]}
    done = finished(api, owner, start(api, owner, "content_generation", brief)["id"], 60)
    assert done["status"] == "succeeded" and done["engine"] == "crewai:fake-model", done
    found = api.get("/api/v1/ai/content/search", params={"q": "bakery newsletter"}, headers=owner.auth).json()
    assert found["embedder"] == "embeddings:fake-embedding"
    assert [i["id"] for i in found["items"]] == [done["result"]["content_id"]]
