"""The http backend's request planning and its errors, without a vLLM server."""

from __future__ import annotations

import socket
import time

import pytest

from qwen3_core import Qwen3Reranker
from qwen3_core.engines import http_backend
from qwen3_core.engines.http_backend import (
    ServerError,
    _ServerPool,
    batches,
    normalise_base_urls,
)


def test_base_urls_accept_openai_style_roots():
    assert normalise_base_urls("http://a:8000/v1/") == ["http://a:8000"]
    assert normalise_base_urls(["https://b", "http://c:1/"]) == ["https://b", "http://c:1"]
    for bad in ([], "a:8000", "ftp://a", ["http://"]):
        with pytest.raises(ValueError):
            normalise_base_urls(bad)


def test_batches_respect_prompt_and_token_limits(monkeypatch):
    monkeypatch.setattr(http_backend, "MAX_PROMPTS_PER_REQUEST", 3)
    monkeypatch.setattr(http_backend, "MAX_TOKENS_PER_REQUEST", 10)
    prompts = [[0] * n for n in (2, 2, 2, 2, 9, 12, 1)]
    # 3 prompts max; 9 tokens do not fit after 2; a 12-token prompt travels alone.
    assert list(batches(prompts)) == [(0, 3), (3, 4), (4, 5), (5, 6), (6, 7)]
    assert list(batches([])) == []


def test_failed_servers_are_skipped_until_they_answer_again(monkeypatch):
    clock = [1000.0]
    monkeypatch.setattr(http_backend.time, "monotonic", lambda: clock[0])
    pool = _ServerPool(["http://a", "http://b", "http://c"])
    a, b, c = pool.servers
    assert [pool.order() for _ in range(3)] == [[a, b, c], [b, c, a], [c, a, b]]
    pool.failed(b, "ConnectError")
    # The others share the load evenly; b is only a last resort.
    assert [pool.order() for _ in range(4)] == [[c, a, b], [a, c, b], [c, a, b], [a, c, b]]
    clock[0] += http_backend.SKIP_SECONDS[0] + 0.1  # the pause is over: tried again in turn
    assert pool.order() == [b, c, a]
    pool.failed(b, "ConnectError")  # a second failure in a row doubles the pause
    clock[0] += http_backend.SKIP_SECONDS[0] + 0.1
    assert pool.order()[-1] is b
    pool.succeeded(b)
    assert b in pool.order()[:2] and b.failures == 0


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_unreachable_server_fails_fast_with_a_clear_error(tiny_models):
    url = f"http://127.0.0.1:{_closed_port()}"
    with Qwen3Reranker(tiny_models.reranker, backend="http", dtype="float32", base_url=url,
                       timeout=5.0) as rr:
        assert rr.score("q", []) == []  # nothing to send, no server needed
        started = time.monotonic()
        with pytest.raises(ServerError) as raised:
            rr.score("which port?", ["none of them"])
        assert time.monotonic() - started < 5.0
    message = str(raised.value)
    assert url in message and "ConnectError" in message and "qwen3-rag serve reranker" in message


async def test_unreachable_server_fails_the_same_way_async(tiny_models):
    url = f"http://127.0.0.1:{_closed_port()}"
    with Qwen3Reranker(tiny_models.reranker, backend="http", dtype="float32", base_url=url,
                       timeout=5.0) as rr:
        with pytest.raises(ServerError, match=url):
            await rr.ascore("which port?", ["none of them"])
