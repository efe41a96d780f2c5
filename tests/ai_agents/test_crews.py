"""The crews end to end: real CrewAI crews against the fake OpenAI-compatible LLM (a real HTTP server
on 127.0.0.1, scripted over `POST /_fake/script`), calling real async tools of ours."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from aiohttp import ClientSession, web

from fakes._server import FakeServer
from fakes.llm import make_app
from services.ai_agents.crews.catalog import CREWS, TOOLS, describe, render
from services.ai_agents.crews.runner import (
    RESULT_MAX_CHARS,
    CrewTimeout,
    LlmConfig,
    MissingTools,
    ToolFn,
    ToolSpec,
    compact,
    run_crew,
)

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

KEY = "test-key"
LOOPBACK = {"127.0.0.1", "::1", "localhost"}
OFFLINE_ENV = {
    "CREWAI_DISABLE_TELEMETRY": "true",
    "OTEL_SDK_DISABLED": "true",
    "CREWAI_TRACING_ENABLED": "false",
    "LITELLM_LOCAL_MODEL_COST_MAP": "True",
}
Calls = list[tuple[str, dict[str, Any]]]


@pytest.fixture(autouse=True)
def offline_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> None:
    """CrewAI's switches off, its kickoff database in tmp_path, no OpenAI settings from the shell."""
    for name, value in OFFLINE_ENV.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    monkeypatch.setenv("CREWAI_STORAGE_DIR", "bizosaas-crews-test")
    for name in ("OPENAI_BASE_URL", "OPENAI_API_BASE", "OPENAI_API_KEY"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture(autouse=True)
def loopback_only(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[Any]]:
    """Refuse and record any connection or name lookup beyond 127.0.0.1: no hosted LLM, no telemetry."""
    refused: list[Any] = []
    connect, getaddrinfo = socket.socket.connect, socket.getaddrinfo

    def guarded_connect(sock: socket.socket, address: Any) -> None:
        if isinstance(address, tuple) and str(address[0]) not in LOOPBACK:
            refused.append(address)
            raise OSError(f"test: no network beyond loopback ({address!r})")
        return connect(sock, address)

    def guarded_getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        name = host.decode() if isinstance(host, bytes) else host
        if name is not None and str(name) not in LOOPBACK:
            refused.append(name)
            raise socket.gaierror(f"test: no name lookups beyond loopback ({name!r})")
        return getaddrinfo(host, *args, **kwargs)

    monkeypatch.setattr(socket.socket, "connect", guarded_connect)
    monkeypatch.setattr(socket, "getaddrinfo", guarded_getaddrinfo)
    yield refused
    assert refused == [], f"network access beyond 127.0.0.1: {refused}"


@pytest.fixture
async def llm() -> AsyncIterator[FakeServer]:
    async with FakeServer(make_app(api_key=KEY)) as server:
        yield server


@pytest.fixture
async def http() -> AsyncIterator[ClientSession]:
    async with ClientSession() as session:
        yield session


@pytest.fixture
async def page() -> AsyncIterator[str]:
    """A tiny site the tools really fetch (with the test loop's ClientSession: proof they run there)."""

    async def handler(request: web.Request) -> web.Response:
        return web.Response(text=f"<title>Spring sale</title> PAGE-7F3A {request.query.get('k')}")

    app = web.Application()
    app.router.add_get("/", handler)
    async with FakeServer(app) as server:
        yield server.url


def config(llm: FakeServer, **kw: Any) -> LlmConfig:
    return LlmConfig(
        base_url=f"{llm.url}/v1", model="fake-model", api_key=KEY, timeout=10, max_retries=0, **kw
    )


def tool(name: str, fn: ToolFn) -> ToolSpec:
    contract = TOOLS[name]
    return ToolSpec(contract.name, contract.description, contract.parameters, fn)


def recording_tools(calls: Calls, names: list[str] | None = None) -> list[ToolSpec]:
    """Every catalog tool as an async function that records its call and answers a marked result."""

    def make(name: str) -> ToolFn:
        async def fn(**arguments: Any) -> dict[str, Any]:
            await asyncio.sleep(0)
            calls.append((name, arguments))
            return {"tool": name, "marker": f"RESULT-{name}"}

        return fn

    return [tool(name, make(name)) for name in names or list(TOOLS)]


async def script(http: ClientSession, llm: FakeServer, *replies: dict[str, Any]) -> None:
    async with http.post(f"{llm.url}/_fake/script", json={"replies": list(replies)}) as resp:
        assert resp.status == 200, await resp.text()


async def requests_of(http: ClientSession, llm: FakeServer) -> list[dict[str, Any]]:
    async with http.get(f"{llm.url}/_fake/requests") as resp:
        return (await resp.json())["requests"]


def call(name: str, **arguments: Any) -> dict[str, Any]:
    return {"tool_calls": [{"name": name, "arguments": arguments}]}


async def test_scripted_tool_call_and_final_answer(llm: FakeServer, http: ClientSession, page: str) -> None:
    calls: Calls = []

    async def analyse_keywords(url: str, keywords: str) -> dict[str, Any]:
        async with http.get(url, params={"k": keywords}) as resp:
            body = await resp.text()
        calls.append(("analyse_keywords", {"url": url, "keywords": keywords}))
        return {"status": resp.status, "body": body}

    tools = [*recording_tools(calls, ["audit_site"]), tool("analyse_keywords", analyse_keywords)]
    arguments = {"url": f"{page}/", "keywords": "red shoes"}
    await script(http, llm, call("analyse_keywords", **arguments), {"final_answer": "SCRIPTED FINAL 42"})

    result = await run_crew("seo_analysis", {"url": f"{page}/"}, tools, config(llm), time_limit=60)

    assert calls == [("analyse_keywords", arguments)]
    assert result.tool_calls == [{"tool": "analyse_keywords", "arguments": arguments, "ok": True}]
    assert result.output == "SCRIPTED FINAL 42"
    assert result.engine == "crewai:fake-model"
    usage = result.token_usage
    assert usage["prompt_tokens"] > 0 and usage["completion_tokens"] > 0
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]
    first, second = await requests_of(http, llm)
    assert first["model"] == "fake-model" and first["authorization"] == f"Bearer {KEY}"
    assert first["tools"] == ["audit_site", "analyse_keywords"]
    [result_msg] = second["tool_results"]
    assert json.loads(result_msg["content"]) == {
        "status": 200,
        "body": "<title>Spring sale</title> PAGE-7F3A red shoes",
    }
    assert "test-key" not in repr(config(llm))


async def test_a_failing_tool_is_an_error_for_the_model(llm: FakeServer, http: ClientSession) -> None:
    async def audit_site(url: str) -> dict[str, Any]:
        raise RuntimeError("crawler exploded")

    tools = [tool("audit_site", audit_site), *recording_tools([], ["analyse_keywords"])]
    await script(http, llm, call("audit_site", url="https://shop.example.com/"), {"echo_tool_results": True})

    result = await run_crew("seo_analysis", {"url": "https://shop.example.com/"}, tools, config(llm), 60)

    assert result.tool_calls == [
        {
            "tool": "audit_site",
            "arguments": {"url": "https://shop.example.com/"},
            "ok": False,
            "error": "RuntimeError: crawler exploded",
        }
    ]
    [reported] = (await requests_of(http, llm))[1]["tool_results"]
    assert reported["content"] == "Error: the audit_site tool failed: RuntimeError: crawler exploded"
    assert "crawler exploded" in result.output


async def test_time_limit_raises_crew_timeout(llm: FakeServer) -> None:
    """The fake has no slow-reply control, so the tool is what takes too long; it is cancelled."""
    events: list[str] = []

    async def read_campaign_kpis(campaign_id: str) -> dict[str, Any]:
        events.append("started")
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            events.append("cancelled")
            raise
        return {}

    tools = [tool("read_campaign_kpis", read_campaign_kpis), *recording_tools([], ["plan_budget"])]
    started = time.monotonic()
    with pytest.raises(CrewTimeout, match=r"within 1\.5s") as caught:
        await run_crew("campaign_optimization", {"campaign_id": "c-1"}, tools, config(llm), time_limit=1.5)
    assert isinstance(caught.value, TimeoutError)
    assert time.monotonic() - started < 10
    await asyncio.sleep(0.1)
    assert events == ["started", "cancelled"]


EXPECTED_DEFAULT_RUNS = {
    "seo_analysis": ({"url": "https://shop.example.com/", "keywords": ["red shoes"]}, ["audit_site"]),
    "content_generation": (
        {"brief": "Launch {spring} sale", "channel": "email", "tone": "friendly", "keywords": ["shoes"]},
        ["search_content", "draft_content"],
    ),
    "campaign_optimization": ({"campaign_id": "c-42"}, ["read_campaign_kpis"]),
}


@pytest.mark.parametrize("task_type", sorted(EXPECTED_DEFAULT_RUNS))
async def test_sequential_crews_run_their_tools(llm: FakeServer, http: ClientSession, task_type: str) -> None:
    """The fake's default policy: each agent calls its first tool, then answers quoting the result."""
    task_input, expected = EXPECTED_DEFAULT_RUNS[task_type]
    calls: Calls = []
    result = await run_crew(task_type, task_input, recording_tools(calls), config(llm), 60)

    assert [name for name, _ in calls] == expected
    assert [c["tool"] for c in result.tool_calls] == expected and all(c["ok"] for c in result.tool_calls)
    assert f"RESULT-{expected[-1]}" in result.output
    offered = [r["tools"] for r in await requests_of(http, llm)]
    agents = CREWS[task_type].agents
    assert offered == [list(a.tools) for a in agents for _ in range(2)]
    if task_type == "seo_analysis":
        assert calls[0][1] == {"url": "https://shop.example.com/"}  # the URL from the task text


async def test_hierarchical_audit_delegates_to_both_analysts(llm: FakeServer, http: ClientSession) -> None:
    calls: Calls = []
    url = "https://shop.example.com/"
    await script(
        http,
        llm,
        call("delegate_work_to_coworker", task=f"Audit {url}", context="SEO", coworker="SEO analyst"),
        call("audit_site", url=url),
        {"echo_tool_results": True},
        call(
            "delegate_work_to_coworker", task=f"Check {url}", context="NAP", coworker="Local presence analyst"
        ),
        call("check_presence", url=url, business_name="Shoe Shop"),
        call("check_email_auth", domain="shop.example.com"),
        {"echo_tool_results": True},
        {"final_answer": "AUDIT REPORT 9"},
    )

    result = await run_crew(
        "digital_presence_audit",
        {"url": url, "business_name": "Shoe Shop"},
        recording_tools(calls),
        config(llm),
        60,
    )

    assert calls == [
        ("audit_site", {"url": url}),
        ("check_presence", {"url": url, "business_name": "Shoe Shop"}),
        ("check_email_auth", {"domain": "shop.example.com"}),
    ]
    assert [c["tool"] for c in result.tool_calls] == ["audit_site", "check_presence", "check_email_auth"]
    assert result.output == "AUDIT REPORT 9"
    offered = [r["tools"] for r in await requests_of(http, llm)]
    assert offered[0] == ["delegate_work_to_coworker", "ask_question_to_coworker"]
    assert offered[1] == ["audit_site", "analyse_keywords"]
    assert offered[4] == ["check_presence", "check_email_auth"]
    assert result.token_usage["total_tokens"] > 0


async def test_react_protocol_when_the_server_refuses_tools(llm: FakeServer, http: ClientSession) -> None:
    async with http.post(f"{llm.url}/_fake/config", json={"native_tools": False}) as resp:
        assert resp.status == 200
    calls: Calls = []
    result = await run_crew(
        "campaign_optimization", {"campaign_id": "c-7"}, recording_tools(calls), config(llm), 60
    )

    assert [name for name, _ in calls] == ["read_campaign_kpis"]
    assert "RESULT-read_campaign_kpis" in result.output
    assert [r["mode"] for r in await requests_of(http, llm)] == ["native", "react", "react"]


async def test_missing_tools_are_named(llm: FakeServer) -> None:
    with pytest.raises(MissingTools, match="check_email_auth"):
        await run_crew("digital_presence_audit", {}, recording_tools([], ["audit_site"]), config(llm), 5)
    with pytest.raises(KeyError):
        await run_crew("no_such_task", {}, [], config(llm), 5)


def test_catalog_and_helpers() -> None:
    assert {tool for crew in CREWS.values() for tool in crew.tool_names} <= set(TOOLS)
    assert CREWS["content_generation"].inputs == ("channel", "brief", "keywords", "length", "tone")
    json.dumps(describe())
    assert (
        render("{a} / {b} / {c}", {"a": ["x", "y"], "c": "{not} a field"})
        == "x, y / (not given) / {not} a field"
    )
    assert compact({"a": [1, 2]}) == '{"a":[1,2]}'
    long = compact({"text": "x" * 20_000})
    assert long.startswith('{"text":"xxx') and len(long) < RESULT_MAX_CHARS + 50 and "truncated" in long


def test_importing_the_runner_does_not_import_crewai() -> None:
    code = (
        "import sys, services.ai_agents.crews.runner; assert 'crewai' not in sys.modules, 'crewai imported'"
    )
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    subprocess.run([sys.executable, "-c", code], check=True, cwd=root, timeout=60)


async def test_tool_bridge_from_every_caller() -> None:
    """CrewAI 1.15 calls `_run` on a worker thread; `_arun` (on the loop) and `_run` on the loop's own
    thread (which must not deadlock) work too, each recorded in order."""
    from services.ai_agents.crews.runner import _Bridge, _make_tool

    calls: Calls = []
    bridge = _Bridge(asyncio.get_running_loop())
    [spec] = recording_tools(calls, ["check_email_auth"])
    crewai_tool = _make_tool(spec, bridge)

    threaded = await asyncio.to_thread(crewai_tool.run, domain="a.example")
    awaited = await crewai_tool.arun(domain="b.example")
    inline = crewai_tool.run(domain="c.example")  # blocks the loop briefly, by design of the caller

    assert [json.loads(r)["marker"] for r in (threaded, awaited, inline)] == ["RESULT-check_email_auth"] * 3
    assert [c["arguments"]["domain"] for c in bridge.calls] == ["a.example", "b.example", "c.example"]
    bridge.close()
    assert crewai_tool.run(domain="d.example").startswith("Error: check_email_auth was not run")
    assert bridge.calls[-1] == {
        "tool": "check_email_auth",
        "arguments": {"domain": "d.example"},
        "ok": False,
        "error": "not run: the crew was stopped",
    }
