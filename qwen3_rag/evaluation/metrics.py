"""Retrieval metrics and paired significance tests, computed by ranx (not by hand here).

A system's output is a :class:`Ranking`: for each query, passage ids best first, and how long
the query took. ranx turns rankings into nDCG@10, MRR@10 and Recall@5/10/100 per query and on
average, and compares systems query by query with a paired test.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from itertools import combinations
from typing import Any

import numpy as np

__all__ = [
    "METRICS",
    "STAT_TESTS",
    "Ranking",
    "SystemScores",
    "paired_tests",
    "percentile_ms",
    "score_rankings",
]

#: ranx metric names, in the order they are reported.
METRICS = ("ndcg@10", "mrr@10", "recall@5", "recall@10", "recall@100")
#: ranx's paired tests: Student's paired t-test, Fisher's randomization test, Tukey's HSD.
STAT_TESTS = ("student", "fisher", "tukey")


@dataclass(frozen=True)
class Ranking:
    """What one system returned for every query of a test set.

    Attributes:
        name: How the system is shown in tables and charts.
        ids: Query id to passage ids, best first, each id once.
        seconds: Query id to the time the system took to answer it.
        details: Free-form description (models, stage) copied into JSON reports.
    """

    name: str
    ids: Mapping[str, Sequence[str]]
    seconds: Mapping[str, float]
    details: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class SystemScores:
    """A system's metrics: means over the queries, per query, and latency percentiles."""

    name: str
    means: dict[str, float]
    per_query: dict[str, dict[str, float]]
    latency_ms: dict[str, float]
    details: dict[str, Any]


def percentile_ms(seconds: Sequence[float], percent: float) -> float:
    """The ``percent`` percentile of ``seconds``, in milliseconds (linear interpolation)."""
    if not len(seconds):
        raise ValueError("no timings to take a percentile of")
    return float(np.percentile(np.asarray(seconds, dtype=float) * 1000.0, percent))


def _ranx():
    import ranx

    return ranx


def _qrels(qrels: Mapping[str, Mapping[str, int]]):
    return _ranx().Qrels({query: dict(grades) for query, grades in qrels.items()})


def _run(ranking: Ranking, queries: Sequence[str]):
    # Scores from positions, not the systems' own scores: the order the system returned is
    # what is measured, and ranx would otherwise break score ties by passage id.
    scores: dict[str, dict[str, float]] = {}
    for query in queries:
        ids = list(dict.fromkeys(ranking.ids.get(query, ())))
        scores[query] = {pid: float(len(ids) - position) for position, pid in enumerate(ids)}
    return _ranx().Run(scores, name=ranking.name)


def _check(qrels: Mapping[str, Mapping[str, int]], rankings: Sequence[Ranking]) -> None:
    if not rankings:
        raise ValueError("no rankings to score")
    names = [r.name for r in rankings]
    if len(set(names)) != len(names):
        raise ValueError(f"system names must differ, got {names}")
    for ranking in rankings:
        missing = sorted(set(qrels) - set(ranking.ids))
        if missing:
            raise ValueError(f"system {ranking.name!r} has no result for queries "
                             f"{', '.join(missing[:5])}")


def score_rankings(qrels: Mapping[str, Mapping[str, int]], rankings: Sequence[Ranking],
                   metrics: Sequence[str] = METRICS) -> list[SystemScores]:
    """Each system's metrics, averaged over the queries of ``qrels`` and per query.

    Args:
        qrels: Query id to ``{passage id: grade}``; grade above 0 means relevant.
        rankings: One per system, with a result for every query of ``qrels``.
        metrics: ranx metric names.

    Returns:
        One :class:`SystemScores` per ranking, in the same order.
    """
    _check(qrels, rankings)
    queries = list(qrels)
    ranx_qrels = _qrels(qrels)
    scored = []
    for ranking in rankings:
        run = _run(ranking, queries)
        with warnings.catch_warnings():
            # numba's note about an unsigned cast inside ranx; the values are small counts.
            warnings.simplefilter("ignore")
            means = _ranx().evaluate(ranx_qrels, run, list(metrics), make_comparable=True)
        if len(metrics) == 1:
            means = {metrics[0]: means}
        # ranx keeps each query's score in the run (save_results_in_run), keyed by query id.
        per_query = {query: {m: float(run.scores[m][query]) for m in metrics}
                     for query in queries}
        seconds = [ranking.seconds[q] for q in queries]
        scored.append(SystemScores(
            name=ranking.name,
            means={m: float(means[m]) for m in metrics},
            per_query=per_query,
            latency_ms={"p50": percentile_ms(seconds, 50), "p95": percentile_ms(seconds, 95)},
            details=dict(ranking.details),
        ))
    return scored


def paired_tests(qrels: Mapping[str, Mapping[str, int]], rankings: Sequence[Ranking],
                 metrics: Sequence[str] = METRICS, stat_test: str = "student",
                 ) -> list[dict[str, Any]]:
    """Every pair of systems compared query by query with ranx's paired test.

    Args:
        qrels: Query id to ``{passage id: grade}``.
        rankings: Two or more systems (fewer gives no pairs).
        metrics: ranx metric names.
        stat_test: One of :data:`STAT_TESTS`.

    Returns:
        ``{"a", "b", "metric", "p_value", "better"}`` per pair and metric, where ``better`` is
        the name of the system with the higher mean, or None on a tie.
    """
    if stat_test not in STAT_TESTS:
        raise ValueError(f"unknown stat_test {stat_test!r}; valid: {', '.join(STAT_TESTS)}")
    _check(qrels, rankings)
    if len(rankings) < 2:
        return []
    queries = list(qrels)
    runs = [_run(ranking, queries) for ranking in rankings]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        report = _ranx().compare(_qrels(qrels), runs, list(metrics), stat_test=stat_test,
                                 make_comparable=True)
    found = report.to_dict()
    pairs = []
    for first, second in combinations([r.name for r in rankings], 2):
        for metric in metrics:
            mean_a = found[first]["scores"][metric]
            mean_b = found[second]["scores"][metric]
            p_value = float(found[first]["comparisons"][second][metric])
            better = first if mean_a > mean_b else second if mean_b > mean_a else None
            pairs.append({"a": first, "b": second, "metric": metric,
                          "p_value": p_value, "better": better})
    return pairs
