"""Issue 26 on real ``qwen3-rag serve`` servers: the http backend and the rerank route.

The http backend does no windowing of its own: the core builds every window's prompt and the
backend scores them like any others, so its best-window scores are the model card's. The server
windows a plain-text request itself (``"long_documents": "best_window"``). Both are compared
with ``reference.rerank_windows``; the servers are the session's (``vllm_servers.py``).
"""

from __future__ import annotations

import asyncio

import httpx
import pytest
import reference
from test_long_documents import DOCUMENTS, MAX_LENGTH, QUERY, TOLERANCE, _best, _check
from vllm_servers import API_KEY

from qwen3_core import Qwen3Reranker

pytestmark = pytest.mark.vllm


def test_http_backend_best_window_is_the_model_cards(tiny_models, servers):
    path = str(tiny_models.reranker)
    expected = [reference.rerank_windows(path, QUERY, d, max_length=MAX_LENGTH)
                for d in DOCUMENTS]
    with Qwen3Reranker(tiny_models.reranker, backend="http", base_url=servers["reranker"].url,
                       api_key=API_KEY, max_length=MAX_LENGTH,
                       long_documents="best_window") as rr:
        assert rr.backend == "http"
        _check(rr.rerank(QUERY, DOCUMENTS), expected, DOCUMENTS)
        _check(asyncio.run(rr.arerank(QUERY, DOCUMENTS)), expected, DOCUMENTS)


def test_rerank_route_best_window_is_the_model_cards(tiny_models, servers):
    path = str(tiny_models.reranker)
    expected = [reference.rerank_windows(path, QUERY, d, max_length=MAX_LENGTH, overlap=9)
                for d in DOCUMENTS]
    reply = httpx.post(servers["reranker"].url + "/v1/rerank",
                       headers={"Authorization": f"Bearer {API_KEY}"}, timeout=120,
                       json={"model": path, "query": QUERY, "documents": DOCUMENTS,
                             "truncate_prompt_tokens": MAX_LENGTH,
                             "long_documents": "best_window", "overlap": 9})
    assert reply.status_code == 200, reply.text
    answer = reply.json()
    assert answer["usage"]["prompt_tokens"] == MAX_LENGTH * sum(
        len(w) for w, d in zip(expected, DOCUMENTS) if len(w) > 1) + sum(
        len(reference.rerank_input_ids(path, QUERY, d, max_length=MAX_LENGTH))
        for w, d in zip(expected, DOCUMENTS) if len(w) == 1)
    for result in answer["results"]:
        score, spans = _best(expected[result["index"]])
        assert abs(result["relevance_score"] - score) <= TOLERANCE
        assert tuple(result["span"]) in spans
