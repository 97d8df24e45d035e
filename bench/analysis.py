"""Turn the workers' raw results into report rows: speeds, ratios to (a), agreement, targets."""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = ["Row", "TARGETS", "agreement", "make_rows", "target_checks"]

#: The measured workloads; latency is reported per call, the others in docs/s.
WORKLOADS = ("short", "long", "embed", "latency")

#: (workload, minimum ratio to (a)) the defaults must reach on CPU.
TARGETS = (("short", 5.0), ("long", 3.5), ("embed", 2.2))
_TRANSFORMERS_SHORT_TARGET = 2.0
_TOP = 10


@dataclass
class Row:
    """One system's numbers, ready to print."""

    name: str
    label: str
    docs_per_second: dict[str, float] = field(default_factory=dict)
    ratio: dict[str, float] = field(default_factory=dict)
    latency_ms: float | None = None
    tokens_per_second: dict[str, float] = field(default_factory=dict)
    startup_seconds: dict[str, float] = field(default_factory=dict)
    peak_rss_bytes: dict[str, int] = field(default_factory=dict)
    max_abs_diff: dict[str, float] = field(default_factory=dict)
    top10: dict[str, str] = field(default_factory=dict)
    swap_gap: dict[str, float] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)


def _top(scores: np.ndarray) -> np.ndarray:
    return np.argsort(-scores, kind="stable")[:_TOP]


def agreement(reference: list[list[float]], scores: list[list[float]],
              tolerance: float) -> tuple[float, str, float]:
    """Max |score difference| over all lists, how the top-10s compare, and the closest call.

    The comparison is ``same`` when every list's ordered top-10 is (a)'s, ``ties`` when the
    only differences swap documents whose (a) scores are within ``tolerance`` of each other (a
    random-weight model often gives near-equal scores, which any rounding can reorder), and
    ``different`` otherwise. The third value is the largest (a) score gap between documents the
    two orders put at the same rank (0 when the orders agree): how near the swapped ties were.
    """
    worst, verdict, widest_swap = 0.0, "same", 0.0
    for ref, got in zip(reference, scores):
        ref, got = np.asarray(ref, dtype=np.float64), np.asarray(got, dtype=np.float64)
        worst = max(worst, float(np.max(np.abs(ref - got))))
        ref_top, got_top = _top(ref), _top(got)
        if np.array_equal(ref_top, got_top):
            continue
        # Rank by rank, the reference score of the document placed there must match.
        gap = float(np.max(np.abs(ref[ref_top] - ref[got_top])))
        widest_swap = max(widest_swap, gap)
        if gap <= tolerance:
            verdict = "ties" if verdict == "same" else verdict
        else:
            verdict = "different"
    return worst, verdict, widest_swap


def _score_lists(result: dict[str, Any], workload: str) -> list[list[float]]:
    scores = result[workload]["scores"]
    return scores if workload == "latency" else [scores]


def make_rows(
    raw: dict[str, dict[str, Any]],
    labels: dict[str, str],
    counts: dict[str, int],
    tokens: dict[str, int],
    tolerances: dict[str, float],
    baseline: str = "card",
) -> list[Row]:
    """Build one :class:`Row` per system from ``raw[system][kind]`` worker results.

    Args:
        raw: Worker results (or ``{"error": text}``) per system and model kind.
        labels: Report label of each system.
        counts: Documents per call of each workload.
        tokens: Prompt tokens per call of each workload.
        tolerances: Per system, the score difference to (a) its precision allows.
        baseline: The system ratios and agreement refer to.
    """
    merged = {name: _merge(kinds) for name, kinds in raw.items()}
    reference = merged.get(baseline, {})
    rows = []
    for name, kinds in raw.items():
        row = Row(name, labels[name])
        for kind, result in kinds.items():
            if "error" in result:
                row.errors[kind] = result["error"]
                continue
            row.startup_seconds[kind] = result["startup_seconds"]
            row.peak_rss_bytes[kind] = result["peak_rss_bytes"]
        results = merged[name]
        for workload in WORKLOADS:
            if workload not in results:
                continue
            seconds = _seconds(results, workload)
            row.tokens_per_second[workload] = tokens[workload] / seconds
            if workload == "latency":
                row.latency_ms = seconds * 1000
            else:
                row.docs_per_second[workload] = counts[workload] / seconds
            if workload in reference:
                row.ratio[workload] = _seconds(reference, workload) / seconds
                row.max_abs_diff[workload], row.top10[workload], row.swap_gap[workload] = agreement(
                    _score_lists(reference, workload), _score_lists(results, workload),
                    tolerances[name],
                )
        rows.append(row)
    return rows


def _merge(kinds: dict[str, dict[str, Any]]) -> dict[str, Any]:
    merged: dict[str, Any] = {}
    for result in kinds.values():
        merged.update(result.get("results", {}))
    return merged


def _seconds(results: dict[str, Any], workload: str) -> float:
    seconds = results[workload]["seconds"]
    return statistics.median(seconds) if isinstance(seconds, list) else seconds


def target_checks(
    rows: list[Row], default_system: str, tolerance: float
) -> list[tuple[str, str, bool | None]]:
    """(target, measured value, met) for each of the issue's targets; None when not measured."""
    by_name = {row.name: row for row in rows}
    checks: list[tuple[str, str, bool | None]] = []
    default = by_name.get(default_system)
    for workload, minimum in TARGETS:
        ratio = default.ratio.get(workload) if default else None
        checks.append((f"defaults ({default_system}): {workload} >= {minimum}x (a)",
                       "-" if ratio is None else f"{ratio:.2f}x",
                       None if ratio is None else ratio >= minimum))
    if default:
        diffs = [default.max_abs_diff[w] for w in default.max_abs_diff if w != "embed"]
        verdicts = set(default.top10.values())
        worst = max(diffs) if diffs else None
        checks.append((f"defaults: every rerank score within {tolerance:g} of (a)",
                       "-" if worst is None else f"{worst:.2e}",
                       None if worst is None else worst <= tolerance))
        checks.append(("defaults: same top-10 as (a) (up to near-ties) in every workload",
                       ", ".join(sorted(verdicts)) or "-",
                       None if not verdicts else "different" not in verdicts))
    transformers = by_name.get("transformers")
    ratio = transformers.ratio.get("short") if transformers else None
    checks.append((f"transformers: short >= {_TRANSFORMERS_SHORT_TARGET}x (a)",
                   "-" if ratio is None else f"{ratio:.2f}x",
                   None if ratio is None else ratio >= _TRANSFORMERS_SHORT_TARGET))
    card = by_name.get("card")
    ours = transformers.peak_rss_bytes.get("reranker") if transformers else None
    theirs = card.peak_rss_bytes.get("reranker") if card else None
    checks.append(("transformers reranker peak RSS <= (a)'s",
                   "-" if ours is None or theirs is None
                   else f"{ours / 2**30:.2f} vs {theirs / 2**30:.2f} GiB",
                   None if ours is None or theirs is None else ours <= theirs))
    return checks
