"""Write the benchmark report: ``benchmarks.md`` with its tables and a matplotlib bar chart."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench.analysis import Row

__all__ = ["write_chart", "write_markdown"]

_GIB = 2**30
#: Rows that exist only as ablations go in the techniques section, not the main table.
_ABLATION_ONLY = ("card-last-position", "transformers-no-prefix-reuse",
                  "transformers-fixed-batches", "vllm-no-prefix-cache", "vllm-reserved-core",
                  "vllm-eager")
_CHART_WORKLOADS = (("short", "rerank short"), ("long", "rerank long"),
                    ("embed", "embed"), ("latency", "latency (1/x)"))


def _number(value: float | None, digits: int = 1, suffix: str = "") -> str:
    return "-" if value is None else f"{value:.{digits}f}{suffix}"


def _speed(row: Row, workload: str) -> str:
    speed = row.docs_per_second.get(workload)
    ratio = row.ratio.get(workload)
    if speed is None:
        return "-"
    return f"{speed:.2f} ({ratio:.2f}x)" if ratio is not None else f"{speed:.2f}"


def _agreement(row: Row, workloads: Sequence[str]) -> str:
    diffs = [row.max_abs_diff[w] for w in workloads if w in row.max_abs_diff]
    if not diffs:
        return "-"
    verdicts = {row.top10[w] for w in workloads if w in row.top10}
    verdict = "NO" if "different" in verdicts else ("ties" if "ties" in verdicts else "yes")
    if verdict == "ties":
        gap = max(row.swap_gap.get(w, 0.0) for w in workloads)
        verdict = f"ties (gap <= {gap:.1e})"
    return f"{max(diffs):.1e} / {verdict}"


def _pair(values: dict[str, Any], scale: float = 1.0, digits: int = 1) -> str:
    parts = [_number(values.get(kind) / scale if kind in values else None, digits)
             for kind in ("reranker", "embedding")]
    return " / ".join(parts)


def _main_table(rows: Sequence[Row]) -> list[str]:
    lines = [
        "| system | rerank short docs/s | rerank long docs/s | embed docs/s | latency 20 cand. ms "
        "| start-up s (rerank / embed) | peak RSS GiB (rerank / embed) "
        "| rerank max abs diff / same top-10 | embed max abs diff / same top-10 |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        if row.errors and not row.docs_per_second and row.latency_ms is None:
            lines.append(f"| {row.label} | failed (see below) |" + " |" * 7)
            continue
        latency = _number(row.latency_ms, 0)
        if row.ratio.get("latency") is not None:
            latency += f" ({row.ratio['latency']:.2f}x)"
        lines.append(
            f"| {row.label} | {_speed(row, 'short')} | {_speed(row, 'long')} "
            f"| {_speed(row, 'embed')} | {latency} | {_pair(row.startup_seconds)} "
            f"| {_pair(row.peak_rss_bytes, _GIB, 2)} "
            f"| {_agreement(row, ('short', 'long', 'latency'))} | {_agreement(row, ('embed',))} |"
        )
    return lines


def _failures(rows: Sequence[Row]) -> list[str]:
    lines = []
    for row in rows:
        for kind, text in row.errors.items():
            last = text.strip().splitlines()[-1] if text.strip() else "unknown error"
            lines.append(f"- {row.label}, {kind}: failed: `{last[:200]}`")
    return [*lines, ""] if lines else []


def _ablation_table(rows: Sequence[Row], ablations: Sequence[tuple[str, str, str]],
                    tokenization: dict[str, float] | None) -> list[str]:
    by_name = {row.name: row for row in rows}
    lines = [
        "| technique | with | without | speed-up from the technique (short / long / embed) "
        "| start-up s with / without |",
        "|---|---|---|---|---|",
    ]
    for technique, with_name, without_name in ablations:
        with_row, without_row = by_name.get(with_name), by_name.get(without_name)
        if with_row is None or without_row is None:
            continue
        gains = []
        for workload in ("short", "long", "embed"):
            a = with_row.docs_per_second.get(workload)
            b = without_row.docs_per_second.get(workload)
            gains.append("-" if a is None or b is None else f"{a / b:.2f}x")
        startups = (f"{_pair(with_row.startup_seconds)} vs {_pair(without_row.startup_seconds)}")
        lines.append(f"| {technique} | {with_row.label} | {without_row.label} "
                     f"| {' / '.join(gains)} | {startups} |")
    if tokenization:
        lines.append(
            "| fixed prompt parts tokenised once (ours) vs whole prompt per candidate "
            f"| {tokenization['ours_ms']:.2f} ms | {tokenization['whole_prompt_ms']:.2f} ms "
            f"| {tokenization['whole_prompt_ms'] / tokenization['ours_ms']:.2f}x "
            "(tokenising the 64 short candidates) | - |"
        )
    return lines


def _ablation_rows_table(rows: Sequence[Row]) -> list[str]:
    ablation_rows = [r for r in rows if r.name.startswith(_ABLATION_ONLY)]
    return [*_main_table(ablation_rows), ""] if ablation_rows else []


def _target_table(checks: Sequence[tuple[str, str, bool | None]]) -> list[str]:
    lines = ["| target | measured | met |", "|---|---|---|"]
    for target, measured, met in checks:
        verdict = "not measured" if met is None else ("yes" if met else "**no**")
        lines.append(f"| {target} | {measured} | {verdict} |")
    return lines


def write_markdown(path: Path, *, title_note: str, machine: dict[str, Any],
                   settings: list[str], rows: Sequence[Row], checks, ablations,
                   tokenization: dict[str, float] | None, method: str,
                   chart_name: str | None) -> None:
    """Write the whole report; every section is regenerated on each run."""
    packages = ", ".join(f"{k} {v}" for k, v in machine["packages"].items())
    lines = ["# Benchmarks", "", title_note, "", "## Machine", "",
             f"- CPU: {machine['cpu']}, {machine['cores']} cores, "
             f"{machine['memory_gib']} GiB RAM, native bf16: {machine['cpu_bf16']}",
             f"- GPU: {machine['gpu'] or 'none'}",
             f"- Python {machine['python']} on {machine['system']}; {packages}",
             "", "## Settings", "", *[f"- {s}" for s in settings], "",
             "## Results", "",
             "Docs/s with the ratio to (a) in brackets; latency is the median of one call "
             "per query. Agreement is with (a): the largest absolute score difference, and "
             "whether the ordered top-10 is the same (`ties`: it differs only by swapping "
             "documents whose (a) scores are within the precision's tolerance; the gap is the "
             "largest (a) score difference between two documents the orders swap).", "",
             *_main_table([r for r in rows if not r.name.startswith(_ABLATION_ONLY)]), "",
             *_failures(rows)]
    if chart_name:
        lines += [f"![speed relative to the model card code]({chart_name})", ""]
    lines += ["## Targets (issue 7)", "", *_target_table(checks), "",
              "## Techniques, each measured on its own", "",
              "Each row switches one technique off and keeps everything else as in the "
              "default it is compared with, in the same run and on the same inputs.", "",
              *_ablation_table(rows, ablations, tokenization), "",
              *_ablation_rows_table(rows), method.strip(), ""]
    path.write_text("\n".join(lines), encoding="utf-8")



def write_chart(path: Path, rows: Sequence[Row], title: str) -> None:
    """Grouped bars: each main system's speed relative to (a), per workload."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    shown = [r for r in rows if r.ratio and not r.name.startswith(_ABLATION_ONLY)]
    figure, axes = plt.subplots(figsize=(10, 4.8))
    width = 0.8 / max(len(shown), 1)
    for index, row in enumerate(shown):
        xs = [i + (index - (len(shown) - 1) / 2) * width for i in range(len(_CHART_WORKLOADS))]
        heights = [row.ratio.get(key, 0.0) for key, _ in _CHART_WORKLOADS]
        bars = axes.bar(xs, heights, width, label=row.label)
        axes.bar_label(bars, labels=[f"{h:.1f}" if h else "" for h in heights], fontsize=7)
    axes.axhline(1.0, color="black", linewidth=0.8)
    axes.set_xticks(range(len(_CHART_WORKLOADS)), [name for _, name in _CHART_WORKLOADS])
    axes.set_ylabel("speed relative to (a), higher is better")
    axes.set_title(title, fontsize=10)
    axes.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
