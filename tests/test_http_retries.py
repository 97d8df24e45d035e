"""Retries of the http backend against a local stand-in server that fails on purpose."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest

from qwen3_core import EngineSpec
from qwen3_core.engines import http_backend
from qwen3_core.engines.http_backend import HttpEngine, ServerError
from qwen3_core.models import ModelInfo

INFO = ModelInfo(name="stand-in", path=Path("/nowhere"), hidden_size=8, num_hidden_layers=1,
                 num_key_value_heads=1, head_dim=8, max_position_embeddings=64, weight_bytes=0)


class _FlakyServer:
    """Answers /classify with 503 the first ``failures`` times, then P(yes) = 0.25 per prompt."""

    def __init__(self, failures: int):
        self.failures = failures
        self.request_times: list[float] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - the http.server API
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                server.request_times.append(time.monotonic())
                if len(server.request_times) <= server.failures:
                    self._send(503, {"error": {"message": "overloaded, try again"}})
                else:
                    data = [{"index": i, "probs": [0.25]} for i in range(len(body["input"]))]
                    self._send(200, {"data": data})

            def _send(self, status, payload):
                raw = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

            def log_message(self, *args):
                pass

        self._http = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._http.server_address[1]}"
        threading.Thread(target=self._http.serve_forever, daemon=True).start()

    def close(self):
        self._http.shutdown()
        self._http.server_close()


@pytest.fixture
def flaky():
    servers: list[_FlakyServer] = []

    def start(failures: int) -> _FlakyServer:
        servers.append(_FlakyServer(failures))
        return servers[-1]

    yield start
    for server in servers:
        server.close()


def _gaps(times: list[float]) -> list[float]:
    return [later - earlier for earlier, later in zip(times, times[1:])]


def test_a_failing_round_is_retried_with_a_doubling_pause(flaky):
    server = flaky(failures=2)
    engine = HttpEngine(_spec(server.url), INFO)
    try:
        scores = engine.score_groups([[[1, 2], [3]]])
    finally:
        engine.close()
    np.testing.assert_array_equal(scores[0], np.float32([0.25, 0.25]))
    assert len(server.request_times) == 3
    first, second = _gaps(server.request_times)
    backoff = http_backend.BACKOFF_SECONDS
    assert backoff <= first < backoff + 0.2 and 2 * backoff <= second < 2 * backoff + 0.2


async def test_the_async_path_retries_the_same_way(flaky):
    server = flaky(failures=2)
    engine = HttpEngine(_spec(server.url), INFO)
    try:
        scores = await engine.ascore_groups([[[1, 2]]])
    finally:
        engine.close()
    np.testing.assert_array_equal(scores[0], np.float32([0.25]))
    assert len(server.request_times) == 3


def test_after_the_last_round_the_error_lists_every_failure(flaky):
    server = flaky(failures=100)
    engine = HttpEngine(_spec(server.url), INFO)
    try:
        with pytest.raises(ServerError) as caught:
            engine.score_groups([[[1]]])
    finally:
        engine.close()
    rounds = http_backend.ATTEMPT_ROUNDS
    assert len(server.request_times) == rounds
    assert str(caught.value).count("HTTP 503: overloaded, try again") == rounds


def test_a_second_server_answers_at_once_when_the_first_fails(flaky):
    broken, healthy = flaky(failures=100), flaky(failures=0)
    engine = HttpEngine(_spec([broken.url, healthy.url]), INFO)
    try:
        started = time.monotonic()
        scores = engine.score_groups([[[1]]])
        elapsed = time.monotonic() - started
    finally:
        engine.close()
    np.testing.assert_array_equal(scores[0], np.float32([0.25]))
    assert len(broken.request_times) == 1 and len(healthy.request_times) == 1
    assert elapsed < http_backend.BACKOFF_SECONDS  # failover within the round, no backoff


def _spec(base_url):
    return EngineSpec("reranker", INFO.name, backend="http", base_url=base_url, timeout=30)


def test_a_server_that_stays_down_is_warned_about_once(caplog, monkeypatch):
    # 159 warnings in 50 s for one dead server was noise: one per change of state.
    monkeypatch.setattr(http_backend, "SKIP_SECONDS", (0.0, 0.0))
    pool = http_backend._ServerPool(["http://127.0.0.1:9", "http://127.0.0.1:10"])
    down, other = pool.servers
    with caplog.at_level("DEBUG", logger="qwen3_core"):
        for _ in range(50):
            pool.failed(down, "ConnectError")
        pool.succeeded(other)  # the other one was never down: nothing to say
        pool.succeeded(down)
        pool.succeeded(down)
        pool.failed(down, "ConnectError")
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert len(warnings) == 3, warnings
    assert "failed" in warnings[0] and "answers again" in warnings[1] and "failed" in warnings[2]
