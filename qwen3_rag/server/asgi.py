"""The few ASGI moves the middleware needs: read a body, answer JSON, call an inner route."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

__all__ = ["ASGIApp", "RequestError", "call_route", "error_body", "forward", "read_body",
           "replayed", "send_body", "send_json"]

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


def error_body(status: int, message: str, param: str | None = None) -> dict[str, Any]:
    """vLLM's (and OpenAI's) error shape, so clients parse our errors like vLLM's own."""
    kind = {400: "BadRequestError", 401: "AuthenticationError", 404: "NotFoundError"}
    return {"error": {"message": message, "type": kind.get(status, "InternalServerError"),
                      "param": param, "code": status}}


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
