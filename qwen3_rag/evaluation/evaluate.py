"""Score systems on a test set: the Python API behind ``qwen3-rag eval``."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from qwen3_rag.evaluation.metrics import METRICS, Ranking, paired_tests, score_rankings
from qwen3_rag.evaluation.report import EvaluationReport
from qwen3_rag.evaluation.retrievers import DEFAULT_ID_KEY, rank_with
from qwen3_rag.evaluation.test_set import TestSet, load_shipped

__all__ = ["evaluate_rankings", "evaluate_retrievers"]


def evaluate_rankings(test_set: TestSet, rankings: Sequence[Ranking], *,
                      metrics: Sequence[str] = METRICS, stat_test: str = "student",
                      max_p: float = 0.05, random_weights: bool = False,
                      notes: Mapping[str, Any] | None = None) -> EvaluationReport:
    """Metrics of each ranking and paired tests between every two of them.

    Args:
        test_set: What the rankings answer.
        rankings: One per system, with a result for every query.
        metrics: ranx metric names (default nDCG@10, MRR@10, Recall@5/10/100).
        stat_test: ``"student"`` (paired t-test), ``"fisher"`` or ``"tukey"``.
        max_p: Differences with a p-value below this count as significant.
        random_weights: Mark the report as made with random-weight models.
        notes: Extra facts copied into the JSON report.
    """
    if not 0 < max_p < 1:
        raise ValueError(f"max_p must be between 0 and 1, got {max_p}")
    scores = score_rankings(test_set.qrels, rankings, metrics)
    pairs = paired_tests(test_set.qrels, rankings, metrics, stat_test)
    return EvaluationReport(test_set.name, len(test_set.passages), len(test_set.queries),
                            scores, pairs, stat_test, max_p, random_weights, dict(notes or {}))


def evaluate_retrievers(systems: Mapping[str, Any], test_set: TestSet | None = None, *,
                        id_key: str = DEFAULT_ID_KEY, metrics: Sequence[str] = METRICS,
                        stat_test: str = "student", max_p: float = 0.05,
                        show_progress: bool = False) -> EvaluationReport:
    """Evaluate the retrievers you run, side by side, on a test set.

    Each system is asked every query; what it returns is mapped back to passage ids through
    the metadata field ``id_key``, so index the test set's passages with their ids there.

    Examples:
        >>> from langchain_classic.retrievers import ContextualCompressionRetriever
        >>> recall = chroma.as_retriever(search_kwargs={"k": 20})  # doctest: +SKIP
        >>> both = ContextualCompressionRetriever(base_retriever=recall,
        ...     base_compressor=Qwen3Rerank(top_n=10))  # doctest: +SKIP
        >>> report = evaluate_retrievers({"embedding": recall, "+ rerank": both})  # doctest: +SKIP
        >>> report.to_json()["systems"][1]["metrics"]["ndcg@10"]  # doctest: +SKIP

    Args:
        systems: Name to a LangChain retriever or Runnable, a LlamaIndex retriever or query
            engine, or a function from query to documents (see
            :func:`~qwen3_rag.evaluation.retrievers.retrieve_fn`).
        test_set: The queries and judgements; the bilingual set shipped with qwen3-rag when
            None.
        id_key: The metadata field holding each returned document's passage id.
        metrics: ranx metric names.
        stat_test: ``"student"`` (paired t-test), ``"fisher"`` or ``"tukey"``.
        max_p: Differences with a p-value below this count as significant.
        show_progress: Show a progress bar per system (on stderr).

    Raises:
        KeyError: A returned document has no ``id_key`` metadata field.
        ValueError: A system returned no passage id of the test set, or bad settings.
        TypeError: A system is of a kind that cannot be asked queries.
    """
    if not systems:
        raise ValueError("no systems to evaluate")
    test_set = test_set if test_set is not None else load_shipped()
    rankings = []
    for name, system in systems.items():
        if show_progress:
            from qwen3_rag.common.render import make_console
            from qwen3_rag.evaluation.progress import query_progress

            with query_progress(make_console(stderr=True)) as progress:
                task = progress.add_task(name, total=len(test_set.queries))
                rankings.append(rank_with(system, test_set, name=name, id_key=id_key,
                                          on_progress=lambda n: progress.advance(task, n)))
        else:
            rankings.append(rank_with(system, test_set, name=name, id_key=id_key))
    return evaluate_rankings(test_set, rankings, metrics=metrics, stat_test=stat_test,
                             max_p=max_p, notes={"id_key": id_key})
