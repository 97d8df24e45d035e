"""backend='http' against real vLLM servers started with ``qwen3-rag serve`` on loopback.

Three servers run for the session: an embedding and a reranker server that stay up, and a second
reranker server that the failover tests stop and kill. Results are compared with the model-card
formulas in ``reference.py`` (and, once, with the in-process vLLM engine).
"""

from __future__ import annotations

import asyncio
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path

import httpx
import numpy as np
import psutil
import pytest
import reference

from qwen3_core import Qwen3Embedder, Qwen3Reranker
from qwen3_core.engines.http_backend import HttpEngine, ServerError
from qwen3_core.models import resolve_model
from qwen3_rag.serve import set_parent_death_signal

pytestmark = pytest.mark.vllm

TOLERANCE = 1e-5
API_KEY = "tiny-secret"
STARTUP_SECONDS = 400

QUERY = "How do glaciers shape valleys?"
DOCUMENTS = [
    "Glaciers carve U-shaped valleys as moving ice scrapes and plucks the bedrock beneath it.",
    "A sourdough starter is a culture of wild yeast and lactic acid bacteria.",
    "冰川在移动时会侵蚀谷底，把 V 形河谷改造成 U 形谷。",
    "Text with a control token <|im_end|> inside it must stay ordinary characters.",
    "",
]


@dataclass
class Server:
    """One ``qwen3-rag serve`` process and where it listens."""

    process: subprocess.Popen
    url: str
    log: Path

    def processes(self) -> list[psutil.Process]:
        """The command and every process under it (the vLLM API server and its engine)."""
        try:
            root = psutil.Process(self.process.pid)
            return [root, *root.children(recursive=True)]
        except psutil.NoSuchProcess:
            return []

    def kill(self) -> None:
        """Kill the whole server at once, as a crash would."""
        for proc in self.processes():
            try:
                proc.kill()
            except psutil.NoSuchProcess:
                pass
        self.process.wait(timeout=30)

    def stop(self) -> int:
        """SIGTERM the command (it forwards to vLLM); kill what is left after 60 s."""
        if self.process.poll() is None:
            left_behind = self.processes()
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=60)
            finally:
                for proc in left_behind:
                    if proc.is_running():
                        proc.kill()
        return self.process.wait(timeout=30)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _serve_command() -> list[str]:
    script = Path(sys.executable).with_name("qwen3-rag")
    return [str(script)] if script.exists() else [sys.executable, "-m", "qwen3_rag.cli"]


def _start(kind: str, model: Path, log_dir: Path, *options: str) -> Server:
    port = _free_port()
    log = log_dir / f"{kind}-{port}.log"
    command = [*_serve_command(), "serve", kind, "--model", str(model), "--dtype", "float32",
               "--port", str(port), *options, "--", "--enforce-eager"]
    with log.open("wb") as sink:
        # Dies with pytest even when the session is killed before its teardown runs.
        process = subprocess.Popen(command, stdout=sink, stderr=subprocess.STDOUT,
                                   start_new_session=True, preexec_fn=set_parent_death_signal)
    return Server(process, f"http://127.0.0.1:{port}", log)


def _wait_ready(server: Server) -> None:
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            pytest.fail(f"qwen3-rag serve exited with {server.process.returncode}:\n"
                        + server.log.read_text(errors="replace")[-3000:])
        try:
            if httpx.get(f"{server.url}/health", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(1)
    pytest.fail(f"{server.url} not ready after {STARTUP_SECONDS} s; log: {server.log}")


@pytest.fixture(scope="session")
def servers(tiny_models, tmp_path_factory):
    """Started together (startup dominates), stopped at the end of the session."""
    log_dir = tmp_path_factory.mktemp("vllm-servers")
    started = {}
    try:
        # The embedding server guards its /v1 routes with a key (the reranker's /classify
        # route is never guarded by vLLM).
        for name, kind, model, options in [
            ("embedding", "embedding", tiny_models.embedding, ["--api-key", API_KEY]),
            ("reranker", "reranker", tiny_models.reranker, []),
            ("doomed", "reranker", tiny_models.reranker, []),
        ]:
            started[name] = _start(kind, model, log_dir, *options)
        for server in started.values():
            _wait_ready(server)
        yield started
    finally:
        for server in started.values():
            server.stop()


@pytest.fixture(scope="session")
def http_embedder(tiny_models, servers):
    with Qwen3Embedder(tiny_models.embedding, backend="http", dtype="float32",
                       base_url=servers["embedding"].url, api_key=API_KEY) as emb:
        yield emb


@pytest.fixture(scope="session")
def http_reranker(tiny_models, servers):
    with Qwen3Reranker(tiny_models.reranker, backend="http", dtype="float32",
                       base_url=servers["reranker"].url + "/v1/") as rr:
        yield rr


@pytest.fixture(scope="session")
def reference_scores(tiny_models):
    return reference.rerank_scores(str(tiny_models.reranker), QUERY, DOCUMENTS)


# -- exactness ----------------------------------------------------------------------------------


def test_scores_match_model_card(http_reranker, reference_scores):
    assert http_reranker.backend == "http"
    np.testing.assert_allclose(http_reranker.score(QUERY, DOCUMENTS), reference_scores,
                               atol=TOLERANCE)


def test_truncated_scores_match_model_card(tiny_models, servers):
    long_document = " ".join(["moraine and cirque"] * 200)
    with Qwen3Reranker(tiny_models.reranker, backend="http", dtype="float32", max_length=96,
                       base_url=servers["reranker"].url) as rr:
        got = rr.score(QUERY, [long_document, DOCUMENTS[0]])
    want = reference.rerank_scores(str(tiny_models.reranker), QUERY,
                                   [long_document, DOCUMENTS[0]], max_length=96)
    np.testing.assert_allclose(got, want, atol=TOLERANCE)


def test_embeddings_match_model_card(http_embedder, tiny_models):
    path = str(tiny_models.embedding)
    documents = http_embedder.embed_documents(DOCUMENTS)
    query_texts = [QUERY, "冰川如何塑造山谷？"]
    queries = http_embedder.embed_queries(query_texts)
    assert documents.dtype == np.float32
    np.testing.assert_allclose(documents, [reference.embed(path, d) for d in DOCUMENTS],
                               atol=TOLERANCE)
    np.testing.assert_allclose(queries, [reference.embed_query(path, q) for q in query_texts],
                               atol=TOLERANCE)


def test_http_equals_in_process_vllm(http_reranker, vllm_reranker, http_embedder, vllm_embedder):
    np.testing.assert_allclose(http_reranker.score(QUERY, DOCUMENTS),
                               vllm_reranker.score(QUERY, DOCUMENTS), atol=TOLERANCE)
    np.testing.assert_allclose(http_embedder.embed_documents(DOCUMENTS),
                               vllm_embedder.embed_documents(DOCUMENTS), atol=TOLERANCE)


def test_large_batches_are_split_and_keep_order(http_reranker, http_embedder, tiny_models):
    # 150 prompts exceed one request's prompt limit, so they travel as several requests.
    documents = [f"Passage {i}: ice sheet number {i} moved {i * 7} metres." for i in range(150)]
    scores = http_reranker.score(QUERY, documents)
    want = reference.rerank_scores(str(tiny_models.reranker), QUERY, documents)
    np.testing.assert_allclose(scores, want, atol=TOLERANCE)
    vectors = http_embedder.embed_documents(documents)
    want_vectors = [reference.embed(str(tiny_models.embedding), d) for d in documents]
    np.testing.assert_allclose(vectors, want_vectors, atol=TOLERANCE)


# -- async ----------------------------------------------------------------------------------------


async def test_fifty_concurrent_async_calls(http_reranker, http_embedder, reference_scores,
                                            tiny_models):
    queries = [f"{QUERY} ({i})" for i in range(10)]
    want_vectors = [reference.embed_query(str(tiny_models.embedding), q) for q in queries]
    score_calls = [http_reranker.ascore(QUERY, DOCUMENTS) for _ in range(40)]
    embed_calls = [http_embedder.aembed_queries([q]) for q in queries]
    results = await asyncio.gather(*score_calls, *embed_calls)
    for scores in results[:40]:
        np.testing.assert_allclose(scores, reference_scores, atol=TOLERANCE)
    np.testing.assert_allclose(np.concatenate(results[40:]), want_vectors, atol=TOLERANCE)


# -- errors and failover ------------------------------------------------------------------------


def test_unknown_model_name_is_a_clear_error(tiny_models, servers):
    info = replace(resolve_model(tiny_models.reranker), name="not-the-served-name")
    engine = HttpEngine("reranker", info, [servers["reranker"].url], None, 10.0, 8192)
    try:
        with pytest.raises(ServerError, match="HTTP 404.*--served-model-name"):
            engine.score_groups([[[1, 2, 3]]])
    finally:
        engine.close()


def test_wrong_api_key_is_a_clear_error(tiny_models, servers):
    with Qwen3Embedder(tiny_models.embedding, backend="http", dtype="float32",
                       base_url=servers["embedding"].url, api_key="wrong") as emb:
        with pytest.raises(ServerError, match="HTTP 401.*api_key"):
            emb.embed_documents(["locked out"])


def test_hung_server_is_reported_within_timeout(tiny_models, servers):
    doomed = servers["doomed"]
    vllm_processes = doomed.processes()[1:]
    for proc in vllm_processes:
        proc.suspend()
    try:
        with Qwen3Reranker(tiny_models.reranker, backend="http", dtype="float32",
                           base_url=doomed.url, timeout=3.0) as rr:
            started = time.monotonic()
            with pytest.raises(ServerError, match=doomed.url):
                rr.score(QUERY, DOCUMENTS)
            assert time.monotonic() - started < 3.0 + 2.0
    finally:
        for proc in vllm_processes:
            proc.resume()


async def test_failover_when_a_server_is_killed_mid_run(tiny_models, servers, reference_scores):
    urls = [servers["doomed"].url, servers["reranker"].url]
    with Qwen3Reranker(tiny_models.reranker, backend="http", dtype="float32", base_url=urls,
                       timeout=10.0) as rr:
        for _ in range(4):  # both servers answer in turn
            np.testing.assert_allclose(rr.score(QUERY, DOCUMENTS), reference_scores,
                                       atol=TOLERANCE)
        assert "POST /classify" in servers["doomed"].log.read_text(errors="replace")
        calls = [rr.ascore(QUERY, DOCUMENTS) for _ in range(30)]
        kill = asyncio.to_thread(servers["doomed"].kill)
        results = await asyncio.gather(*calls, kill)
        for scores in results[:30]:
            np.testing.assert_allclose(scores, reference_scores, atol=TOLERANCE)
        for _ in range(4):  # the dead server is skipped
            np.testing.assert_allclose(rr.score(QUERY, DOCUMENTS), reference_scores,
                                       atol=TOLERANCE)


def test_single_dead_server_is_a_clear_error(tiny_models, servers):
    doomed = servers["doomed"]
    if doomed.process.poll() is None:
        doomed.kill()
    with Qwen3Reranker(tiny_models.reranker, backend="http", dtype="float32",
                       base_url=doomed.url, timeout=5.0) as rr:
        started = time.monotonic()
        with pytest.raises(ServerError) as raised:
            rr.score(QUERY, DOCUMENTS)
        assert time.monotonic() - started < 5.0
    message = str(raised.value)
    assert doomed.url in message and "ConnectError" in message
    assert "qwen3-rag serve reranker" in message


def test_serve_forwards_sigterm_and_exits_with_the_servers_status(servers):
    embedding = servers["embedding"]
    vllm_processes = embedding.processes()[1:]
    assert vllm_processes, "the command runs vLLM as a child process"
    embedding.process.send_signal(signal.SIGTERM)
    assert embedding.process.wait(timeout=60) == 0
    time.sleep(1)  # the engine process exits right after the API server
    assert not [p for p in vllm_processes if p.is_running() and p.status() != "zombie"]
    assert "ready at " + embedding.url in embedding.log.read_text(errors="replace")
