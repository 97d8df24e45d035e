"""Engine sharing, thread and asyncio safety, backend selection and the defaults on this machine."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

import reference
from conftest import VLLM_KWARGS
from qwen3_core import Qwen3Embedder, Qwen3Reranker

QUERIES = [f"question number {i} about rivers?" for i in range(8)]
DOCS = ["The Yangtze reaches the sea at Shanghai.", "Light bends in a prism.", "长江很长。"]


def test_importing_the_package_loads_neither_torch_nor_vllm():
    code = (
        "import sys, qwen3_core, qwen3_core.engines, qwen3_core.tokenization\n"
        "heavy = sorted(m for m in ('torch', 'vllm', 'transformers') if m in sys.modules)\n"
        "print(','.join(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_same_settings_share_one_engine(reranker, tiny_models):
    kwargs = VLLM_KWARGS if reranker.backend == "vllm" else None
    with Qwen3Reranker(tiny_models.reranker, backend=reranker.backend, dtype="float32",
                       engine_kwargs=kwargs) as second:
        assert second.shares_engine_with(reranker)
    # Closing the second wrapper leaves the shared engine running for the first.
    assert len(reranker.score("q", DOCS)) == 3


def test_other_dtype_gets_its_own_engine(tiny_models):
    with Qwen3Embedder(tiny_models.embedding, backend="transformers", dtype="float32") as fp32, \
            Qwen3Embedder(tiny_models.embedding, backend="transformers", dtype="bfloat16") as bf16:
        assert not fp32.shares_engine_with(bf16)


def test_threads_get_what_serial_calls_get(reranker):
    serial = [reranker.score(q, DOCS) for q in QUERIES]
    with ThreadPoolExecutor(8) as pool:
        threaded = list(pool.map(lambda q: reranker.score(q, DOCS), QUERIES))
    assert np.allclose(threaded, serial, atol=1e-6)


async def test_concurrent_async_calls_get_serial_results(reranker, embedder):
    serial_scores = [reranker.score(q, DOCS) for q in QUERIES]
    serial_vectors = embedder.embed_queries(QUERIES)
    scores = await asyncio.gather(*(reranker.ascore(q, DOCS) for q in QUERIES))
    vectors = await asyncio.gather(*(embedder.aembed_queries([q]) for q in QUERIES))
    assert np.allclose(scores, serial_scores, atol=1e-6)
    assert np.allclose(np.concatenate(vectors), serial_vectors, atol=1e-6)
    results = await reranker.arerank(QUERIES[0], DOCS, top_n=2)
    assert [r.index for r in results] == [r.index for r in reranker.rerank(QUERIES[0], DOCS, top_n=2)]


async def test_async_does_not_block_the_event_loop(reranker):
    ticks = 0

    async def ticker():
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0.001)

    task = asyncio.create_task(ticker())
    await asyncio.sleep(0)  # let the ticker start before the long call
    await reranker.ascore(QUERIES[0], ["The river runs past the old mill. " * 2000])
    task.cancel()
    assert ticks > 1


@pytest.mark.vllm  # needs vLLM installed, as in `make test`'s environment
def test_auto_picks_vllm_here():
    from qwen3_core.engines.registry import choose_backend

    backend, why = choose_backend("auto")
    assert backend == "vllm", why


@pytest.mark.vllm
def test_defaults_work_on_this_machine(tiny_models):
    """No arguments but the model: transformers until vLLM has started (a CPU), dtype auto (bf16
    here), memory sized automatically, an embedder and a reranker side by side."""
    with Qwen3Embedder(tiny_models.embedding) as emb, Qwen3Reranker(tiny_models.reranker) as rr:
        assert emb.backend == rr.backend == "transformers-then-vllm"
        scores = rr.score("Which river is the longest?", DOCS)
        expected = reference.rerank_scores(tiny_models.reranker, "Which river is the longest?", DOCS)
        assert np.allclose(scores, expected, atol=0.05)
        vectors = emb.embed_documents(DOCS)
        expected_vectors = np.stack([reference.embed(tiny_models.embedding, d) for d in DOCS])
        assert np.allclose(np.sum(vectors * expected_vectors, axis=1), 1.0, atol=0.02)
