"""One Lua script on one pipelined Redis connection, for a hot path that runs it per request.

redis-py's asyncio client costs about 0.25 ms of CPU per command here (connection pool, command
building, reply parsing in layers); the gateway runs one script per request, so that was half of
its own cost (README "Speed"). This client keeps a single connection; the calls made in one turn
of the event loop leave in one write, and concurrent calls are pipelined (none waits for another's
reply); replies are parsed with hiredis, in order. Errors are redis-py's own exception types, so
callers handle an outage the same way as with redis-py.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections import deque
from typing import Any
from urllib.parse import unquote, urlsplit

import hiredis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import NoScriptError, ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError


def _command(*parts: bytes | str | int) -> bytes:
    encoded = [p if isinstance(p, bytes) else str(p).encode() for p in parts]
    return b"*%d\r\n" % len(encoded) + b"".join(b"$%d\r\n%s\r\n" % (len(p), p) for p in encoded)


class PipelinedScript:
    def __init__(self, url: str, script: str, *, timeout: float = 2.0) -> None:
        parsed = urlsplit(url)
        self.host = parsed.hostname or "127.0.0.1"
        self.port = parsed.port or 6379
        self.username = unquote(parsed.username) if parsed.username else None
        self.password = unquote(parsed.password) if parsed.password else None
        self.db = int(parsed.path.strip("/") or 0)
        self.script = script
        self.sha = hashlib.sha1(script.encode()).hexdigest()
        self.timeout = timeout
        self._writer: asyncio.StreamWriter | None = None
        self._pending: deque[asyncio.Future[Any]] = deque()
        self._sent_at: deque[float] = deque()
        self._outgoing: list[bytes] = []
        self._reader_task: asyncio.Task[None] | None = None
        self._watchdog: asyncio.Task[None] | None = None
        self._connecting: asyncio.Lock | None = None

    async def __call__(self, keys: list[str], args: list[str | int]) -> Any:
        try:
            return await self._call(b"EVALSHA", self.sha, keys, args)
        except NoScriptError:
            return await self._call(b"EVAL", self.script, keys, args)

    async def _call(self, verb: bytes, body: str, keys: list[str], args: list[str | int]) -> Any:
        writer = await self._connection()
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()
        self._pending.append(future)
        self._sent_at.append(loop.time())
        self._outgoing.append(_command(verb, body, len(keys), *keys, *args))
        if len(self._outgoing) == 1:
            loop.call_soon(self._flush, writer)
        reply = await future
        if isinstance(reply, hiredis.ReplyError):
            message = str(reply)
            raise NoScriptError(message) if message.startswith("NOSCRIPT") else ResponseError(message)
        return reply

    def _flush(self, writer: asyncio.StreamWriter) -> None:
        """Calls made in the same turn of the event loop leave in one write (one system call)."""
        data, self._outgoing = b"".join(self._outgoing), []
        if not writer.is_closing():
            writer.write(data)

    async def _connection(self) -> asyncio.StreamWriter:
        if self._writer is not None and not self._writer.is_closing():
            return self._writer
        if self._connecting is None:
            self._connecting = asyncio.Lock()
        async with self._connecting:
            if self._writer is None or self._writer.is_closing():
                await self._connect()
        assert self._writer is not None
        return self._writer

    async def _connect(self) -> None:
        try:
            reader, writer = await asyncio.wait_for(
                asyncio.open_connection(self.host, self.port), self.timeout
            )
        except (OSError, TimeoutError) as error:
            raise RedisConnectionError(f"cannot reach Redis: {type(error).__name__}") from None
        parser = hiredis.Reader()
        hello: list[bytes] = []
        if self.password:
            auth = (self.username, self.password) if self.username else (self.password,)
            hello.append(_command(b"AUTH", *auth))
        if self.db:
            hello.append(_command(b"SELECT", self.db))
        writer.write(b"".join(hello))
        for _ in hello:
            reply = await self._read_one(reader, parser)
            if isinstance(reply, hiredis.ReplyError):
                writer.close()
                raise ResponseError(str(reply))
        self._writer = writer
        self._reader_task = asyncio.create_task(self._read_replies(reader, parser))
        if self._watchdog is None or self._watchdog.done():
            self._watchdog = asyncio.create_task(self._watch())

    async def _watch(self) -> None:
        """One timer for every call in flight (a timer per call costs more than the call):
        when the oldest has waited longer than the timeout, the connection is given up."""
        while self._writer is not None:
            await asyncio.sleep(self.timeout / 4)
            if self._sent_at and asyncio.get_running_loop().time() - self._sent_at[0] > self.timeout:
                self._drop(RedisTimeoutError("Redis did not answer in time"))

    async def _read_one(self, reader: asyncio.StreamReader, parser: hiredis.Reader) -> Any:
        while True:
            reply = parser.gets()
            if reply is not False:
                return reply
            data = await asyncio.wait_for(reader.read(65536), self.timeout)
            if not data:
                raise RedisConnectionError("Redis closed the connection")
            parser.feed(data)

    async def _read_replies(self, reader: asyncio.StreamReader, parser: hiredis.Reader) -> None:
        try:
            while True:
                data = await reader.read(65536)
                if not data:
                    raise RedisConnectionError("Redis closed the connection")
                parser.feed(data)
                while (reply := parser.gets()) is not False:
                    future = self._pending.popleft()
                    self._sent_at.popleft()
                    if not future.done():
                        future.set_result(reply)
        except (OSError, RedisConnectionError, IndexError) as error:
            self._drop(error if isinstance(error, RedisConnectionError) else RedisConnectionError(str(error)))
        except asyncio.CancelledError:
            self._drop(RedisConnectionError("closed"))
            raise

    def _drop(self, error: Exception) -> None:
        """Forget the connection; every call still waiting on it fails (its reply may never come)."""
        if self._writer is not None:
            self._writer.close()
            self._writer = None
        self._sent_at.clear()
        self._outgoing = []
        while self._pending:
            future = self._pending.popleft()
            if not future.done():
                future.set_exception(error)
        if self._reader_task is not None and self._reader_task is not asyncio.current_task():
            self._reader_task.cancel()
        self._reader_task = None

    async def aclose(self) -> None:
        self._drop(RedisConnectionError("closed"))
        if self._watchdog is not None:
            self._watchdog.cancel()
