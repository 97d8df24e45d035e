"""One JSON POST through an ASGI app in this process, as a client that waits (or leaves)."""

from __future__ import annotations

import asyncio
import json
from typing import Any


def post_json(app: Any, path: str, body: dict, *, scope_app: Any = None,
              leave_after: float | None = None) -> tuple[int, dict]:
    """POST ``body`` to ``app`` at ``path``; the answer's status and JSON.

    Args:
        app: The ASGI app (the middleware under test).
        path: The route.
        body: The JSON body.
        scope_app: What the scope's ``app`` is (vLLM's app, whose ``state`` the middleware reads).
        leave_after: Seconds after which the client disconnects; it waits for the answer when
            None. A client that left before any answer gets ``(0, {})``.
    """
    sent: list[dict] = []
    delivered = False

    async def receive():
        nonlocal delivered
        if not delivered:
            delivered = True
            return {"type": "http.request", "body": json.dumps(body).encode(),
                    "more_body": False}
        await asyncio.sleep(3600 if leave_after is None else leave_after)
        return {"type": "http.disconnect"}

    async def send(message):
        sent.append(message)

    scope = {"type": "http", "method": "POST", "path": path, "headers": [], "root_path": ""}
    if scope_app is not None:
        scope["app"] = scope_app
    asyncio.run(app(scope, receive, send))
    starts = [m["status"] for m in sent if m["type"] == "http.response.start"]
    if not starts:
        return 0, {}
    answer = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return starts[0], json.loads(answer)
