"""Retrieval quality, stage by stage, on your own data: ``qwen3-rag eval`` and its Python API.

Read a test set (:func:`load_test_set`: BEIR directory, hand-written JSONL/CSV, or the bilingual
set shipped with qwen3-rag), then score the retrievers you run, LangChain or LlamaIndex,
reranker included, with :func:`evaluate_retrievers`. Metrics (nDCG@10, MRR@10, Recall@5/10/100)
and paired significance tests come from ranx.
"""

from __future__ import annotations

from qwen3_rag.evaluation.evaluate import evaluate_rankings, evaluate_retrievers
from qwen3_rag.evaluation.metrics import METRICS, STAT_TESTS, Ranking, SystemScores
from qwen3_rag.evaluation.report import EvaluationReport
from qwen3_rag.evaluation.retrievers import DEFAULT_ID_KEY
from qwen3_rag.evaluation.test_set import (
    TestSet,
    TestSetError,
    load_beir,
    load_hand_written,
    load_shipped,
    load_test_set,
)

__all__ = [
    "DEFAULT_ID_KEY",
    "METRICS",
    "STAT_TESTS",
    "EvaluationReport",
    "Ranking",
    "SystemScores",
    "TestSet",
    "TestSetError",
    "evaluate_rankings",
    "evaluate_retrievers",
    "load_beir",
    "load_hand_written",
    "load_shipped",
    "load_test_set",
]
