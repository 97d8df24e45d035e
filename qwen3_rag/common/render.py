"""Terminal output of search results (rich tables), shared by ``demo`` and ``search``."""

from __future__ import annotations

import os

from rich.console import Console, Group, RenderableType
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from qwen3_rag.retrieval.two_stage import TwoStageResult

__all__ = [
    "embedding_progress",
    "PIPED_WIDTH",
    "make_console",
    "results_table",
    "snippet",
    "source_of",
    "stages",
    "stages_side_by_side",
]

#: Below this many columns the two stages go one under the other: side by side, each passage
#: column would be too narrow to read.
SIDE_BY_SIDE_WIDTH = 140


def snippet(text: str, limit: int = 160) -> str:
    """The text on one line (whitespace runs become one space), cut to ``limit`` characters."""
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[:limit - 1] + "…"


def source_of(metadata: dict) -> str:
    """Where a passage came from: file and chunk for indexed files, topic for the sample."""
    if "source" in metadata:
        chunk = metadata.get("chunk")
        return f"{metadata['source']}#{chunk}" if chunk is not None else str(metadata["source"])
    return str(metadata.get("topic", ""))


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.0f} ms"


def stages(result: TwoStageResult, width: int) -> RenderableType:
    """Both stages for a terminal ``width`` columns wide.

    Side by side when it is wide enough, else one under the other.
    """
    if width >= SIDE_BY_SIDE_WIDTH:
        return stages_side_by_side(result)
    recall, rerank = _stage_tables(result)
    return Group(recall, rerank)


def stages_side_by_side(result: TwoStageResult) -> Table:
    """Stage 1 (cosine) and stage 2 (reranker) next to each other, with their timings."""
    recall, rerank = _stage_tables(result)
    both = Table.grid(expand=True, padding=(0, 2))
    both.add_column(ratio=1)
    both.add_column(ratio=1)
    both.add_row(recall, rerank)
    return both


def _stage_tables(result: TwoStageResult) -> tuple[Table, Table]:
    recall = Table(title=f"Stage 1 · embedding recall · {_ms(result.recall_seconds)}",
                   expand=True, title_justify="left")
    recall.add_column("#", justify="right", no_wrap=True)
    recall.add_column("cosine", justify="right", no_wrap=True)
    recall.add_column("passage", ratio=1, no_wrap=True, overflow="ellipsis")
    for rank, hit in enumerate(result.candidates, 1):
        recall.add_row(str(rank), f"{hit.cosine:.3f}", Text(snippet(hit.text)))

    rerank = Table(title=f"Stage 2 · Qwen3 reranker · {_ms(result.rerank_seconds)}",
                   expand=True, title_justify="left")
    rerank.add_column("#", justify="right", no_wrap=True)
    rerank.add_column("score", justify="right", no_wrap=True)
    rerank.add_column("was", justify="right", no_wrap=True)
    rerank.add_column("passage", ratio=1, no_wrap=True, overflow="ellipsis")
    for rank, item in enumerate(result.reranked, 1):
        rerank.add_row(str(rank), f"{item.score:.3f}", f"#{item.recall_rank}",
                       Text(snippet(item.hit.text)))
    return recall, rerank


def results_table(result: TwoStageResult) -> Table:
    """The reranked results: rank, rerank score, cosine, source and a snippet."""
    table = Table(title=Text(f"{result.query}  (recall {_ms(result.recall_seconds)}, "
                             f"rerank {_ms(result.rerank_seconds)})"),
                  title_justify="left", expand=True)
    table.add_column("rank", justify="right", no_wrap=True)
    table.add_column("rerank", justify="right", no_wrap=True)
    table.add_column("cosine", justify="right", no_wrap=True)
    table.add_column("source", overflow="fold")
    table.add_column("snippet", ratio=1)
    for rank, item in enumerate(result.reranked, 1):
        cosine = item.hit.cosine  # NaN: found by BM25 alone
        table.add_row(str(rank), f"{item.score:.4f}", "-" if cosine != cosine else f"{cosine:.4f}",
                      Text(source_of(item.hit.metadata)), Text(snippet(item.hit.text)))
    return table


#: Width of output that goes to a file or a pipe when ``COLUMNS`` does not say: wider than
#: rich's 80, so a saved table keeps readable passage columns.
PIPED_WIDTH = 120


def make_console(*, stderr: bool = False) -> Console:
    """A console as wide as ``COLUMNS`` when set, else the terminal, else 120 columns.

    Rich itself reads ``COLUMNS`` and the terminal's size; only output to a file or pipe with
    no ``COLUMNS`` gets :data:`PIPED_WIDTH` instead of rich's 80.
    """
    console = Console(stderr=stderr)
    if not console.is_terminal and not os.environ.get("COLUMNS", "").isdigit():
        console = Console(stderr=stderr, width=PIPED_WIDTH)
    return console


def embedding_progress(console: Console) -> Progress:
    """A progress bar for embedding passages (use as a context manager)."""
    return Progress(TextColumn("embedding passages"), BarColumn(), MofNCompleteColumn(),
                    TimeElapsedColumn(), console=console)
