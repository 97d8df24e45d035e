"""An evaluation's results: metrics per system, paired tests, as a table, JSON and a PNG chart."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from qwen3_rag.evaluation.metrics import SystemScores

__all__ = ["EvaluationReport", "METRIC_LABELS"]

#: How each ranx metric is shown.
METRIC_LABELS = {"ndcg@10": "nDCG@10", "mrr@10": "MRR@10", "recall@5": "R@5",
                 "recall@10": "R@10", "recall@100": "R@100"}
# Unicode has a raised form of every small letter but q.
_RAISABLE = "abcdefghijklmnoprstuvwxyz"
_SUPERSCRIPT = str.maketrans(_RAISABLE, "ᵃᵇᶜᵈᵉᶠᵍʰⁱʲᵏˡᵐⁿᵒᵖʳˢᵗᵘᵛʷˣʸᶻ")
_TEST_NAMES = {"student": "paired Student's t-test", "fisher": "Fisher's randomization test",
               "tukey": "Tukey's HSD test"}
_RANDOM_WARNING = "tiny random-weight models: these numbers mean nothing"


def _letter(position: int) -> str:
    """a, b, ..., z, aa, ab, ...: short names for the systems in tables and charts."""
    letters = ""
    position += 1
    while position:
        position, remainder = divmod(position - 1, 26)
        letters = chr(ord("a") + remainder) + letters
    return letters


def _marker(letters: Sequence[str]) -> str:
    """Raised letters after a number (``ᵃᶜ``), or ``[a,q]`` where one has no raised form."""
    if all(len(letter) == 1 and letter in _RAISABLE for letter in letters):
        return "".join(letters).translate(_SUPERSCRIPT)
    return f"[{','.join(letters)}]"


@dataclass(frozen=True)
class EvaluationReport:
    """Every system's metrics on one test set, and how they compare.

    Attributes:
        test_set: The test set's name.
        passages: How many passages it has.
        queries: How many queries were evaluated.
        systems: Each system's scores, in the order given.
        pairs: Paired tests (see :func:`~qwen3_rag.evaluation.metrics.paired_tests`).
        stat_test: The paired test used.
        max_p: A difference counts as significant below this p-value.
        random_weights: The models were tiny random ones (the numbers mean nothing).
        notes: Extra facts for the JSON report (k, backend, collections).
    """

    test_set: str
    passages: int
    queries: int
    systems: Sequence[SystemScores]
    pairs: Sequence[dict[str, Any]]
    stat_test: str = "student"
    max_p: float = 0.05
    random_weights: bool = False
    notes: dict[str, Any] = field(default_factory=dict)

    @property
    def metrics(self) -> list[str]:
        """The metric names measured, in report order."""
        return list(self.systems[0].means) if self.systems else []

    def letters(self) -> dict[str, str]:
        """System name to its short letter."""
        return {system.name: _letter(i) for i, system in enumerate(self.systems)}

    def significantly_better(self, name: str, metric: str) -> list[str]:
        """The systems that ``name`` beats on ``metric`` with p below ``max_p``."""
        beaten = []
        for pair in self.pairs:
            if pair["metric"] == metric and pair["better"] == name and pair["p_value"] < self.max_p:
                beaten.append(pair["b"] if pair["a"] == name else pair["a"])
        return beaten

    def to_json(self) -> dict[str, Any]:
        """A plain-data view: settings, each system's means, latency and per-query scores."""
        letters = self.letters()
        return {
            "test_set": self.test_set, "passages": self.passages, "queries": self.queries,
            "random_weights": self.random_weights, "stat_test": self.stat_test,
            "max_p": self.max_p, **self.notes,
            "systems": [
                {"letter": letters[s.name], "name": s.name, **s.details, "metrics": s.means,
                 "latency_ms": s.latency_ms,
                 "significantly_better_than": {
                     m: [letters[o] for o in self.significantly_better(s.name, m)]
                     for m in s.means},
                 "per_query": s.per_query}
                for s in self.systems
            ],
            "paired_tests": [dict(pair) for pair in self.pairs],
        }

    def table(self) -> RenderableType:
        """The metrics table for a terminal, with a legend of the significance markers."""
        letters = self.letters()
        table = Table(title=Text(f"{self.test_set}: {self.queries} queries, {self.passages} "
                                 f"passages"), title_justify="left")
        table.add_column("", no_wrap=True)
        table.add_column("system", overflow="fold")
        for metric in self.metrics:
            table.add_column(METRIC_LABELS.get(metric, metric), justify="right", no_wrap=True)
        table.add_column("p50", justify="right", no_wrap=True)
        table.add_column("p95", justify="right", no_wrap=True)
        for system in self.systems:
            cells = []
            for metric in self.metrics:
                beaten = sorted(letters[o] for o in self.significantly_better(system.name, metric))
                marker = _marker(beaten) if beaten else ""
                cells.append(f"{system.means[metric]:.3f}{marker}")
            table.add_row(letters[system.name], Text(system.name), *cells,
                          f"{system.latency_ms['p50']:.0f}", f"{system.latency_ms['p95']:.0f}")
        legend = "p50, p95: milliseconds per query, to the end of that stage."
        if len(self.systems) > 1:
            legend += (f" Raised letters: better than that system "
                       f"({_TEST_NAMES.get(self.stat_test, self.stat_test)}, "
                       f"p < {self.max_p:g}, {self.queries} queries).")
        parts: list[RenderableType] = [table, Text(legend, style="dim")]
        if self.random_weights:
            parts.append(Text(f"WARNING: {_RANDOM_WARNING}.", style="bold red"))
        return Group(*parts)

    def save_chart(self, path: str | Path) -> Path:
        """Write a PNG: metrics per system (bars) beside latency p50/p95 per system.

        Returns:
            The path written.
        """
        import matplotlib

        matplotlib.use("Agg")  # files only, never a window
        import matplotlib.pyplot as plt

        letters = self.letters()
        metrics = self.metrics
        figure, (quality, latency) = plt.subplots(
            1, 2, figsize=(12, 4.8), gridspec_kw={"width_ratios": [3, 1.3]})
        width = 0.8 / max(len(self.systems), 1)
        for i, system in enumerate(self.systems):
            positions = [m + (i - (len(self.systems) - 1) / 2) * width
                         for m in range(len(metrics))]
            quality.bar(positions, [system.means[m] for m in metrics], width,
                        label=f"{letters[system.name]}: {system.name}")
        quality.set_xticks(range(len(metrics)), [METRIC_LABELS.get(m, m) for m in metrics])
        quality.set_ylim(0, 1.05)
        quality.set_ylabel("mean over queries")
        quality.set_title(f"{self.test_set}: {self.queries} queries, {self.passages} passages")
        quality.legend(loc="upper center", bbox_to_anchor=(0.5, -0.1), fontsize="small",
                       ncol=1 if len(self.systems) < 4 else 2, frameon=False)
        names = [letters[s.name] for s in self.systems]
        rows = range(len(self.systems))
        # The y axis is inverted below (system a on top), so p50 sits above p95.
        # Greys: the colours of the left panel stand for systems, not percentiles.
        latency.barh([r - 0.2 for r in rows], [s.latency_ms["p50"] for s in self.systems],
                     0.4, label="p50", color="0.35")
        latency.barh([r + 0.2 for r in rows], [s.latency_ms["p95"] for s in self.systems],
                     0.4, label="p95", color="0.7")
        latency.set_yticks(list(rows), names)
        latency.invert_yaxis()
        latency.set_xlabel("ms per query, to the end of the stage")
        latency.set_title("latency")
        latency.legend(fontsize="small")
        if self.random_weights:
            figure.suptitle(_RANDOM_WARNING.upper(), color="red", fontweight="bold")
        figure.tight_layout()
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        figure.savefig(target, dpi=110, bbox_inches="tight")
        plt.close(figure)
        return target
