"""backend='http' against real vLLM servers started with ``qwen3-rag serve`` on loopback.

The servers are the session's (``servers`` in conftest.py, see ``vllm_servers.py``). Results are compared with the model-card
formulas in ``reference.py`` (and, once, with the in-process vLLM engine).
"""

from __future__ import annotations

import asyncio
import signal
import time
from dataclasses import replace

import numpy as np
import pytest
import reference
from vllm_servers import API_KEY, SERVED_EMBEDDING_TOLERANCE, start_server, wait_ready

from qwen3_core import EngineSpec, Qwen3Embedder, Qwen3Reranker
from qwen3_core.engines.http_backend import HttpEngine, ServerError
from qwen3_core.models import resolve_model

pytestmark = pytest.mark.vllm

TOLERANCE = 1e-5

QUERY = "How do glaciers shape valleys?"
DOCUMENTS = [
    "Glaciers carve U-shaped valleys as moving ice scrapes and plucks the bedrock beneath it.",
    "A sourdough starter is a culture of wild yeast and lactic acid bacteria.",
    "冰川在移动时会侵蚀谷底，把 V 形河谷改造成 U 形谷。",
    "Text with a control token <|im_end|> inside it must stay ordinary characters.",
    "",
]


@pytest.fixture(scope="session")
def http_embedder(tiny_models, servers):
    with Qwen3Embedder(tiny_models.embedding, backend="http", dtype="float32",
                       base_url=servers["embedding"].url, api_key=API_KEY) as emb:
        yield emb


@pytest.fixture(scope="session")
def http_reranker(tiny_models, servers):
    with Qwen3Reranker(tiny_models.reranker, backend="http", dtype="float32",
                       base_url=servers["reranker"].url + "/v1/", api_key=API_KEY) as rr:
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
                       base_url=servers["reranker"].url, api_key=API_KEY) as rr:
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
                               atol=SERVED_EMBEDDING_TOLERANCE)
    np.testing.assert_allclose(queries, [reference.embed_query(path, q) for q in query_texts],
                               atol=SERVED_EMBEDDING_TOLERANCE)


def test_http_equals_in_process_vllm(http_reranker, vllm_reranker, http_embedder, vllm_embedder):
    np.testing.assert_allclose(http_reranker.score(QUERY, DOCUMENTS),
                               vllm_reranker.score(QUERY, DOCUMENTS), atol=TOLERANCE)
    np.testing.assert_allclose(http_embedder.embed_documents(DOCUMENTS),
                               vllm_embedder.embed_documents(DOCUMENTS),
                               atol=SERVED_EMBEDDING_TOLERANCE)


def test_large_batches_are_split_and_keep_order(http_reranker, http_embedder, tiny_models):
    # 150 prompts exceed one request's prompt limit, so they travel as several requests.
    documents = [f"Passage {i}: ice sheet number {i} moved {i * 7} metres." for i in range(150)]
    scores = http_reranker.score(QUERY, documents)
    want = reference.rerank_scores(str(tiny_models.reranker), QUERY, documents)
    np.testing.assert_allclose(scores, want, atol=TOLERANCE)
    vectors = http_embedder.embed_documents(documents)
    want_vectors = [reference.embed(str(tiny_models.embedding), d) for d in documents]
    np.testing.assert_allclose(vectors, want_vectors, atol=SERVED_EMBEDDING_TOLERANCE)


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
    np.testing.assert_allclose(np.concatenate(results[40:]), want_vectors,
                               atol=SERVED_EMBEDDING_TOLERANCE)


# -- errors and failover ------------------------------------------------------------------------


def test_unknown_model_name_is_a_clear_error(tiny_models, servers):
    info = replace(resolve_model(tiny_models.reranker), name="not-the-served-name")
    spec = EngineSpec("reranker", info.name, backend="http", base_url=servers["reranker"].url,
                      api_key=API_KEY, timeout=10.0, max_length=8192)
    engine = HttpEngine(spec, info)
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
    # The doomed server has no key and ignores the one sent.
    with Qwen3Reranker(tiny_models.reranker, backend="http", dtype="float32", base_url=urls,
                       api_key=API_KEY, timeout=10.0) as rr:
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


def test_serve_forwards_sigterm_and_exits_with_the_servers_status(tiny_models, tmp_path):
    # A server of its own: the session's servers are shared with later modules.
    embedding = start_server("embedding", tiny_models.embedding, tmp_path, "--api-key", API_KEY)
    try:
        wait_ready(embedding)
    except BaseException:
        embedding.kill()
        raise
    # /health answers before the command's own poll sees it: wait for what a user reads.
    deadline = time.monotonic() + 30
    while "ready at " + embedding.url not in embedding.log.read_text(errors="replace"):
        assert time.monotonic() < deadline, embedding.log.read_text(errors="replace")[-2000:]
        time.sleep(0.2)
    vllm_processes = embedding.processes()[1:]
    assert vllm_processes, "the command runs vLLM as a child process"
    embedding.process.send_signal(signal.SIGTERM)
    assert embedding.process.wait(timeout=60) == 0
    time.sleep(1)  # the engine process exits right after the API server
    assert not [p for p in vllm_processes if p.is_running() and p.status() != "zombie"]
