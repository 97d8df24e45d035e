"""``--api-key`` for every route, not only vLLM's ``/v1`` ones.

vLLM 0.32 checks the key on paths under ``/v1``, ``/v2``, ``/inference`` and ``/cohere``, so
``/classify``, ``/pooling``, ``/score`` and ``/rerank`` answer anyone. Here every path needs
the key except the ones a load balancer or orchestrator probes without credentials, for every
HTTP method: an ``OPTIONS`` request is exempt only when it is a CORS preflight (it carries
``Origin`` and ``Access-Control-Request-Method``, and browsers never send a key with one), so
vLLM's CORS layer still answers it.
"""

from __future__ import annotations

import hashlib
import os
import secrets
from collections.abc import Iterable, Mapping, Sequence

__all__ = ["OPEN_PATHS", "KeyCheck", "is_preflight", "server_keys"]

#: Paths that answer without a key: liveness and version probes only.
OPEN_PATHS = frozenset({"/health", "/ping", "/version"})


def server_keys(cli_keys: Sequence[str] | str | None) -> list[str]:
    """The keys the server was started with: ``--api-key`` first, else ``VLLM_API_KEY``.

    The same precedence as vLLM's own check, so both guards accept the same keys.
    """
    if isinstance(cli_keys, str):
        cli_keys = [cli_keys]
    if cli_keys:
        return [key for key in cli_keys if key]
    from_environment = os.environ.get("VLLM_API_KEY")
    return [from_environment] if from_environment else []


def is_preflight(headers: Mapping[bytes, bytes]) -> bool:
    """Whether an OPTIONS request is a CORS preflight (the Fetch standard's two headers)."""
    return b"origin" in headers and b"access-control-request-method" in headers


class KeyCheck:
    """Whether a request carries one of the server's bearer tokens."""

    def __init__(self, keys: Iterable[str]):
        self._digests = [hashlib.sha256(key.encode()).digest() for key in keys]

    @property
    def enabled(self) -> bool:
        """False when the server has no key: every request is let through."""
        return bool(self._digests)

    def needs_key(self, method: str, path: str,
                  headers: Mapping[bytes, bytes] | None = None) -> bool:
        """CORS preflights and the open probes need none; everything else does.

        Args:
            method: The request's HTTP method.
            path: Its path, without the root path.
            headers: Its headers, lower-case names as ASGI gives them.
        """
        if not self.enabled or path.rstrip("/") in OPEN_PATHS:
            return False
        return not (method == "OPTIONS" and is_preflight(headers or {}))

    def accepts(self, authorization: str | None) -> bool:
        """``authorization`` is an ``Authorization`` header value; compared in constant time."""
        scheme, _, token = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not token:
            return False
        digest = hashlib.sha256(token.strip().encode()).digest()
        found = False
        for known in self._digests:
            found |= secrets.compare_digest(digest, known)
        return found
