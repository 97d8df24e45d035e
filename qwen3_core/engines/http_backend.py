"""Engines that send the core's token ids to vLLM OpenAI-compatible servers over HTTP.

The core formats, escapes and truncates exactly as it does in-process and hands over token ids,
so the servers only run the model: embeddings come from ``/v1/embeddings`` (as base64 float32, so
no digit is lost in JSON) and reranker scores from ``/classify``. A server started by
``qwen3-rag serve`` also answers plain-text clients on the standard routes (``qwen3_rag.server``),
through these same token-id routes; this client needs none of that and works with any vLLM.

Several servers can share the load. Each request goes to the next server in turn; one that fails
(connection error, timeout, 5xx, 429) is skipped for a while, longer after each failure, and
tried again later. A request goes to the other servers at once; when a whole round fails it is
retried in further rounds with exponential backoff (tenacity); when every server fails the error
names each URL with what went wrong.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import threading
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

import httpx
import numpy as np
from tenacity import (
    AsyncRetrying,
    Retrying,
    retry_if_exception_type,
    stop_after_attempt,
    stop_after_delay,
    wait_exponential,
)

from qwen3_core.models import ModelInfo
from qwen3_core.urls import normalise_base_urls

if TYPE_CHECKING:
    from qwen3_core.spec import EngineSpec

__all__ = ["HttpEngine", "ServerError", "answer_items", "batches", "decode_vector",
           "normalise_base_urls", "start_engine"]

logger = logging.getLogger("qwen3_core")

#: Requests stay well below vLLM's body and batch limits; large calls become several requests,
#: sent in parallel, so vLLM still batches them together (and several servers share them).
MAX_PROMPTS_PER_REQUEST = 64
MAX_TOKENS_PER_REQUEST = 32768
#: Requests one call keeps in flight per server.
REQUESTS_PER_SERVER = 4
#: Rounds over all servers before giving up, and the pause before the second round (doubling).
ATTEMPT_ROUNDS = 3
BACKOFF_SECONDS = 0.25
#: A refused or unreachable server is known quickly; the read timeout is the caller's.
CONNECT_TIMEOUT_SECONDS = 5.0
#: How long a failed server is skipped: doubling from the first to the last value.
SKIP_SECONDS = (2.0, 30.0)


class ServerError(RuntimeError):
    """A vLLM server refused a request, or every server failed; the message says what to check."""


class _EveryServerFailed(Exception):
    """One round over the servers found none that answered: tenacity tries another round."""


R = TypeVar("R", Retrying, AsyncRetrying)


@dataclass
class _Server:
    url: str
    failures: int = 0
    skip_until: float = 0.0


class _ServerPool:
    """Round-robin over the servers, skipping the ones that failed recently."""

    def __init__(self, urls: Sequence[str]):
        self.servers = [_Server(url) for url in urls]
        self._lock = threading.Lock()
        self._turn = 0

    def order(self) -> list[_Server]:
        """Servers to try for one request: available ones in turn, then skipped ones."""
        now = time.monotonic()
        with self._lock:
            turn, self._turn = self._turn, self._turn + 1
        available = [s for s in self.servers if s.skip_until <= now]
        skipped = sorted((s for s in self.servers if s.skip_until > now),
                         key=lambda s: s.skip_until)
        if available:
            start = turn % len(available)
            available = available[start:] + available[:start]
        return available + skipped

    def failed(self, server: _Server, why: str) -> None:
        with self._lock:
            server.failures += 1
            went_down = server.failures == 1
            first, longest = SKIP_SECONDS
            pause = min(first * 2 ** (server.failures - 1), longest)
            server.skip_until = time.monotonic() + pause
        # Once per change of state: a server that stays down is not news on every call.
        logger.log(logging.WARNING if went_down else logging.DEBUG,
                   "vLLM server %s failed (%s); skipping it for %.0f s", server.url, why, pause)

    def succeeded(self, server: _Server) -> None:
        with self._lock:
            came_back = server.failures > 0
            server.failures, server.skip_until = 0, 0.0
        if came_back:
            logger.warning("vLLM server %s answers again", server.url)


def batches(ids: Sequence[Sequence[int]]) -> Iterator[tuple[int, int]]:
    """``(start, stop)`` ranges of ``ids`` within the per-request prompt and token limits."""
    start, tokens = 0, 0
    for stop, prompt in enumerate(ids):
        if stop > start and (stop - start >= MAX_PROMPTS_PER_REQUEST
                             or tokens + len(prompt) > MAX_TOKENS_PER_REQUEST):
            yield start, stop
            start, tokens = stop, 0
        tokens += len(prompt)
    if start < len(ids):
        yield start, len(ids)


class HttpEngine:
    """An embedding or reranker model served by one or more vLLM OpenAI-compatible servers.

    Args:
        spec: The settings, validated: ``kind``; ``base_url``, the servers; ``api_key``, if they
            were started with ``--api-key``; ``timeout``, seconds to wait for one answer (a dead
            server is reported within about that); ``max_length``, the longest prompt the core
            sends (the servers' ``--max-model-len`` must allow it).
        info: The model; ``info.name`` is the served model name (``qwen3-rag serve`` starts the
            server with ``--served-model-name`` set to the model as given).
    """

    backend = "http"
    thread_safe = True

    def __init__(self, spec: EngineSpec, info: ModelInfo, *, path: str | None = None):
        """Open connection pools to the servers.

        ``path`` is the route requests go to; the token-id route of ``spec.kind`` by default.
        """
        self.kind = spec.kind
        self.info = info
        self.timeout = timeout = spec.timeout
        self.max_length = spec.max_length
        self._pool = _ServerPool(spec.base_url)
        self._path = path or ("/classify" if spec.kind == "reranker" else "/v1/embeddings")
        headers = {"Authorization": f"Bearer {spec.api_key}"} if spec.api_key else {}
        self._client_options: dict[str, Any] = {
            "headers": headers,
            "timeout": httpx.Timeout(self.timeout, connect=min(CONNECT_TIMEOUT_SECONDS, timeout)),
        }
        self._client = httpx.Client(**self._client_options)
        # An async client's connections belong to the event loop that opened them.
        self._async_clients: dict[asyncio.AbstractEventLoop, httpx.AsyncClient] = {}
        self._lock = threading.Lock()
        self._parallel = REQUESTS_PER_SERVER * len(self._pool.servers)
        self._executor: ThreadPoolExecutor | None = None

    @property
    def base_urls(self) -> list[str]:
        """The server roots requests go to."""
        return [s.url for s in self._pool.servers]

    # -- the engine interface ---------------------------------------------------------------

    def embed(self, ids: Sequence[Sequence[int]]) -> np.ndarray:
        """Embeddings of each prompt, a float32 (n, hidden) array."""
        return self._embeddings(self._run(ids))

    def score_groups(self, groups: Sequence[Sequence[Sequence[int]]]) -> list[np.ndarray]:
        """P(yes) for each prompt of each group."""
        flat = [ids for group in groups for ids in group]
        return _split(self._scores(self._run(flat)), [len(g) for g in groups])

    async def aembed(self, ids: Sequence[Sequence[int]]) -> np.ndarray:
        """:meth:`embed` without blocking the event loop."""
        return self._embeddings(await self._arun(ids))

    async def ascore_groups(self, groups: Sequence[Sequence[Sequence[int]]]) -> list[np.ndarray]:
        """:meth:`score_groups` without blocking the event loop."""
        flat = [ids for group in groups for ids in group]
        return _split(self._scores(await self._arun(flat)), [len(g) for g in groups])

    def close(self) -> None:
        """Close the connections; async clients are dropped with their event loops."""
        self._client.close()
        with self._lock:
            executor, self._executor = self._executor, None
            self._async_clients.clear()
        if executor is not None:
            executor.shutdown(wait=False)

    # -- batching -----------------------------------------------------------------------------

    def _run(self, ids: Sequence[Sequence[int]]) -> list[dict[str, Any]]:
        ranges = list(batches(ids))
        if len(ranges) <= 1:
            return [item for start, stop in ranges for item in self._post(ids[start:stop])]
        with self._lock:
            if self._executor is None:
                self._executor = ThreadPoolExecutor(self._parallel, thread_name_prefix="qwen3-http")
            executor = self._executor
        answers = executor.map(lambda r: self._post(ids[r[0]:r[1]]), ranges)
        return [item for answer in answers for item in answer]

    async def _arun(self, ids: Sequence[Sequence[int]]) -> list[dict[str, Any]]:
        client = self._async_client()
        slots = asyncio.Semaphore(self._parallel)

        async def one(start: int, stop: int) -> list[dict[str, Any]]:
            async with slots:
                return await self._apost(client, ids[start:stop])

        answers = await asyncio.gather(*(one(start, stop) for start, stop in batches(ids)))
        return [item for answer in answers for item in answer]

    def _async_client(self) -> httpx.AsyncClient:
        loop = asyncio.get_running_loop()
        with self._lock:
            client = self._async_clients.get(loop)
            if client is None:
                # Clients of closed loops can no longer be used (nor closed): drop them.
                for old in [old for old in self._async_clients if old.is_closed()]:
                    del self._async_clients[old]
                client = self._async_clients[loop] = httpx.AsyncClient(**self._client_options)
            return client

    # -- one request, with failover and retries -----------------------------------------------

    def _payload(self, ids: Sequence[Sequence[int]]) -> dict[str, Any]:
        payload: dict[str, Any] = {"model": self.info.name, "input": [list(p) for p in ids]}
        if self.kind != "reranker":
            payload.update(encoding_format="base64", embed_dtype="float32", endianness="little")
        return payload

    def _retry_policy(self, policy: type[R]) -> R:
        """Up to ``ATTEMPT_ROUNDS`` rounds over the servers, a doubling pause between them.

        Later rounds only start within ``timeout``.
        """
        return policy(
            stop=stop_after_attempt(ATTEMPT_ROUNDS) | stop_after_delay(self.timeout),
            wait=wait_exponential(multiplier=BACKOFF_SECONDS, min=BACKOFF_SECONDS),
            retry=retry_if_exception_type(_EveryServerFailed),
            reraise=True,
        )

    def _post(self, ids: Sequence[Sequence[int]]) -> list[dict[str, Any]]:
        return answer_items(self.post(self._payload(ids)))

    async def _apost(self, client: httpx.AsyncClient,
                     ids: Sequence[Sequence[int]]) -> list[dict[str, Any]]:
        return answer_items(await self.apost(self._payload(ids), client))

    def post(self, payload: dict[str, Any]) -> dict[str, Any]:
        """The JSON answer to ``payload`` from the first server that gives one.

        Raises:
            ServerError: A server refused the request (4xx), or every server failed.
        """
        failures = list[str]()
        try:
            for attempt in self._retry_policy(Retrying):
                with attempt:
                    return self._one_round(payload, failures)
        except _EveryServerFailed:
            pass
        raise self._all_failed(failures)

    async def apost(self, payload: dict[str, Any],
                    client: httpx.AsyncClient | None = None) -> dict[str, Any]:
        """:meth:`post` without blocking the event loop."""
        client = client or self._async_client()
        failures = list[str]()
        try:
            async for attempt in self._retry_policy(AsyncRetrying):
                with attempt:
                    return await self._aone_round(client, payload, failures)
        except _EveryServerFailed:
            pass
        raise self._all_failed(failures)

    def _one_round(self, payload: dict[str, Any], failures: list[str]) -> dict[str, Any]:
        """The answer of the first server that gives one, trying each in the pool's order."""
        for server in self._pool.order():
            try:
                response = self._client.post(server.url + self._path, json=payload)
            except httpx.TransportError as exc:
                self._transport_failed(server, exc, failures)
                continue
            data = self._accept(server, response, failures)
            if data is not None:
                return data
        raise _EveryServerFailed

    async def _aone_round(self, client: httpx.AsyncClient, payload: dict[str, Any],
                          failures: list[str]) -> dict[str, Any]:
        """:meth:`_one_round` without blocking the event loop."""
        for server in self._pool.order():
            try:
                response = await client.post(server.url + self._path, json=payload)
            except httpx.TransportError as exc:
                self._transport_failed(server, exc, failures)
                continue
            data = self._accept(server, response, failures)
            if data is not None:
                return data
        raise _EveryServerFailed

    def _transport_failed(self, server: _Server, exc: Exception, failures: list[str]) -> None:
        why = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        failures.append(f"{server.url}: {why}")
        self._pool.failed(server, why)

    def _accept(self, server: _Server, response: httpx.Response,
                failures: list[str]) -> dict[str, Any] | None:
        """The answer, None to try again elsewhere, or raise for a request error."""
        if response.status_code == 200:
            self._pool.succeeded(server)
            return response.json()
        why = f"HTTP {response.status_code}: {_server_message(response)}"
        if response.status_code >= 500 or response.status_code == 429:
            failures.append(f"{server.url}: {why}")
            self._pool.failed(server, why)
            return None
        raise ServerError(f"{server.url}{self._path} refused the request ({why}). "
                          f"{self._hint(response.status_code)}")

    def _hint(self, status: int) -> str:
        command = f"qwen3-rag serve {self.kind} --model {self.info.name}"
        if status in (401, 403):
            return "Check api_key: it must match the server's --api-key."
        if status == 404:
            return (f"Check that the server serves {self.info.name!r} under that name "
                    f"(--served-model-name; `{command}` sets it) and is a {self.kind} server.")
        return (f"Check that the server runs this {self.kind} model with the pooling runner and "
                f"--max-model-len >= {self.max_length} (`{command}` sets both).")

    def _all_failed(self, failures: list[str]) -> ServerError:
        tried = "; ".join(failures) or "no server was tried"
        return ServerError(
            f"every vLLM server failed for {self.info.name!r} ({self.kind}, {self._path}): "
            f"{tried}. Check that the server(s) are running (`qwen3-rag serve {self.kind} "
            f"--model {self.info.name}`), reachable from here at {', '.join(self.base_urls)}, "
            f"and answer within timeout={self.timeout:g} s."
        )

    # -- decoding -----------------------------------------------------------------------------

    def _embeddings(self, items: list[dict[str, Any]]) -> np.ndarray:
        if not items:
            return np.zeros((0, self.info.hidden_size), dtype=np.float32)
        rows = [decode_vector(item["embedding"]) for item in items]
        if any(row.shape != (self.info.hidden_size,) for row in rows):
            raise ServerError(
                f"the server at {', '.join(self.base_urls)} returned embeddings of "
                f"{rows[0].shape[0]} values, but {self.info.name} has {self.info.hidden_size}: "
                "check that it serves this embedding model"
            )
        return np.stack(rows).astype(np.float32, copy=False)

    def _scores(self, items: list[dict[str, Any]]) -> np.ndarray:
        if any(len(item["probs"]) != 1 for item in items):
            raise ServerError(
                f"the server at {', '.join(self.base_urls)} returned {len(items[0]['probs'])} "
                "class probabilities per prompt instead of one P(yes): start it with "
                f"`qwen3-rag serve reranker --model {self.info.name}`, which sets the "
                "reranker's hf_overrides"
            )
        return np.asarray([item["probs"][0] for item in items], dtype=np.float32)


def start_engine(spec: EngineSpec, info: ModelInfo, prompts: object) -> HttpEngine:
    """The ``http`` backend: the model on the vLLM servers of ``spec.base_url``."""
    return HttpEngine(spec, info)


def answer_items(answer: dict[str, Any]) -> list[dict[str, Any]]:
    """An answer's ``data`` items in input order (by their ``index``)."""
    return sorted(answer["data"], key=lambda item: item["index"])


def decode_vector(embedding: str | list[float]) -> np.ndarray:
    """One embedding as sent: base64 little-endian float32, or a JSON list from older servers."""
    if isinstance(embedding, str):
        return np.frombuffer(base64.b64decode(embedding), dtype="<f4")
    return np.asarray(embedding, dtype=np.float32)


def _server_message(response: httpx.Response) -> str:
    try:
        error = response.json().get("error", {})
        message = error.get("message") if isinstance(error, dict) else None
    except (ValueError, AttributeError):
        message = None
    return (message or response.text or response.reason_phrase)[:300]


def _split(values: np.ndarray, sizes: Sequence[int]) -> list[np.ndarray]:
    return np.split(values, np.cumsum(sizes)[:-1]) if sizes else []


if TYPE_CHECKING:  # mypy checks this backend against the engine interfaces
    from qwen3_core.engines.protocols import EmbeddingEngine, EngineStarter, RerankingEngine

    _embedding_engine: type[EmbeddingEngine] = HttpEngine
    _reranking_engine: type[RerankingEngine] = HttpEngine
    _starter: EngineStarter = start_engine
