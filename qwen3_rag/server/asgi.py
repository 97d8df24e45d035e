"""The few ASGI moves the middleware needs: read a body, answer JSON, call an inner route.

And notice a client that leaves: :class:`ClientChannel` owns the client's receive channel for
the whole request, so the routes can stop between steps and the inner vLLM routes, which listen
for ``http.disconnect`` themselves, abort what the engine is computing for it.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

__all__ = ["ASGIApp", "BodyTooLarge", "ClientChannel", "RequestError", "call_route",
           "declared_length", "error_body", "forward", "read_body", "replayed", "send_body",
           "send_json"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


class RequestError(ValueError):
    """A request the routes cannot take; answered with HTTP 400 naming the field."""

    def __init__(self, message: str, param: str | None = None):
        super().__init__(message)
        self.param = param


class BodyTooLarge(Exception):
    """A request body longer than the server's limit; answered with HTTP 413."""

    def __init__(self, size: int, limit: int, *, declared: bool = False):
        self.size, self.limit = size, limit
        said = "declares" if declared else "has at least"
        super().__init__(f"the request body {said} {size} bytes; this server takes at most "
                         f"{limit} (--max-body-bytes)")


def error_body(status: int, message: str, param: str | None = None) -> dict[str, Any]:
    """vLLM's (and OpenAI's) error shape, so clients parse our errors like vLLM's own."""
    kind = {400: "BadRequestError", 401: "AuthenticationError", 404: "NotFoundError",
            413: "RequestTooLargeError"}
    return {"error": {"message": message, "type": kind.get(status, "InternalServerError"),
                      "param": param, "code": status}}


def declared_length(scope: Scope) -> int | None:
    """The body size the ``Content-Length`` header announces, None without one."""
    for name, value in scope.get("headers", []):
        if name.lower() == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


class ClientChannel:
    """One request's receive channel: its body, then whether the client has gone.

    Once the body is read, :meth:`watch` keeps reading the channel, so an ``http.disconnect``
    is seen at once, and sets :attr:`gone`. Inner routes get :meth:`inner_receive` instead of
    the client's channel: one reader per channel, and they still learn of the disconnect.
    """

    def __init__(self, receive: Receive):
        self._receive = receive
        self.gone = asyncio.Event()
        self._watcher: asyncio.Task[None] | None = None

    async def read_body(self, limit: int) -> bytes:
        """The whole body, refused past ``limit`` bytes before more is read.

        Raises:
            BodyTooLarge: The body is longer than ``limit``.
        """
        chunks, size = [], 0
        while True:
            message = await self._receive()
            if message["type"] == "http.disconnect":
                self.gone.set()
                break
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                raise BodyTooLarge(size, limit)
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        return b"".join(chunks)

    def watch(self) -> None:
        """Start noticing a disconnect (call once the body is read)."""
        if self._watcher is None and not self.gone.is_set():
            self._watcher = asyncio.create_task(self._wait_for_disconnect())

    async def _wait_for_disconnect(self) -> None:
        while (await self._receive())["type"] != "http.disconnect":
            pass
        self.gone.set()

    async def inner_receive(self) -> Message:
        """An inner route's channel after its body: ``http.disconnect`` once the client left."""
        await self.gone.wait()
        return {"type": "http.disconnect"}

    def close(self) -> None:
        """Stop watching (the request is answered)."""
        if self._watcher is not None:
            self._watcher.cancel()
            self._watcher = None


async def read_body(receive: Receive) -> bytes:
    """The whole request body."""
    chunks = []
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


async def send_json(send: Send, status: int, payload: Any) -> None:
    """Answer with a JSON body."""
    body = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()
    await send_body(send, status, body)


async def send_body(send: Send, status: int, body: bytes) -> None:
    """Answer with ``body``, already JSON."""
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"),
                            (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


def _inner_request(scope: Scope, receive: Receive, path: str,
                   payload: Any) -> tuple[Scope, Receive]:
    """A POST of ``payload`` to ``path`` on the same connection, headers (the key) kept."""
    body = json.dumps(payload, separators=(",", ":")).encode()
    headers = [(name, value) for name, value in scope.get("headers", [])
               if name.lower() not in (b"content-length", b"content-type")]
    headers += [(b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode())]
    root = scope.get("root_path", "")
    inner = {**scope, "method": "POST", "path": root + path, "raw_path": (root + path).encode(),
             "query_string": b"", "headers": headers}
    return inner, replayed(body, receive)


def replayed(body: bytes, receive: Receive) -> Receive:
    """A receive channel that delivers ``body`` first, then the client's own channel.

    So vLLM still sees a disconnect and cancels.
    """
    delivered = False

    async def again() -> Message:
        nonlocal delivered
        if not delivered:
            delivered = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return again


async def forward(app: ASGIApp, scope: Scope, receive: Receive, send: Send, path: str,
                  payload: Any) -> None:
    """Let ``path`` of the inner app answer the client directly, with ``payload`` as body."""
    inner, inner_receive = _inner_request(scope, receive, path, payload)
    await app(inner, inner_receive, send)


async def call_route(app: ASGIApp, scope: Scope, receive: Receive, path: str,
                     payload: Any) -> tuple[int, bytes]:
    """POST ``payload`` to ``path`` of the inner app; its status and body."""
    inner, inner_receive = _inner_request(scope, receive, path, payload)
    status, chunks = 500, []

    async def capture(message: Message) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]
        elif message["type"] == "http.response.body":
            chunks.append(message.get("body", b""))

    await app(inner, inner_receive, capture)
    return status, b"".join(chunks)
