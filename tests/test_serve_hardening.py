"""``qwen3-rag serve`` under abuse: abandoned requests, oversized ones, keyless ones, bad text.

Real processes: the session's servers (``vllm_servers.py``) and one of this module's own, started
with small limits and its key on the command line, as a careless user would.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import time

import httpx
import psutil
import pytest
from vllm_servers import API_KEY, start_server, wait_ready

pytestmark = pytest.mark.vllm

AUTH = {"Authorization": f"Bearer {API_KEY}"}
#: This module's server: its key is given on the command line, its limits are small.
KEY = "harden-secret-7d1c"
LIMITS = {"--max-body-bytes": 4_000_000, "--max-documents": 12_000, "--max-document-tokens": 3000}
#: A small rerank waits at most this long after abandoned big ones: a few engine steps of the
#: tiny model, far below the tens of seconds a big rerank takes.
ONE_STEP_SECONDS = 1.0


@pytest.fixture(scope="module")
def limited(tiny_models, tmp_path_factory):
    options = ["--api-key", KEY]
    for flag, value in LIMITS.items():
        options += [flag, str(value)]
    server = start_server("reranker", tiny_models.reranker,
                          tmp_path_factory.mktemp("limited"), *options)
    try:
        wait_ready(server)
        yield server
    finally:
        server.stop()


def _auth(key: str = KEY) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def _rerank(url: str, documents: list[str], *, route: str = "/v1/rerank", timeout: float = 120,
            headers: dict | None = None) -> httpx.Response:
    body = ({"text_1": "which river?", "text_2": documents} if "score" in route
            else {"query": "which river?", "documents": documents})
    return httpx.post(url + route, json=body, headers=headers or _auth(), timeout=timeout)


# -- 1. disconnect means cancel ----------------------------------------------------------------


def test_abandoned_requests_stop_working(limited):
    small = ["one short document"]
    idle = min(_timed(lambda: _rerank(limited.url, small)) for _ in range(3))
    big = [f"document {i} about rivers, harbours and the old town square. " * 3
           for i in range(10_000)]
    # Each would take tens of seconds; the clients give up during tokenising and mid-engine.
    for route, patience in [("/v1/rerank", 1.5), ("/v2/rerank", 6.0), ("/score", 4.0),
                            ("/rerank", 1.5)]:
        with pytest.raises(httpx.TimeoutException):
            _rerank(limited.url, big, route=route, timeout=patience)
    waited = _timed(lambda: _rerank(limited.url, small))
    assert waited < idle + ONE_STEP_SECONDS, (idle, waited)


def test_abandoned_embeddings_stop_working(servers):
    url = servers["embedding"].url + "/v1/embeddings"

    def embed(texts, timeout=120):
        return httpx.post(url, json={"input": texts}, headers=AUTH, timeout=timeout)

    idle = min(_timed(lambda: embed(["one short text"])) for _ in range(3))
    big = [f"text {i} about rivers, harbours and the old town square. " * 3
           for i in range(10_000)]
    for patience in (1.5, 5.0):
        with pytest.raises(httpx.TimeoutException):
            embed(big, timeout=patience)
    waited = _timed(lambda: embed(["one short text"]))
    assert waited < idle + ONE_STEP_SECONDS, (idle, waited)


def _timed(call) -> float:
    started = time.monotonic()
    reply = call()
    assert reply.status_code == 200, reply.text
    return time.monotonic() - started


# -- 2. bounded work per request ---------------------------------------------------------------


def test_body_over_the_limit_is_413_naming_it(limited):
    reply = httpx.post(limited.url + "/v1/rerank", headers=_auth(), timeout=60,
                       content=b'{"query": "q", "documents": ["' + b"x" * 4_100_000 + b'"]}')
    assert reply.status_code == 413
    message = reply.json()["error"]["message"]
    assert "4000000" in message and "--max-body-bytes" in message and "4100" in message


def test_too_many_documents_is_400_naming_the_limit(limited):
    reply = _rerank(limited.url, ["d"] * 12_001)
    assert reply.status_code == 400
    message = reply.json()["error"]["message"]
    assert "12001" in message and "12000" in message and "--max-documents" in message


def test_a_document_with_too_many_tokens_is_400_naming_it(limited):
    reply = _rerank(limited.url, ["short", "river " * 5000])
    assert reply.status_code == 400
    error = reply.json()["error"]
    assert error["param"] == "documents[1]"
    assert "3000" in error["message"] and "--max-document-tokens" in error["message"]
    # Under the limit, long documents are still cut as the model card cuts them.
    assert _rerank(limited.url, ["river " * 2000]).status_code == 200


def test_limits_are_documented_in_help():
    out = subprocess.run([sys.executable, "-m", "qwen3_rag.cli", "serve", "--help"],
                         capture_output=True, text=True, timeout=120).stdout
    for flag in LIMITS:
        assert flag in out
    assert "default 33554432" in out and "default 10000" in out and "default 131072" in out


# -- 3. the key on every route and method ------------------------------------------------------


@pytest.mark.parametrize("method", ["OPTIONS", "GET", "HEAD", "POST", "PUT", "DELETE"])
@pytest.mark.parametrize("path", ["/metrics", "/v1/models", "/classify", "/v1/rerank"])
def test_every_method_needs_the_key(method, path, servers):
    url = servers["reranker"].url + path
    reply = httpx.request(method, url, timeout=30)
    assert reply.status_code == 401, (method, path, reply.status_code)
    assert "vllm:" not in reply.text  # never the Prometheus page


def test_a_cors_preflight_is_still_answered(servers):
    reply = httpx.options(servers["reranker"].url + "/v1/rerank", timeout=30, headers={
        "Origin": "https://app.example", "Access-Control-Request-Method": "POST"})
    assert reply.status_code != 401
    assert "access-control-allow-methods" in reply.headers


def test_probes_stay_open(servers):
    for path in ["/health", "/version"]:
        assert httpx.get(servers["reranker"].url + path, timeout=30).status_code == 200


# -- 4. no secret in any argv, log or repr -----------------------------------------------------


def test_a_key_given_on_the_command_line_leaves_every_argv(limited):
    processes = limited.processes()
    assert len(processes) >= 2  # the command and vLLM's server at least
    for process in processes:
        assert not any(KEY in word for word in process.cmdline()), process.cmdline()
    # ... and the key still guards the server.
    assert _rerank(limited.url, ["d"], headers=_auth("wrong")).status_code == 401
    assert KEY not in limited.log.read_text(errors="replace")


def test_the_session_servers_logs_hold_no_key(servers):
    for server in servers.values():
        assert API_KEY not in server.log.read_text(errors="replace")
        for process in server.processes():
            assert not any(API_KEY in word for word in process.cmdline())


def test_key_from_a_file_and_the_environment_in_the_dry_run(tmp_path, tiny_models):
    key_file = tmp_path / "key"
    key_file.write_text("from-a-file\n")
    command = [sys.executable, "-m", "qwen3_rag.cli", "serve", "reranker", "--model",
               str(tiny_models.reranker), "--api-key-file", str(key_file), "--dry-run"]
    out = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "VLLM_API_KEY=<your key>" in out.stdout and "from-a-file" not in out.stdout


def test_help_says_how_to_pass_the_key_safely():
    out = subprocess.run([sys.executable, "-m", "qwen3_rag.cli", "serve", "--help"],
                         capture_output=True, text=True, timeout=120).stdout
    flat = " ".join(out.split())
    assert "--api-key-file" in flat and "VLLM_API_KEY" in flat and "ps" in flat


# -- 5. a taken port ---------------------------------------------------------------------------


def test_a_taken_port_is_one_line_and_a_failure(tiny_models):
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        started = time.monotonic()
        out = subprocess.run(
            [sys.executable, "-m", "qwen3_rag.cli", "serve", "reranker", "--model",
             str(tiny_models.reranker), "--port", str(port), "--dtype", "float32"],
            capture_output=True, text=True, timeout=300)
    assert out.returncode != 0
    assert "ready" not in out.stdout
    errors = [line for line in out.stderr.splitlines() if line.strip()]
    assert len(errors) == 1 and str(port) in errors[0], out.stderr
    assert "Traceback" not in out.stderr
    assert time.monotonic() - started < 60  # refused before vLLM loads anything


def test_another_server_on_the_port_is_not_taken_for_ours(capsys):
    # A server that was there first answers /health without this server's token.
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
    from threading import Thread

    from qwen3_rag.server.command import _announce_when_ready

    class Health(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 - the http.server API
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args):
            pass

    class Alive:
        polls = 0

        def poll(self):
            self.polls += 1
            return None if self.polls < 4 else 1

    stranger = ThreadingHTTPServer(("127.0.0.1", 0), Health)
    Thread(target=stranger.serve_forever, daemon=True).start()
    try:
        _announce_when_ready(Alive(), f"http://127.0.0.1:{stranger.server_port}", "our-token")
    finally:
        stranger.shutdown()
    assert "ready" not in capsys.readouterr().out


def test_the_key_never_shows_in_the_parsed_arguments(tiny_models):
    from qwen3_rag.cli import build_parser

    args = build_parser().parse_args(["serve", "reranker", "--model", "m", "--api-key", KEY])
    assert KEY not in repr(args) and KEY not in str(args)
    assert args.api_key.value == KEY


def test_ready_is_said_for_our_own_server_only(servers):
    # The session's servers said "ready" once their own /health answered with their token.
    # ("doomed" is left out: the failover tests of test_http_backend.py kill it by design.)
    for server in (servers["embedding"], servers["reranker"]):
        text = server.log.read_text(errors="replace")
        assert text.count("server ready at") == 1
        reply = httpx.get(server.url + "/health", timeout=30)
        assert len(reply.headers.get("x-qwen3-rag-instance", "")) == 32


# -- 6. each server answers what its model is for ---------------------------------------------


@pytest.mark.parametrize("route", ["/v1/rerank", "/rerank", "/v2/rerank", "/score", "/v1/score"])
def test_an_embedding_server_refuses_rerank_routes(route, servers):
    reply = _rerank(servers["embedding"].url, ["d"], route=route, headers=AUTH)
    assert reply.status_code == 400, reply.text
    assert "embedding model" in reply.json()["error"]["message"]


def test_a_reranker_server_refuses_embeddings(servers):
    reply = httpx.post(servers["reranker"].url + "/v1/embeddings", headers=AUTH, timeout=60,
                       json={"input": ["some text"]})
    assert reply.status_code == 400
    assert "reranker model" in reply.json()["error"]["message"]


# -- 9. bad requests: a clear 4xx, one log line, no traceback ---------------------------------


@pytest.mark.parametrize("body, field", [
    ('{"query": "q", "documents": ["ok", "bad \\ud800 text"]}', "documents[1]"),
    ('{"query": "\\udfff", "documents": ["ok"]}', "query"),
])
def test_a_lone_surrogate_is_400(body, field, servers):
    reply = httpx.post(servers["reranker"].url + "/v1/rerank", content=body.encode(),
                       headers={**AUTH, "content-type": "application/json"}, timeout=60)
    assert reply.status_code == 400
    assert reply.json()["error"]["param"] == field
    assert "surrogate" in reply.json()["error"]["message"]


def test_a_lone_surrogate_in_embeddings_is_400(servers):
    reply = httpx.post(servers["embedding"].url + "/v1/embeddings",
                       content=b'{"input": ["\\ud800"]}',
                       headers={**AUTH, "content-type": "application/json"}, timeout=60)
    assert reply.status_code == 400 and reply.json()["error"]["param"] == "input[0]"


def test_deeply_nested_json_is_400(servers):
    body = b'{"query": "q", "documents": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    reply = httpx.post(servers["reranker"].url + "/v1/rerank", content=body,
                       headers={**AUTH, "content-type": "application/json"}, timeout=60)
    assert reply.status_code == 400
    assert "not valid JSON" in reply.json()["error"]["message"]


@pytest.mark.parametrize("route, body", [
    ("/v1/rerank", {"query": "  ", "documents": ["d"]}),
    ("/v2/rerank", {"query": "", "documents": ["d"]}),
    ("/score", {"text_1": "\n", "text_2": ["d"]}),
])
def test_a_blank_query_is_400_as_in_the_library(route, body, servers):
    reply = httpx.post(servers["reranker"].url + route, json=body, headers=AUTH, timeout=60)
    assert reply.status_code == 400
    assert "empty or whitespace" in reply.json()["error"]["message"]


def test_bad_requests_leave_no_traceback_in_the_log(servers):
    # Runs after the bad requests above (file order).
    for name in ("reranker", "embedding"):
        assert "Traceback" not in servers[name].log.read_text(errors="replace")


def test_servers_still_up_after_all_that(servers, limited):
    for server in [*servers.values(), limited]:
        if server.process.poll() is None:
            assert httpx.get(server.url + "/health", timeout=30).status_code == 200
    assert psutil.pid_exists(limited.process.pid)
