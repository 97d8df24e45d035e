"""Eval metrics against numbers worked out by hand, and a perfect reranker scoring 1.0."""

from __future__ import annotations

import math
from types import SimpleNamespace

import pytest
from scipy import stats

from qwen3_rag.evaluation import Ranking, TestSet, evaluate_rankings
from qwen3_rag.evaluation.metrics import paired_tests, percentile_ms, score_rankings
from qwen3_rag.evaluation.pipeline import rerank

# Three queries over passages p1..p8. q1 has two relevant passages (grades 2 and 1), q2 one,
# q3 one that the system never returns.
QRELS = {
    "q1": {"p1": 2, "p3": 1},
    "q2": {"p5": 1},
    "q3": {"p8": 1, "p2": 0},  # p2 judged and not relevant
}
SYSTEM = {
    "q1": ["p2", "p1", "p4", "p3"],  # relevant at ranks 2 and 4
    "q2": ["p6", "p7", "p4", "p2", "p3", "p5"],  # relevant at rank 6
    "q3": ["p2", "p1"],  # nothing relevant
}
SECONDS = {"q1": 0.010, "q2": 0.020, "q3": 0.040}


def _log2(x: float) -> float:
    return math.log(x, 2)


# nDCG@10 with linear gain (trec_eval's, as BEIR reports): DCG = sum(grade / log2(rank + 1)).
DCG_Q1 = 2 / _log2(3) + 1 / _log2(5)  # p1 (2) at rank 2, p3 (1) at rank 4
IDEAL_Q1 = 2 / _log2(2) + 1 / _log2(3)  # p1 first, p3 second
NDCG = {"q1": DCG_Q1 / IDEAL_Q1, "q2": (1 / _log2(7)) / 1.0, "q3": 0.0}
MRR = {"q1": 1 / 2, "q2": 1 / 6, "q3": 0.0}
RECALL_5 = {"q1": 2 / 2, "q2": 0 / 1, "q3": 0.0}  # q2's only relevant passage is 6th
RECALL_10 = {"q1": 1.0, "q2": 1.0, "q3": 0.0}


def _test_set() -> TestSet:
    passages = {f"p{i}": f"passage {i}" for i in range(1, 9)}
    return TestSet("hand", passages, {q: f"query {q}" for q in QRELS}, QRELS)


def test_metrics_match_the_hand_computed_values():
    [scores] = score_rankings(QRELS, [Ranking("system", SYSTEM, SECONDS)])
    for query in QRELS:
        assert scores.per_query[query]["ndcg@10"] == pytest.approx(NDCG[query])
        assert scores.per_query[query]["mrr@10"] == pytest.approx(MRR[query])
        assert scores.per_query[query]["recall@5"] == pytest.approx(RECALL_5[query])
        assert scores.per_query[query]["recall@10"] == pytest.approx(RECALL_10[query])
        assert scores.per_query[query]["recall@100"] == pytest.approx(RECALL_10[query])
    assert scores.means["ndcg@10"] == pytest.approx(sum(NDCG.values()) / 3)
    assert scores.means["mrr@10"] == pytest.approx((1 / 2 + 1 / 6) / 3)
    assert scores.means["recall@5"] == pytest.approx(1 / 3)
    assert scores.means["recall@10"] == pytest.approx(2 / 3)


def test_latency_percentiles_interpolate_linearly():
    [scores] = score_rankings(QRELS, [Ranking("system", SYSTEM, SECONDS)])
    # Sorted 10, 20, 40 ms: the median is 20; p95 sits at 0.95 * 2 = 1.9 positions: 20 + 0.9*20.
    assert scores.latency_ms == pytest.approx({"p50": 20.0, "p95": 38.0})
    assert percentile_ms([0.01, 0.02, 0.03, 0.04, 0.05], 95) == pytest.approx(48.0)


def test_a_passage_returned_twice_counts_at_its_first_rank():
    twice = {**SYSTEM, "q1": ["p2", "p1", "p1", "p4", "p3"]}
    [scores] = score_rankings(QRELS, [Ranking("system", twice, SECONDS)])
    assert scores.per_query["q1"]["ndcg@10"] == pytest.approx(NDCG["q1"])


def test_the_order_returned_is_measured_not_the_ids():
    # Reversed ids would win ties broken by id; positions decide instead.
    order = {"q1": ["p3", "p1"], "q2": ["p5"], "q3": ["p8"]}
    [scores] = score_rankings(QRELS, [Ranking("system", order, SECONDS)])
    expected = (1 / _log2(2) + 2 / _log2(3)) / IDEAL_Q1
    assert scores.per_query["q1"]["ndcg@10"] == pytest.approx(expected)
    assert scores.per_query["q1"]["mrr@10"] == 1.0


def test_a_perfect_reranker_makes_every_stage_two_metric_one():
    class PerfectReranker:
        """Knows the answers: scores each passage its grade (1 or 2 if relevant, else 0)."""

        model = "perfect"

        def rerank(self, query, documents, top_n=None):
            grades = {f"passage {p[1:]}": g for p, g in QRELS[query.removeprefix("query ")].items()}
            order = sorted(range(len(documents)), key=lambda i: -grades.get(documents[i], 0))
            return [SimpleNamespace(index=i) for i in order][:top_n]

    test_set = _test_set()
    # Stage 1 found every relevant passage somewhere in its candidates, in a poor order.
    candidates = {"q1": ["p2", "p4", "p6", "p3", "p7", "p1"],
                  "q2": ["p1", "p2", "p3", "p4", "p6", "p7", "p5"],
                  "q3": ["p1", "p2", "p3", "p4", "p5", "p6", "p7", "p8"]}
    stage_one = Ranking("recall", candidates, SECONDS)
    texts = {q: [test_set.passages[p] for p in ids] for q, ids in candidates.items()}
    stage_two = rerank(stage_one, texts, PerfectReranker(), test_set, "recall + perfect")
    report = evaluate_rankings(test_set, [stage_one, stage_two])
    recall_scores, perfect_scores = report.systems
    assert perfect_scores.means == {m: 1.0 for m in report.metrics}
    assert recall_scores.means["mrr@10"] < 1.0
    # Stage 2's latency includes stage 1's.
    assert all(stage_two.seconds[q] >= SECONDS[q] for q in QRELS)


def test_paired_test_p_values_agree_with_scipy():
    better = {"q1": ["p1", "p3"], "q2": ["p5"], "q3": ["p2", "p8"]}
    pairs = paired_tests(QRELS, [Ranking("base", SYSTEM, SECONDS),
                                 Ranking("better", better, SECONDS)],
                         metrics=["mrr@10"], stat_test="student")
    # Per-query MRR: base 1/2, 1/6, 0; better 1, 1, 1/2 (written out above and here).
    expected = stats.ttest_rel([1 / 2, 1 / 6, 0.0], [1.0, 1.0, 1 / 2]).pvalue
    assert len(pairs) == 1
    assert pairs[0]["p_value"] == pytest.approx(expected, rel=1e-6)
    assert pairs[0]["better"] == "better"


def test_report_marks_only_significant_wins():
    test_set = _test_set()
    base = Ranking("base", SYSTEM, SECONDS)
    same = Ranking("same", SYSTEM, SECONDS)
    report = evaluate_rankings(test_set, [base, same], max_p=0.05)
    assert report.significantly_better("base", "mrr@10") == []
    data = report.to_json()
    assert [s["letter"] for s in data["systems"]] == ["a", "b"]
    assert data["systems"][0]["metrics"]["mrr@10"] == pytest.approx((1 / 2 + 1 / 6) / 3)


def test_systems_must_answer_every_query_and_have_distinct_names():
    with pytest.raises(ValueError, match="no result for queries q3"):
        score_rankings(QRELS, [Ranking("s", {"q1": ["p1"], "q2": ["p5"]}, SECONDS)])
    with pytest.raises(ValueError, match="must differ"):
        score_rankings(QRELS, [Ranking("s", SYSTEM, SECONDS), Ranking("s", SYSTEM, SECONDS)])
    with pytest.raises(ValueError, match="valid: student, fisher, tukey"):
        paired_tests(QRELS, [Ranking("s", SYSTEM, SECONDS)], stat_test="wilcoxon")


def test_the_instruction_reaches_both_models_only_when_given():
    from qwen3_rag.evaluation.pipeline import recall
    from qwen3_rag.retrieval.store import Hit

    calls = []

    class Embedder:
        model = "recording"

        def embed_queries(self, queries, instruction=None):
            calls.append(("embed", instruction))
            return [[1.0, 0.0]]

    class Store:
        name = "stub"

        def count(self):
            return 2

        def query(self, vector, k):
            return [Hit("p1", "passage 1", 0.9), Hit("p3", "passage 3", 0.5)][:k]

    class Reranker:
        def rerank(self, query, documents, **options):
            calls.append(("rerank", options))
            return [SimpleNamespace(index=i) for i in reversed(range(len(documents)))]

    test_set = _test_set()
    first, texts = recall(Store(), Embedder(), test_set, 5, "recall", instruction="Find tea")
    assert first.ids["q1"] == ["p1", "p3"] and texts["q1"] == ["passage 1", "passage 3"]
    second = rerank(first, texts, Reranker(), test_set, "rerank", instruction="Find tea")
    assert second.ids["q1"] == ["p3", "p1"]
    rerank(first, texts, Reranker(), test_set, "plain")
    # Each of the three stages: a warm-up call, then one call per query (three queries).
    assert calls == ([("embed", "Find tea")] * 4
                     + [("rerank", {"top_n": None, "instruction": "Find tea"})] * 4
                     + [("rerank", {"top_n": None})] * 4)


def test_a_significant_win_is_marked_with_the_beaten_systems_letter():
    from rich.console import Console

    queries = [f"q{i}" for i in range(6)]
    qrels = {q: {f"{q}-answer": 1} for q in queries}
    found_second = {"q1", "q3"}  # the base system finds the answer 2nd here, else not at all
    base = {q: ["other", f"{q}-answer"] if q in found_second else ["other"] for q in queries}
    best = {q: [f"{q}-answer"] for q in queries}
    seconds = dict.fromkeys(queries, 0.01)
    passages = {p: p for q in queries for p in (f"{q}-answer", "other")}
    test_set = TestSet("win", passages, {q: q for q in queries}, qrels)
    report = evaluate_rankings(test_set, [Ranking("base", base, seconds),
                                          Ranking("best", best, seconds)],
                               metrics=["mrr@10"], max_p=0.05)
    # Per-query MRR: base 0, 1/2, 0, 1/2, 0, 0; best 1 everywhere.
    expected_p = stats.ttest_rel([0, 0.5, 0, 0.5, 0, 0], [1.0] * 6).pvalue
    assert expected_p < 0.05
    assert report.pairs[0]["p_value"] == pytest.approx(expected_p, rel=1e-6)
    assert report.significantly_better("best", "mrr@10") == ["base"]
    assert report.to_json()["systems"][1]["significantly_better_than"] == {"mrr@10": ["a"]}
    console = Console(width=100, record=True)
    console.print(report.table())
    text = console.export_text()
    assert "1.000ᵃ" in text and "0.167 " in text
