"""The fake OpenAI-compatible LLM: its wire format over plain HTTP, and a real CrewAI crew (CrewAI's
own LLM class, its native OpenAI provider and the `openai` SDK) reasoning over a tool's result
through it, in both protocols CrewAI speaks (native function calling, ReAct text)."""

from __future__ import annotations

import base64
import json
import math
import os
import socket
import struct
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from aiohttp import ClientSession

from fakes._server import FakeServer, ThreadedFake
from fakes.llm import embed, llm_state, make_app

# Before anything imports crewai: no telemetry, no tracing, no remote model-cost map (litellm,
# should it ever be installed and used as the fallback).
OFFLINE_ENV = {
    "CREWAI_DISABLE_TELEMETRY": "true",
    "OTEL_SDK_DISABLED": "true",
    "CREWAI_TRACING_ENABLED": "false",
    "LITELLM_LOCAL_MODEL_COST_MAP": "True",
}
for _name, _value in OFFLINE_ENV.items():
    os.environ.setdefault(_name, _value)

# CrewAI's own deprecation notices about its internals (function_calling_llm, ...).
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning:crewai")

KEY = "test-key"
AUTH = {"Authorization": f"Bearer {KEY}"}
LOOPBACK = {"127.0.0.1", "::1", "localhost"}


@pytest.fixture
async def llm() -> AsyncIterator[FakeServer]:
    async with FakeServer(make_app(api_key=KEY, embedding_dim=64)) as server:
        yield server


@pytest.fixture
async def http() -> AsyncIterator[ClientSession]:
    async with ClientSession() as session:
        yield session


async def chat(http: ClientSession, url: str, body: dict[str, Any], **kw: Any) -> tuple[int, Any]:
    headers = kw.pop("headers", AUTH)
    async with http.post(f"{url}/v1/chat/completions", json=body, headers=headers, **kw) as resp:
        return resp.status, await resp.json()


async def script(http: ClientSession, url: str, *replies: dict[str, Any]) -> None:
    async with http.post(f"{url}/_fake/script", json={"replies": list(replies)}) as resp:
        assert resp.status == 200


async def recorded(http: ClientSession, url: str) -> list[dict[str, Any]]:
    async with http.get(f"{url}/_fake/requests") as resp:
        return (await resp.json())["requests"]


async def sse(http: ClientSession, url: str, body: dict[str, Any]) -> list[Any]:
    events: list[Any] = []
    async with http.post(f"{url}/v1/chat/completions", json={**body, "stream": True}, headers=AUTH) as resp:
        assert resp.status == 200
        assert resp.headers["Content-Type"].startswith("text/event-stream")
        async for raw in resp.content:
            line = raw.decode().strip()
            if line.startswith("data: "):
                data = line[len("data: ") :]
                events.append(data if data == "[DONE]" else json.loads(data))
    return events


FETCH_TOOL = {
    "type": "function",
    "function": {
        "name": "fetch_page",
        "description": "Fetch a page",
        "parameters": {
            "type": "object",
            "properties": {"url": {"type": "string"}, "max_chars": {"type": "integer", "minimum": 100}},
            "required": ["url", "max_chars"],
            "additionalProperties": False,
        },
    },
}


# --- plain HTTP ---------------------------------------------------------------------------------


async def test_chat_completion_non_streaming(llm: FakeServer, http: ClientSession) -> None:
    await script(http, llm.url, {"content": "Hello from the fake."})
    status, body = await chat(
        http, llm.url, {"model": "fake-model", "messages": [{"role": "user", "content": "hi"}]}
    )
    assert status == 200
    assert body["object"] == "chat.completion"
    assert body["id"].startswith("chatcmpl-")
    assert isinstance(body["created"], int)
    assert body["model"] == "fake-model"
    [choice] = body["choices"]
    assert choice["index"] == 0
    assert choice["message"] == {"role": "assistant", "content": "Hello from the fake.", "refusal": None}
    assert choice["finish_reason"] == "stop"
    usage = body["usage"]
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"] > 0

    # Without a script: a deterministic answer; the path without /v1 works too.
    async with http.post(
        f"{llm.url}/chat/completions",
        json={"model": "m", "messages": [{"role": "user", "content": "Say hi"}], "temperature": 0.2},
        headers=AUTH,
    ) as resp:
        assert resp.status == 200
        assert (await resp.json())["choices"][0]["message"]["content"] == "Fake answer to: Say hi"
    requests = await recorded(http, llm.url)
    assert [r["path"] for r in requests] == ["/v1/chat/completions", "/chat/completions"]
    assert requests[1]["temperature"] == 0.2
    assert requests[1]["reply"]["source"] == "default"


async def test_chat_completion_streaming(llm: FakeServer, http: ClientSession) -> None:
    text = "A streamed answer that is longer than one chunk of sixteen characters."
    await script(http, llm.url, {"content": text})
    events = await sse(
        http,
        llm.url,
        {
            "model": "fake-model",
            "messages": [{"role": "user", "content": "hi"}],
            "stream_options": {"include_usage": True},
        },
    )
    assert events[-1] == "[DONE]"
    chunks = events[:-1]
    assert all(c["object"] == "chat.completion.chunk" for c in chunks)
    assert len({c["id"] for c in chunks}) == 1
    assert chunks[0]["choices"][0]["delta"]["role"] == "assistant"
    assert "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"]) == text
    assert len([c for c in chunks if c["choices"] and c["choices"][0]["delta"].get("content")]) > 1
    finish = [c["choices"][0]["finish_reason"] for c in chunks if c["choices"]]
    assert finish[-1] == "stop" and set(finish[:-1]) == {None}
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"]["total_tokens"] > 0


async def test_scripted_tool_calls_non_streaming_and_streaming(llm: FakeServer, http: ClientSession) -> None:
    call = {"name": "fetch_page", "arguments": {"url": "https://example.com/a", "max_chars": 500}}
    await script(http, llm.url, {"tool_calls": [call]}, {"tool_calls": [call, {**call, "arguments": {}}]})
    request = {"model": "fake-model", "messages": [{"role": "user", "content": "go"}], "tools": [FETCH_TOOL]}
    status, body = await chat(http, llm.url, request)
    assert status == 200
    choice = body["choices"][0]
    assert choice["finish_reason"] == "tool_calls"
    assert choice["message"]["content"] is None
    [tool_call] = choice["message"]["tool_calls"]
    assert tool_call["type"] == "function" and tool_call["id"].startswith("call_")
    assert tool_call["function"]["name"] == "fetch_page"
    assert json.loads(tool_call["function"]["arguments"]) == call["arguments"]

    events = await sse(http, llm.url, request)
    calls: dict[int, dict[str, str]] = {}
    for chunk in events[:-1]:
        for delta in chunk["choices"][0]["delta"].get("tool_calls") or []:
            entry = calls.setdefault(delta["index"], {"id": "", "name": "", "arguments": ""})
            entry["id"] += delta.get("id") or ""
            entry["name"] += (delta.get("function") or {}).get("name") or ""
            entry["arguments"] += (delta.get("function") or {}).get("arguments") or ""
    assert [c["name"] for c in calls.values()] == ["fetch_page", "fetch_page"]
    assert [json.loads(c["arguments"]) for c in calls.values()] == [call["arguments"], {}]
    assert all(c["id"].startswith("call_") for c in calls.values())
    assert events[-2]["choices"][0]["finish_reason"] == "tool_calls"
    requests = await recorded(http, llm.url)
    assert [r["tools"] for r in requests] == [["fetch_page"], ["fetch_page"]]
    assert requests[0]["mode"] == "native"


async def test_default_policy_calls_the_tool_then_quotes_its_result(
    llm: FakeServer, http: ClientSession
) -> None:
    messages: list[dict[str, Any]] = [
        {"role": "system", "content": "You are a researcher."},
        {"role": "user", "content": "Current Task: Summarise https://shop.example.org/pricing, please."},
    ]
    request = {"model": "fake-model", "messages": messages, "tools": [FETCH_TOOL], "tool_choice": "auto"}
    status, body = await chat(http, llm.url, request)
    assert status == 200
    message = body["choices"][0]["message"]
    [tool_call] = message["tool_calls"]
    assert json.loads(tool_call["function"]["arguments"]) == {
        "url": "https://shop.example.org/pricing",
        "max_chars": 100,
    }
    messages += [
        {"role": "assistant", "content": None, "tool_calls": message["tool_calls"]},
        {"role": "tool", "tool_call_id": tool_call["id"], "content": "PRICING-PAGE: 3 plans"},
    ]
    status, body = await chat(http, llm.url, request)
    assert body["choices"][0]["finish_reason"] == "stop"
    assert "PRICING-PAGE: 3 plans" in body["choices"][0]["message"]["content"]
    requests = await recorded(http, llm.url)
    assert requests[0]["tool_results"] == []
    assert requests[1]["tool_results"] == [
        {
            "kind": "native",
            "tool_call_id": tool_call["id"],
            "name": "fetch_page",
            "content": "PRICING-PAGE: 3 plans",
        }
    ]
    assert requests[1]["tool_choice"] == "auto"


async def test_react_text_replies(llm: FakeServer, http: ClientSession) -> None:
    prompt = (
        'Tool Name: lookup\nTool Arguments: {\n  "properties": {"domain": {"type": "string"}},\n'
        '  "required": ["domain"]\n}\nTool Description: Look up a domain\n\n'
        "Action: the action to take, only one name of [lookup]\n"
        "Thought: I now know the final answer\nFinal Answer: the final answer\n"
    )
    messages: list[dict[str, Any]] = [
        {"role": "system", "content": prompt},
        {"role": "user", "content": "Current Task: Check https://acme.test/about"},
    ]
    await script(
        http,
        llm.url,
        {"react_action": {"tool": "lookup", "input": {"domain": "x.test"}}},
        {"final_answer": "Done."},
        {"echo_tool_results": True},
        {"content": "Thought: hi\nObservation: never sent"},
    )
    contents = []
    for _ in range(3):
        _, body = await chat(http, llm.url, {"model": "fake-model", "messages": messages})
        contents.append(body["choices"][0]["message"]["content"])
        if len(contents) == 1:
            messages.append({"role": "assistant", "content": contents[0] + "\nObservation: acme.test is up"})
    assert (
        contents[0]
        == 'Thought: I should use the lookup tool.\nAction: lookup\nAction Input: {"domain": "x.test"}'
    )
    assert contents[1] == "Thought: I now know the final answer\nFinal Answer: Done."
    assert contents[2].startswith("Thought: I now know the final answer\nFinal Answer: ")
    assert '"acme.test is up"' in contents[2]
    # `stop` sequences cut the reply, as OpenAI does.
    _, body = await chat(http, llm.url, {"model": "m", "messages": messages, "stop": ["\nObservation:"]})
    assert body["choices"][0]["message"]["content"] == "Thought: hi"

    # The default policy in ReAct mode: an Action for the prompt's first tool, then a Final Answer.
    messages = messages[:2]
    _, body = await chat(http, llm.url, {"model": "fake-model", "messages": messages})
    assert body["choices"][0]["message"]["content"].endswith(
        'Action: lookup\nAction Input: {"domain": "acme.test"}'
    )
    requests = await recorded(http, llm.url)
    assert requests[-1]["mode"] == "react" and requests[-1]["tools"] == ["lookup"]
    assert requests[2]["tool_results"][0]["name"] == "lookup"
    assert requests[2]["tool_results"][0]["content"] == "acme.test is up"


async def test_embeddings_deterministic_and_similar(llm: FakeServer, http: ClientSession) -> None:
    texts = [
        "marketing campaign for running shoes",
        "running shoes marketing campaign ideas",
        "quarterly tax filing deadline",
    ]

    async def vectors(payload: Any, **extra: Any) -> list[list[float]]:
        body = {"model": "fake-embedding", "input": payload, **extra}
        async with http.post(f"{llm.url}/v1/embeddings", json=body, headers=AUTH) as resp:
            assert resp.status == 200
            data = await resp.json()
        assert data["object"] == "list" and data["model"] == "fake-embedding"
        assert data["usage"]["prompt_tokens"] == data["usage"]["total_tokens"] > 0
        assert [d["index"] for d in data["data"]] == list(range(len(data["data"])))
        assert all(d["object"] == "embedding" for d in data["data"])
        return [d["embedding"] for d in data["data"]]

    first = await vectors(texts)
    again = await vectors(texts)
    [single] = await vectors(texts[0])
    assert first == again and single == first[0]
    assert all(len(v) == 64 for v in first)
    assert all(math.isclose(math.sqrt(sum(x * x for x in v)), 1.0) for v in first)

    def cos(a: list[float], b: list[float]) -> float:
        return sum(x * y for x, y in zip(a, b, strict=True))

    assert cos(first[0], first[1]) > 0.6
    assert cos(first[0], first[1]) > cos(first[0], first[2]) + 0.4
    [wide] = await vectors("x", dimensions=8)
    assert len(wide) == 8

    # The OpenAI SDK asks for base64 (little-endian float32) unless told otherwise.
    async with http.post(
        f"{llm.url}/v1/embeddings",
        json={"model": "e", "input": [texts[2]], "encoding_format": "base64"},
        headers=AUTH,
    ) as resp:
        encoded = (await resp.json())["data"][0]["embedding"]
    decoded = struct.unpack("<64f", base64.b64decode(encoded))
    assert all(math.isclose(a, b, rel_tol=1e-6, abs_tol=1e-7) for a, b in zip(decoded, first[2], strict=True))
    assert embed(texts[2], 64) == first[2]


async def test_embeddings_through_the_openai_sdk(llm: FakeServer) -> None:
    from openai import AsyncOpenAI

    client = AsyncOpenAI(base_url=f"{llm.url}/v1", api_key=KEY, max_retries=0)
    try:
        result = await client.embeddings.create(model="fake-embedding", input=["a b c", "a b d"])
        models = await client.models.list()
    finally:
        await client.close()
    assert [len(d.embedding) for d in result.data] == [64, 64]
    assert result.data[0].embedding == pytest.approx(embed("a b c", 64), abs=1e-6)
    assert {m.id for m in models.data} == {"fake-model", "fake-embedding"}


async def test_models(llm: FakeServer, http: ClientSession) -> None:
    async with http.get(f"{llm.url}/v1/models", headers=AUTH) as resp:
        body = await resp.json()
    assert body["object"] == "list"
    assert {"id": "fake-model", "object": "model", "owned_by": "fake"}.items() <= body["data"][0].items()
    async with http.get(f"{llm.url}/v1/models/fake-model", headers=AUTH) as resp:
        assert (await resp.json())["id"] == "fake-model"
    async with http.get(f"{llm.url}/v1/models/nope", headers=AUTH) as resp:
        assert resp.status == 404
        assert (await resp.json())["error"]["code"] == "model_not_found"


async def test_auth(llm: FakeServer, http: ClientSession) -> None:
    request = {"model": "fake-model", "messages": [{"role": "user", "content": "hi"}]}
    for headers in ({}, {"Authorization": "Bearer wrong-key-123"}, {"Authorization": KEY}):
        status, body = await chat(http, llm.url, request, headers=headers)
        assert status == 401
        assert body["error"]["type"] == "invalid_request_error"
        assert body["error"]["code"] == "invalid_api_key"
        assert body["error"]["message"]
        assert KEY not in body["error"]["message"] and "wrong-key-123" not in body["error"]["message"]
    async with http.post(f"{llm.url}/v1/embeddings", json={"input": "x"}) as resp:
        assert resp.status == 401
    async with http.get(f"{llm.url}/v1/models") as resp:
        assert resp.status == 401
    assert (await chat(http, llm.url, request))[0] == 200

    async with FakeServer(make_app()) as open_server:
        status, _ = await chat(http, open_server.url, request, headers={})
        assert status == 200


async def test_failure_injection(llm: FakeServer, http: ClientSession) -> None:
    request = {"model": "fake-model", "messages": [{"role": "user", "content": "hi"}]}
    async with http.post(f"{llm.url}/_fake/fail", json={"status": 429, "count": 2, "retry_after": 3}) as resp:
        assert resp.status == 200
    for _ in range(2):
        async with http.post(f"{llm.url}/v1/chat/completions", json=request, headers=AUTH) as resp:
            assert resp.status == 429
            assert resp.headers["Retry-After"] == "3"
            error = (await resp.json())["error"]
            assert error["code"] == "rate_limit_exceeded" and error["message"]
    assert (await chat(http, llm.url, request))[0] == 200

    async with http.post(f"{llm.url}/_fake/fail", json={"status": 500, "count": 1}) as resp:
        assert resp.status == 200
    status, body = await chat(http, llm.url, request)
    assert status == 500 and body["error"]["type"] == "server_error"
    assert (await chat(http, llm.url, request))[0] == 200

    # Failures count embeddings requests too; auth is checked first.
    async with http.post(f"{llm.url}/_fake/fail", json={"status": 503, "count": 1}) as resp:
        assert resp.status == 200
    async with http.post(f"{llm.url}/v1/embeddings", json={"input": "x"}) as resp:
        assert resp.status == 401
    async with http.post(f"{llm.url}/v1/embeddings", json={"input": "x"}, headers=AUTH) as resp:
        assert resp.status == 503
    async with http.post(f"{llm.url}/_fake/fail", json={"status": 200}) as resp:
        assert resp.status == 400

    # A scripted one-off error; reset clears script, failures and the record.
    await script(http, llm.url, {"error": {"status": 400, "message": "bad things"}})
    status, body = await chat(http, llm.url, request)
    assert status == 400 and body["error"]["message"] == "bad things"
    assert [r["status"] for r in await recorded(http, llm.url)] == [429, 429, 200, 500, 200, 401, 503, 400]
    async with http.post(f"{llm.url}/_fake/fail", json={"status": 500, "count": 5}) as resp:
        assert resp.status == 200
    async with http.post(f"{llm.url}/_fake/reset") as resp:
        assert resp.status == 200
    assert await recorded(http, llm.url) == []
    assert (await chat(http, llm.url, request))[0] == 200


async def test_bad_requests(llm: FakeServer, http: ClientSession) -> None:
    async with http.post(f"{llm.url}/v1/chat/completions", data=b"{nope", headers=AUTH) as resp:
        assert resp.status == 400
        assert (await resp.json())["error"]["type"] == "invalid_request_error"
    status, body = await chat(http, llm.url, {"model": "fake-model", "messages": []})
    assert status == 400 and body["error"]["param"] == "messages"
    async with http.post(f"{llm.url}/_fake/config", json={"native_tools": False}) as resp:
        assert (await resp.json())["native_tools"] is False
    status, body = await chat(
        http,
        llm.url,
        {"model": "fake-model", "messages": [{"role": "user", "content": "x"}], "tools": [FETCH_TOOL]},
    )
    assert status == 400 and "does not support tools" in body["error"]["message"]


async def test_tool_choice_and_script_validation(llm: FakeServer, http: ClientSession) -> None:
    other = {**FETCH_TOOL, "function": {**FETCH_TOOL["function"], "name": "other_tool"}}
    base = {"model": "m", "messages": [{"role": "user", "content": "x"}], "tools": [FETCH_TOOL, other]}
    _, body = await chat(http, llm.url, {**base, "tool_choice": "none"})
    assert body["choices"][0]["finish_reason"] == "stop"
    _, body = await chat(
        http, llm.url, {**base, "tool_choice": {"type": "function", "function": {"name": "other_tool"}}}
    )
    assert body["choices"][0]["message"]["tool_calls"][0]["function"]["name"] == "other_tool"
    for bad in ({"nothing": 1}, {"tool_calls": [{"arguments": {}}]}, {"react_action": {"input": {}}}):
        async with http.post(f"{llm.url}/_fake/script", json={"replies": [bad]}) as resp:
            assert resp.status == 400
    await script(http, llm.url, {"content": "one"})
    async with http.post(
        f"{llm.url}/_fake/script", json={"replies": [{"content": "two"}], "append": True}
    ) as resp:
        assert (await resp.json())["queued"] == 2
    async with http.get(f"{llm.url}/_fake/script") as resp:
        assert (await resp.json())["replies"] == [{"content": "one"}, {"content": "two"}]


def test_openai_sdk_against_a_threaded_fake() -> None:
    """The synchronous OpenAI SDK (what CrewAI's sync kickoff uses) parses the fake's replies,
    streamed tool-call deltas included; the fake runs in its own thread."""
    from openai import OpenAI

    fake = ThreadedFake(make_app(api_key=KEY))
    url = fake.start()
    try:
        state = llm_state(fake.app)
        call = {"name": "fetch_page", "arguments": {"url": "https://x.test/", "max_chars": 200}}
        state.script.extend([{"tool_calls": [call]}, {"tool_calls": [call]}, {"content": "plain text"}])
        client = OpenAI(base_url=f"{url}/v1", api_key=KEY, max_retries=0)
        messages: Any = [{"role": "user", "content": "go"}]
        tools: Any = [FETCH_TOOL]
        completion = client.chat.completions.create(model="fake-model", messages=messages, tools=tools)
        [tool_call] = completion.choices[0].message.tool_calls or []
        assert tool_call.function.name == "fetch_page"
        with client.beta.chat.completions.stream(
            model="fake-model", messages=messages, tools=tools
        ) as stream:
            for _ in stream:
                pass
            final = stream.get_final_completion()
        [streamed] = final.choices[0].message.tool_calls or []
        assert json.loads(streamed.function.arguments) == call["arguments"]
        assert final.choices[0].finish_reason == "tool_calls"
        chunks = list(client.chat.completions.create(model="fake-model", messages=messages, stream=True))
        assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "plain text"
        client.close()
    finally:
        fake.stop()


# --- a real CrewAI crew -------------------------------------------------------------------------


@pytest.fixture
def offline(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> Iterator[list[Any]]:
    """Refuse (and record) any connection or name lookup beyond the loopback interface, and keep
    CrewAI's kickoff database out of the home directory."""
    for name, value in OFFLINE_ENV.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    monkeypatch.setenv("CREWAI_STORAGE_DIR", "bizosaas-fake-llm-test")
    for name in ("OPENAI_BASE_URL", "OPENAI_API_BASE", "OPENAI_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    attempts: list[Any] = []
    real_connect, real_connect_ex = socket.socket.connect, socket.socket.connect_ex
    real_getaddrinfo = socket.getaddrinfo

    def allowed(address: Any) -> bool:
        return not isinstance(address, tuple) or str(address[0]) in LOOPBACK

    def connect(self: socket.socket, address: Any) -> None:
        if not allowed(address):
            attempts.append(address)
            raise OSError(f"test: no network beyond loopback ({address!r})")
        return real_connect(self, address)

    def connect_ex(self: socket.socket, address: Any) -> int:
        if not allowed(address):
            attempts.append(address)
            raise OSError(f"test: no network beyond loopback ({address!r})")
        return real_connect_ex(self, address)

    def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        if host is not None and str(host if not isinstance(host, bytes) else host.decode()) not in LOOPBACK:
            attempts.append(host)
            raise socket.gaierror(f"test: no name lookups beyond loopback ({host!r})")
        return real_getaddrinfo(host, *args, **kwargs)

    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.setattr(socket.socket, "connect_ex", connect_ex)
    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    yield attempts
    assert attempts == [], f"network access beyond 127.0.0.1: {attempts}"


def test_offline_guard_refuses_remote_hosts(offline: list[Any]) -> None:
    with pytest.raises(OSError):
        socket.create_connection(("192.0.2.1", 80), timeout=1)
    with pytest.raises(OSError), socket.socket() as sock:
        sock.connect(("192.0.2.1", 80))
    assert offline == ["192.0.2.1", ("192.0.2.1", 80)]
    offline.clear()


def build_crew(base_url: str, calls: list[str]) -> Any:
    from crewai import LLM, Agent, Crew, Process, Task
    from crewai.tools import BaseTool
    from pydantic import BaseModel, Field

    class PageArgs(BaseModel):
        url: str = Field(description="The address of the page to read")

    class ReadPage(BaseTool):
        name: str = "read_page"
        description: str = "Read a web page and return its headline."
        args_schema: type[BaseModel] = PageArgs

        def _run(self, url: str) -> str:
            calls.append(url)
            return f"HEADLINE-7F3A: Spring sale at {url}"

    llm = LLM(model="openai/fake-model", base_url=base_url, api_key=KEY, max_retries=0, timeout=10)
    agent = Agent(
        role="Researcher",
        goal="Report page headlines",
        backstory="You read pages with your tool.",
        tools=[ReadPage()],
        llm=llm,
        max_iter=3,
        verbose=False,
        allow_delegation=False,
    )
    task = Task(
        description="Read https://shop.example.com/spring and report its headline.",
        expected_output="The page headline",
        agent=agent,
    )
    return Crew(agents=[agent], tasks=[task], process=Process.sequential, verbose=False)


async def test_crewai_crew_native_tool_calling(llm: FakeServer, offline: list[Any]) -> None:
    """CrewAI 1.15 sends `openai/<model>` with a base_url through its native OpenAI provider; the
    model supports function calling, so the tool goes out as a function tool and its result comes
    back as a `role: tool` message."""
    calls: list[str] = []
    crew = build_crew(f"{llm.url}/v1", calls)
    assert type(crew.agents[0].llm).__name__ == "OpenAICompletion"

    output = await crew.kickoff_async()

    assert calls == ["https://shop.example.com/spring"]
    assert "HEADLINE-7F3A: Spring sale at https://shop.example.com/spring" in output.raw
    requests = llm_state(llm.app).requests
    assert [r["mode"] for r in requests] == ["native", "native"]
    assert all(r["path"] == "/v1/chat/completions" and r["stream"] is False for r in requests)
    assert all(r["authorization"] == f"Bearer {KEY}" for r in requests)
    assert requests[0]["tools"] == ["read_page"] and requests[0]["tool_results"] == []
    [tool_call] = requests[0]["reply"]["tool_calls"]
    assert json.loads(tool_call["function"]["arguments"]) == {"url": "https://shop.example.com/spring"}
    [result] = requests[1]["tool_results"]
    assert result["kind"] == "native" and result["tool_call_id"] == tool_call["id"]
    assert result["name"] == "read_page"
    assert result["content"] == "HEADLINE-7F3A: Spring sale at https://shop.example.com/spring"


async def test_crewai_crew_scripted_and_streaming(llm: FakeServer, offline: list[Any]) -> None:
    """Scripted replies drive the same crew; with `stream=True` CrewAI streams and the fake answers
    in SSE, tool-call deltas included."""
    calls: list[str] = []
    crew = build_crew(f"{llm.url}/v1", calls)
    crew.agents[0].llm.stream = True
    state = llm_state(llm.app)
    state.script.extend(
        [
            {"tool_calls": [{"name": "read_page", "arguments": {"url": "https://other.example.com/"}}]},
            {"echo_tool_results": True},
        ]
    )

    output = await crew.akickoff()

    assert calls == ["https://other.example.com/"]
    assert "HEADLINE-7F3A: Spring sale at https://other.example.com/" in output.raw
    assert [(r["mode"], r["stream"], r["reply"]["source"]) for r in state.requests] == [
        ("native", True, "script"),
        ("native", True, "script"),
    ]
    assert state.requests[1]["tool_results"][0]["content"].startswith("HEADLINE-7F3A")


async def test_crewai_crew_react_fallback(llm: FakeServer, offline: list[Any]) -> None:
    """A server that refuses tools makes CrewAI fall back to the ReAct text protocol: the fake then
    answers `Action:` / `Action Input:`, sees CrewAI's `Observation:` and ends with `Final Answer:`."""
    calls: list[str] = []
    crew = build_crew(f"{llm.url}/v1", calls)
    state = llm_state(llm.app)
    state.native_tools = False

    output = await crew.akickoff()

    assert calls == ["https://shop.example.com/spring"]
    assert "HEADLINE-7F3A: Spring sale at https://shop.example.com/spring" in output.raw
    assert "Final Answer:" not in output.raw
    modes = [(r["mode"], r["status"]) for r in state.requests]
    assert modes == [("native", 400), ("react", 200), ("react", 200)]
    assert state.requests[1]["tools"] == ["read_page"]
    assert "Action: read_page" in state.requests[1]["reply"]["content"]
    [result] = state.requests[2]["tool_results"]
    assert result == {
        "kind": "react",
        "tool_call_id": None,
        "name": "read_page",
        "content": "HEADLINE-7F3A: Spring sale at https://shop.example.com/spring",
    }
