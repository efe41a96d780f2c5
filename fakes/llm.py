"""Fake OpenAI-compatible LLM provider: chat completions (plain and SSE streaming, function tool
calls), embeddings and the model list, in OpenAI's wire format, so CrewAI crews and any OpenAI
client run offline against `<url>/v1`.

CrewAI 1.15 routes `LLM(model="openai/<name>", base_url=..., api_key=...)` to its native OpenAI
provider (the `openai` SDK, `POST {base_url}/chat/completions`, non-streaming unless the LLM or
crew streams) and, since such a model "supports function calling", offers the agent's tools as
native function tools and sends their results back as `role: tool` messages. When native tool
calling is unavailable (an o1-style model, or a server answering "does not support tools", which
`POST /_fake/config {"native_tools": false}` makes this fake do) CrewAI falls back to the ReAct
text protocol: the tools are described in the prompt, the model answers `Action:` /
`Action Input:`, CrewAI appends `Observation: <result>` and expects `Final Answer:`. The fake
speaks both: every reply is rendered for the protocol the request is in.

Replies come from a script (`POST /_fake/script {"replies": [...]}`, consumed in order), each one of
  {"content": "..."}                                    plain text
  {"tool_calls": [{"name": ..., "arguments": {...}}]}   native tool calls (ReAct text in ReAct mode)
  {"react_action": {"tool": ..., "input": {...}}}       ReAct `Action:` text
  {"final_answer": "..."}                               final answer: `Thought: I now know the final
                                                        answer\nFinal Answer: ...` in a ReAct
                                                        conversation, the bare text in a native one
                                                        (CrewAI would keep the markers); "react": bool
                                                        forces either
  {"echo_tool_results": true}                           a final answer quoting the tool results so far
  {"error": {"status": 400, "message": "..."}}          one OpenAI-shaped error
and when the script is empty, from the default policy: tools offered and no tool result yet ->
call the first tool with arguments built from its JSON schema (a URL, e-mail or the task text from
the last user message); otherwise a final answer quoting the tool results.

Control: `GET /_fake/requests`, `POST /_fake/reset`, `POST /_fake/script`,
`POST /_fake/fail {"status": 429|500, "count": n}`, `POST /_fake/config {"native_tools": bool}`.
"""

from __future__ import annotations

import base64
import hashlib
import itertools
import json
import math
import os
import re
import struct
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from fakes._server import run_cli

DEFAULT_MODELS = ("fake-model", "fake-embedding")
FINAL_ANSWER_THOUGHT = "Thought: I now know the final answer"

_URL = re.compile(r"https?://[^\s\"'<>)\]}]+")
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+\.[\w.-]+")
_WORD = re.compile(r"[a-z0-9]+")
_REACT_TOOL = re.compile(r"Tool Name: *(?P<name>[^\n]+)\nTool Arguments: *")
_REACT_NAMES = re.compile(r"only one name of \[(?P<names>[^\]]*)\]|\[name from (?P<names2>[^\]]*)\]")
_ACTION = re.compile(r"Action: *(?P<tool>[^\n]+)")
_OBSERVATION = "Observation:"


@dataclass
class ToolSpec:
    name: str
    parameters: dict[str, Any]


@dataclass
class Failure:
    status: int
    remaining: int
    message: str | None = None
    retry_after: float = 1


@dataclass
class LLMState:
    api_key: str | None
    embedding_dim: int
    script: deque[dict[str, Any]] = field(default_factory=deque)
    requests: list[dict[str, Any]] = field(default_factory=list)
    failures: deque[Failure] = field(default_factory=deque)
    native_tools: bool = True
    models: list[str] = field(default_factory=lambda: list(DEFAULT_MODELS))
    counter: int = 0

    def next_id(self, prefix: str) -> str:
        self.counter += 1
        return f"{prefix}{self.counter:06d}"

    def reset(self) -> None:
        self.script.clear()
        self.requests.clear()
        self.failures.clear()
        self.native_tools = True
        self.models = list(DEFAULT_MODELS)


STATE = web.AppKey("llm_state", LLMState)


def llm_state(app: web.Application) -> LLMState:
    """The fake's state, for in-process inspection by tests."""
    return app[STATE]


# --- errors -------------------------------------------------------------------------------------


def openai_error(
    status: int,
    message: str,
    *,
    type_: str = "invalid_request_error",
    code: str | None = None,
    param: str | None = None,
    headers: dict[str, str] | None = None,
) -> web.Response:
    body = {"error": {"message": message, "type": type_, "param": param, "code": code}}
    return web.json_response(body, status=status, headers=headers)


def _failure_response(failure: Failure) -> web.Response:
    if failure.status == 429:
        message = failure.message or "Rate limit reached for requests. Please try again later."
        seconds = failure.retry_after
        headers = {
            "Retry-After": str(math.ceil(seconds)),
            "retry-after-ms": str(int(seconds * 1000)),
            "x-ratelimit-remaining-requests": "0",
        }
        return openai_error(429, message, type_="requests", code="rate_limit_exceeded", headers=headers)
    if failure.status >= 500:
        message = (
            failure.message or "The server had an error while processing your request. Sorry about that!"
        )
        return openai_error(failure.status, message, type_="server_error")
    return openai_error(failure.status, failure.message or "Injected failure.")


def _check_auth(request: web.Request, state: LLMState) -> web.Response | None:
    if state.api_key is None:
        return None
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() == "bearer" and token.strip() == state.api_key:
        return None
    shown = token.strip()
    shown = f"{shown[:3]}***{shown[-4:]}" if len(shown) > 8 else "***"
    message = (
        "You didn't provide an API key. You need to provide your API key in an Authorization "
        "header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY)."
        if not header
        else f"Incorrect API key provided: {shown}."
    )
    return openai_error(401, message, code="invalid_api_key")


def _gate(request: web.Request, state: LLMState) -> web.Response | None:
    """Auth, then any injected failure (consumed per API request)."""
    denied = _check_auth(request, state)
    if denied is not None:
        return denied
    if state.failures:
        failure = state.failures[0]
        failure.remaining -= 1
        if failure.remaining <= 0:
            state.failures.popleft()
        return _failure_response(failure)
    return None


async def _json_body(request: web.Request) -> dict[str, Any] | web.Response:
    try:
        body = await request.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        return openai_error(400, "We could not parse the JSON body of your request.")
    if not isinstance(body, dict):
        return openai_error(400, "The request body must be a JSON object.")
    return body


# --- reading the conversation -------------------------------------------------------------------


def _text(content: Any) -> str:
    """Message content as text (a string, or a list of content parts)."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = []
        for part in content:
            if isinstance(part, dict):
                parts.append(str(part.get("text", "")))
            else:
                parts.append(str(part))
        return "".join(parts)
    return str(content)


def _offered_tools(body: dict[str, Any]) -> list[ToolSpec]:
    specs = []
    for tool in body.get("tools") or []:
        if not isinstance(tool, dict):
            continue
        fn = tool.get("function") if tool.get("type", "function") == "function" else None
        if isinstance(fn, dict) and fn.get("name"):
            specs.append(ToolSpec(str(fn["name"]), fn.get("parameters") or {}))
    return specs


def _prompt_text(messages: list[dict[str, Any]]) -> str:
    return "\n".join(_text(m.get("content")) for m in messages if m.get("role") in ("system", "user"))


def _react_tools(messages: list[dict[str, Any]]) -> list[ToolSpec]:
    """The tools a ReAct prompt describes (`Tool Name:` / `Tool Arguments: {json}` blocks)."""
    prompt = _prompt_text(messages)
    decoder = json.JSONDecoder()
    specs: dict[str, ToolSpec] = {}
    for match in _REACT_TOOL.finditer(prompt):
        name = match.group("name").strip()
        try:
            schema, _ = decoder.raw_decode(prompt, match.end())
        except json.JSONDecodeError:
            schema = {}
        specs.setdefault(name, ToolSpec(name, schema if isinstance(schema, dict) else {}))
    if not specs:
        for names_match in _REACT_NAMES.finditer(prompt):
            names = names_match.group("names") or names_match.group("names2") or ""
            for name in names.split(","):
                if name.strip():
                    specs.setdefault(name.strip(), ToolSpec(name.strip(), {}))
    return list(specs.values())


def _is_react(body: dict[str, Any], messages: list[dict[str, Any]]) -> bool:
    """A text-protocol conversation: no native tools offered, the prompt asks for `Final Answer:`."""
    return not body.get("tools") and "Final Answer:" in _prompt_text(messages)


def _tool_results(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Tool results in the conversation: native `role: tool` messages and ReAct observations."""
    names: dict[str, str] = {}
    results = []
    for message in messages:
        role = message.get("role")
        if role == "assistant":
            for call in message.get("tool_calls") or []:
                fn = call.get("function") or {}
                names[str(call.get("id"))] = str(fn.get("name", ""))
            text = _text(message.get("content"))
            if _OBSERVATION in text:
                before, _, observation = text.partition(_OBSERVATION)
                actions = _ACTION.findall(before)
                results.append(
                    {
                        "kind": "react",
                        "tool_call_id": None,
                        "name": actions[-1].strip() if actions else None,
                        "content": observation.strip(),
                    }
                )
        elif role == "tool":
            call_id = str(message.get("tool_call_id"))
            results.append(
                {
                    "kind": "native",
                    "tool_call_id": call_id,
                    "name": message.get("name") or names.get(call_id),
                    "content": _text(message.get("content")),
                }
            )
        elif role == "user":
            text = _text(message.get("content"))
            if text.lstrip().startswith(_OBSERVATION):
                results.append(
                    {
                        "kind": "react",
                        "tool_call_id": None,
                        "name": None,
                        "content": text.lstrip()[len(_OBSERVATION) :].strip(),
                    }
                )
    return results


def _last_user_text(messages: list[dict[str, Any]]) -> str:
    """The user message carrying the task (CrewAI's `Current Task:`), else the last user message
    that is not a tool observation."""
    texts = [_text(m.get("content")) for m in messages if m.get("role") == "user"]
    for text in reversed(texts):
        if "Current Task:" in text:
            return text
    for text in reversed(texts):
        if text.strip() and not text.lstrip().startswith(_OBSERVATION):
            return text
    return ""


def _task_text(messages: list[dict[str, Any]]) -> str:
    text = _last_user_text(messages)
    match = re.search(r"Current Task: *(?P<task>[^\n]+)", text)
    if match:
        return match.group("task").strip()
    return text.strip().splitlines()[0].strip() if text.strip() else ""


# --- building arguments from a JSON schema ------------------------------------------------------


def _resolve(schema: dict[str, Any], root: dict[str, Any]) -> dict[str, Any]:
    ref = schema.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/"):
        node: Any = root
        for part in ref[2:].split("/"):
            node = node.get(part, {}) if isinstance(node, dict) else {}
        return node if isinstance(node, dict) else {}
    for key in ("anyOf", "oneOf", "allOf"):
        options = schema.get(key)
        if isinstance(options, list):
            for option in options:
                if isinstance(option, dict) and option.get("type") != "null":
                    return _resolve(option, root)
    return schema


def _schema_type(schema: dict[str, Any]) -> str:
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "null")
    if kind is None:
        kind = "object" if "properties" in schema else "string"
    return str(kind)


def _value_for(name: str, schema: dict[str, Any], root: dict[str, Any], source: str, task: str) -> Any:
    schema = _resolve(schema, root)
    if "const" in schema:
        return schema["const"]
    if "default" in schema and schema["default"] is not None:
        return schema["default"]
    if isinstance(schema.get("enum"), list) and schema["enum"]:
        return schema["enum"][0]
    kind = _schema_type(schema)
    lowered = name.lower()
    if kind == "string":
        url = _URL.search(source)
        email = _EMAIL.search(source)
        if any(hint in lowered for hint in ("url", "uri", "link", "website", "site", "page", "href")):
            return url.group(0).rstrip(".,;:") if url else task
        if "email" in lowered or "mail" in lowered:
            return email.group(0).rstrip(".") if email else task
        if "domain" in lowered or "host" in lowered:
            if url:
                return re.sub(r"^https?://", "", url.group(0)).split("/")[0]
            return task
        return task
    if kind in ("integer", "number"):
        value = schema.get("minimum", schema.get("exclusiveMinimum", 1))
        return int(value) if kind == "integer" else float(value)
    if kind == "boolean":
        return False
    if kind == "array":
        return []
    if kind == "object":
        return build_arguments(schema, source, root=root)
    return None


def build_arguments(
    schema: dict[str, Any], source: str, *, root: dict[str, Any] | None = None, task: str | None = None
) -> dict[str, Any]:
    """Arguments for a function's JSON schema: its required fields (all fields when a strict schema
    lists every one), strings filled from `source` (a URL, an e-mail, else the task text)."""
    root = root if root is not None else schema
    schema = _resolve(schema, root)
    properties = schema.get("properties") or {}
    if not isinstance(properties, dict):
        return {}
    required = schema.get("required")
    names = [n for n in required if n in properties] if isinstance(required, list) else list(properties)
    task = task if task is not None else source.strip()[:200]
    return {
        name: _value_for(
            name, properties[name] if isinstance(properties[name], dict) else {}, root, source, task
        )
        for name in names
    }


# --- replies ------------------------------------------------------------------------------------


def _quote_results(results: list[dict[str, Any]]) -> str:
    if not results:
        return "No tool results were available."
    lines = [
        f'The {r["name"] or "tool"} tool returned: "{r["content"]}"'
        if r["name"]
        else f'Tool result: "{r["content"]}"'
        for r in results
    ]
    return "Based on the tool results:\n" + "\n".join(lines)


def _react_action_text(tool: str, arguments: Any, thought: str | None = None) -> str:
    thought = thought or f"I should use the {tool} tool."
    rendered = arguments if isinstance(arguments, str) else json.dumps(arguments)
    return f"Thought: {thought}\nAction: {tool}\nAction Input: {rendered}"


def _final_text(answer: str, react: bool) -> str:
    return f"{FINAL_ANSWER_THOUGHT}\nFinal Answer: {answer}" if react else answer


@dataclass
class Reply:
    content: str | None = None
    tool_calls: list[dict[str, Any]] = field(default_factory=list)
    error: dict[str, Any] | None = None
    source: str = "default"

    @property
    def finish_reason(self) -> str:
        return "tool_calls" if self.tool_calls else "stop"


def _tool_call(state: LLMState, name: str, arguments: Any, call_id: str | None = None) -> dict[str, Any]:
    rendered = arguments if isinstance(arguments, str) else json.dumps(arguments or {})
    return {
        "id": call_id or state.next_id("call_fake"),
        "type": "function",
        "function": {"name": name, "arguments": rendered},
    }


def _render(state: LLMState, item: dict[str, Any], conv: dict[str, Any]) -> Reply:
    react: bool = conv["react"]
    wants_final_format: bool = conv["final_format"]
    if "error" in item:
        return Reply(error=dict(item["error"] or {}), source="script")
    if "tool_calls" in item:
        calls = [c for c in item["tool_calls"] if isinstance(c, dict)]
        if react and calls:
            first = calls[0]
            return Reply(
                content=_react_action_text(first["name"], first.get("arguments") or {}), source="script"
            )
        return Reply(
            content=item.get("content"),
            tool_calls=[_tool_call(state, c["name"], c.get("arguments"), c.get("id")) for c in calls],
            source="script",
        )
    if "react_action" in item:
        action = item["react_action"]
        text = _react_action_text(action["tool"], action.get("input") or {}, action.get("thought"))
        return Reply(content=text, source="script")
    if "final_answer" in item:
        react_format = item.get("react", wants_final_format)
        return Reply(content=_final_text(str(item["final_answer"]), bool(react_format)), source="script")
    if item.get("echo_tool_results"):
        return Reply(
            content=_final_text(_quote_results(conv["tool_results"]), wants_final_format), source="script"
        )
    if "content" in item:
        return Reply(content=str(item["content"]), source="script")
    return Reply(
        error={"status": 500, "message": f"fake llm: unknown scripted reply {item!r}"}, source="script"
    )


def _default_reply(state: LLMState, body: dict[str, Any], conv: dict[str, Any]) -> Reply:
    tools: list[ToolSpec] = conv["tools"]
    results = conv["tool_results"]
    source_text = _last_user_text(conv["messages"])
    task = _task_text(conv["messages"])
    choice = body.get("tool_choice")
    if isinstance(choice, dict):
        wanted = (choice.get("function") or {}).get("name")
        tools = [t for t in tools if t.name == wanted] or tools
    if choice == "none":
        tools = []
    if tools and (not results or choice == "required"):
        tool = tools[0]
        arguments = build_arguments(tool.parameters, source_text, task=task)
        if conv["react"]:
            return Reply(content=_react_action_text(tool.name, arguments))
        return Reply(tool_calls=[_tool_call(state, tool.name, arguments)])
    response_format = body.get("response_format")
    if not results and isinstance(response_format, dict) and response_format.get("type") == "json_schema":
        schema = (response_format.get("json_schema") or {}).get("schema") or {}
        return Reply(content=json.dumps(build_arguments(schema, source_text, task=task)))
    if results:
        return Reply(content=_final_text(_quote_results(results), conv["final_format"]))
    answer = f"Fake answer to: {task}" if task else "Fake answer."
    return Reply(content=_final_text(answer, conv["final_format"]))


def _apply_stop(text: str | None, stop: Any) -> str | None:
    if text is None or not stop:
        return text
    for sequence in [stop] if isinstance(stop, str) else list(stop):
        if sequence and sequence in text:
            text = text[: text.index(sequence)]
    return text


def _count_tokens(text: str) -> int:
    return max(1, len(text) // 4) if text else 0


# --- chat completions ---------------------------------------------------------------------------


async def chat_completions(request: web.Request) -> web.StreamResponse:
    state = request.app[STATE]
    parsed = await _json_body(request)
    if isinstance(parsed, web.Response):
        return parsed
    body = parsed
    messages = body.get("messages")
    record: dict[str, Any] = {
        "path": request.path,
        "model": body.get("model"),
        "stream": bool(body.get("stream")),
        "messages": messages,
        "tools": [t.name for t in _offered_tools(body)],
        "tools_raw": body.get("tools"),
        "tool_choice": body.get("tool_choice"),
        "stop": body.get("stop"),
        "temperature": body.get("temperature"),
        "response_format": body.get("response_format"),
        "authorization": request.headers.get("Authorization"),
    }
    state.requests.append(record)
    react, tools = False, []
    if isinstance(messages, list) and all(isinstance(m, dict) for m in messages):
        react = _is_react(body, messages)
        tools = _offered_tools(body) or (_react_tools(messages) if react else [])
        record["mode"] = "native" if body.get("tools") else ("react" if react else "plain")
        record["tools"] = [t.name for t in tools]
        record["tool_results"] = _tool_results(messages)
    gated = _gate(request, state)
    if gated is not None:
        record["status"] = gated.status
        return gated
    if not body.get("model"):
        record["status"] = 400
        return openai_error(400, "you must provide a model parameter", param="model")
    if not isinstance(messages, list) or not messages or not all(isinstance(m, dict) for m in messages):
        record["status"] = 400
        return openai_error(400, "'messages' must be a non-empty array of message objects.", param="messages")
    if body.get("tools") and not state.native_tools:
        record["status"] = 400
        return openai_error(400, f"{body['model']} does not support tools", param="tools")

    conv = {
        "messages": messages,
        "react": react,
        "final_format": react,
        "tools": tools,
        "tool_results": record["tool_results"],
    }

    reply = (
        _render(state, state.script.popleft(), conv) if state.script else _default_reply(state, body, conv)
    )
    if reply.error is not None:
        status = int(reply.error.get("status", 400))
        record["status"] = status
        record["reply"] = {"source": reply.source, "error": reply.error}
        failure = Failure(status, 0, reply.error.get("message"), float(reply.error.get("retry_after", 1)))
        return _failure_response(failure)
    content = _apply_stop(reply.content, body.get("stop"))
    record["status"] = 200
    record["reply"] = {
        "source": reply.source,
        "content": content,
        "tool_calls": reply.tool_calls,
        "finish_reason": reply.finish_reason,
    }

    prompt_tokens = sum(_count_tokens(_text(m.get("content"))) for m in messages) + 3 * len(messages)
    completion_tokens = _count_tokens(content or "") + sum(
        _count_tokens(c["function"]["name"] + c["function"]["arguments"]) for c in reply.tool_calls
    )
    usage = {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "total_tokens": prompt_tokens + completion_tokens,
    }
    completion_id = state.next_id("chatcmpl-fake")
    created = int(time.time())
    model = str(body["model"])
    if body.get("stream"):
        include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
        return await _stream(request, completion_id, created, model, content, reply, usage, include_usage)

    message: dict[str, Any] = {"role": "assistant", "content": content, "refusal": None}
    if reply.tool_calls:
        message["tool_calls"] = reply.tool_calls
    return web.json_response(
        {
            "id": completion_id,
            "object": "chat.completion",
            "created": created,
            "model": model,
            "system_fingerprint": "fp_fake",
            "choices": [
                {"index": 0, "message": message, "logprobs": None, "finish_reason": reply.finish_reason}
            ],
            "usage": usage,
        }
    )


def _pieces(text: str, size: int = 16) -> list[str]:
    return [text[i : i + size] for i in range(0, len(text), size)] or [""]


async def _stream(
    request: web.Request,
    completion_id: str,
    created: int,
    model: str,
    content: str | None,
    reply: Reply,
    usage: dict[str, int],
    include_usage: bool,
) -> web.StreamResponse:
    response = web.StreamResponse(
        headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache", "Connection": "keep-alive"}
    )
    await response.prepare(request)

    def chunk(delta: dict[str, Any], finish: str | None = None, **extra: Any) -> dict[str, Any]:
        return {
            "id": completion_id,
            "object": "chat.completion.chunk",
            "created": created,
            "model": model,
            "system_fingerprint": "fp_fake",
            "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}],
            **extra,
        }

    async def send(data: dict[str, Any] | str) -> None:
        payload = data if isinstance(data, str) else json.dumps(data)
        await response.write(f"data: {payload}\n\n".encode())

    await send(chunk({"role": "assistant", "content": "", "refusal": None}))
    if content:
        for piece in _pieces(content):
            await send(chunk({"content": piece}))
    for index, call in enumerate(reply.tool_calls):
        head = {
            "index": index,
            "id": call["id"],
            "type": "function",
            "function": {"name": call["function"]["name"], "arguments": ""},
        }
        await send(chunk({"tool_calls": [head]}))
        for piece in _pieces(call["function"]["arguments"], 12):
            await send(chunk({"tool_calls": [{"index": index, "function": {"arguments": piece}}]}))
    await send(chunk({}, reply.finish_reason))
    if include_usage:
        await send({**chunk({}), "choices": [], "usage": usage})
    await send("[DONE]")
    await response.write_eof()
    return response


# --- embeddings and models ----------------------------------------------------------------------


def embed(text: str, dim: int) -> list[float]:
    """Deterministic hashed bag of words (plus word bigrams), L2-normalised: texts sharing words
    get close vectors; the same text always gets the same vector."""
    words = _WORD.findall(text.lower())
    features = words + [f"{a} {b}" for a, b in itertools.pairwise(words)]
    if not features:
        features = ["<empty>"]
    vector = [0.0] * dim
    for feature in features:
        digest = hashlib.blake2b(feature.encode(), digest_size=8).digest()
        index = int.from_bytes(digest[:4], "little") % dim
        sign = 1.0 if digest[4] & 1 else -1.0
        vector[index] += sign * (1.0 if " " not in feature else 0.5)
    norm = math.sqrt(sum(v * v for v in vector)) or 1.0
    return [v / norm for v in vector]


async def embeddings(request: web.Request) -> web.Response:
    state = request.app[STATE]
    parsed = await _json_body(request)
    if isinstance(parsed, web.Response):
        return parsed
    body = parsed
    state.requests.append({"path": request.path, "model": body.get("model"), "input": body.get("input")})
    gated = _gate(request, state)
    if gated is not None:
        state.requests[-1]["status"] = gated.status
        return gated
    raw = body.get("input")
    if isinstance(raw, str):
        inputs = [raw]
    elif isinstance(raw, list) and raw and all(isinstance(i, int) for i in raw):
        inputs = [" ".join(f"t{i}" for i in raw)]
    elif isinstance(raw, list) and raw and all(isinstance(i, str | list) for i in raw):
        inputs = [
            item if isinstance(item, str) else " ".join(f"t{i}" for i in item if isinstance(i, int))
            for item in raw
        ]
    else:
        state.requests[-1]["status"] = 400
        return openai_error(400, "'input' must be a non-empty string or array.", param="input")
    dim = body.get("dimensions") or state.embedding_dim
    if not isinstance(dim, int) or dim < 1:
        state.requests[-1]["status"] = 400
        return openai_error(400, "'dimensions' must be a positive integer.", param="dimensions")
    encoding = body.get("encoding_format") or "float"
    data = []
    for index, text in enumerate(inputs):
        vector = embed(text, dim)
        value: Any = vector
        if encoding == "base64":
            value = base64.b64encode(struct.pack(f"<{dim}f", *vector)).decode()
        data.append({"object": "embedding", "index": index, "embedding": value})
    tokens = sum(max(1, len(_WORD.findall(t.lower()))) for t in inputs)
    state.requests[-1]["status"] = 200
    return web.json_response(
        {
            "object": "list",
            "data": data,
            "model": body.get("model") or "fake-embedding",
            "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
        }
    )


def _model(model_id: str) -> dict[str, Any]:
    return {"id": model_id, "object": "model", "created": 1700000000, "owned_by": "fake"}


async def list_models(request: web.Request) -> web.Response:
    state = request.app[STATE]
    gated = _gate(request, state)
    if gated is not None:
        return gated
    return web.json_response({"object": "list", "data": [_model(m) for m in state.models]})


async def get_model(request: web.Request) -> web.Response:
    state = request.app[STATE]
    gated = _gate(request, state)
    if gated is not None:
        return gated
    model_id = request.match_info["model"]
    if model_id not in state.models:
        return openai_error(
            404, f"The model '{model_id}' does not exist", param="model", code="model_not_found"
        )
    return web.json_response(_model(model_id))


# --- control ------------------------------------------------------------------------------------


async def control_requests(request: web.Request) -> web.Response:
    return web.json_response({"requests": request.app[STATE].requests})


async def control_reset(request: web.Request) -> web.Response:
    request.app[STATE].reset()
    return web.json_response({"ok": True})


REPLY_KINDS = frozenset(
    {"content", "tool_calls", "react_action", "final_answer", "echo_tool_results", "error"}
)


def _valid_reply(reply: Any) -> bool:
    if not isinstance(reply, dict) or not REPLY_KINDS & reply.keys():
        return False
    if "tool_calls" in reply:
        calls = reply["tool_calls"]
        return isinstance(calls, list) and all(isinstance(c, dict) and c.get("name") for c in calls)
    if "react_action" in reply:
        return isinstance(reply["react_action"], dict) and bool(reply["react_action"].get("tool"))
    return True


async def control_script(request: web.Request) -> web.Response:
    state = request.app[STATE]
    if request.method == "GET":
        return web.json_response({"replies": list(state.script)})
    body = await _json_body(request)
    if isinstance(body, web.Response):
        return body
    replies = body.get("replies")
    if not isinstance(replies, list) or not all(_valid_reply(r) for r in replies):
        return web.json_response(
            {"error": f"'replies' must be a list of objects, each with one of {sorted(REPLY_KINDS)}"},
            status=400,
        )
    if not body.get("append"):
        state.script.clear()
    state.script.extend(replies)
    return web.json_response({"queued": len(state.script)})


async def control_fail(request: web.Request) -> web.Response:
    state = request.app[STATE]
    body = await _json_body(request)
    if isinstance(body, web.Response):
        return body
    status = body.get("status")
    count = body.get("count", 1)
    if not isinstance(status, int) or not 400 <= status <= 599 or not isinstance(count, int) or count < 0:
        return web.json_response({"error": "need 'status' (4xx/5xx) and a non-negative 'count'"}, status=400)
    if count:
        state.failures.append(Failure(status, count, body.get("message"), float(body.get("retry_after", 1))))
    return web.json_response({"pending": sum(f.remaining for f in state.failures)})


async def control_config(request: web.Request) -> web.Response:
    state = request.app[STATE]
    body = await _json_body(request)
    if isinstance(body, web.Response):
        return body
    if "native_tools" in body:
        state.native_tools = bool(body["native_tools"])
    if isinstance(body.get("models"), list):
        state.models = [str(m) for m in body["models"]]
    return web.json_response({"native_tools": state.native_tools, "models": state.models})


def make_app(*, api_key: str | None = None, embedding_dim: int = 256) -> web.Application:
    app = web.Application(client_max_size=32 * 1024**2)
    app[STATE] = LLMState(api_key=api_key, embedding_dim=embedding_dim)
    for prefix in ("/v1", ""):
        app.router.add_post(f"{prefix}/chat/completions", chat_completions)
        app.router.add_post(f"{prefix}/embeddings", embeddings)
        app.router.add_get(f"{prefix}/models", list_models)
        app.router.add_get(f"{prefix}/models/{{model}}", get_model)
    app.router.add_get("/_fake/requests", control_requests)
    app.router.add_post("/_fake/reset", control_reset)
    app.router.add_route("*", "/_fake/script", control_script)
    app.router.add_post("/_fake/fail", control_fail)
    app.router.add_post("/_fake/config", control_config)
    return app


def main() -> None:
    """`python -m fakes.llm [--port 8098]`; FAKE_LLM_API_KEY makes it require that key,
    FAKE_LLM_EMBEDDING_DIM sets the embedding size."""
    api_key = os.environ.get("FAKE_LLM_API_KEY") or None
    dim = int(os.environ.get("FAKE_LLM_EMBEDDING_DIM", "256"))
    run_cli("llm", lambda: make_app(api_key=api_key, embedding_dim=dim), 8098)


if __name__ == "__main__":
    main()
