"""The progress bar of ``qwen3-rag index``: records done, docs/s and time left, in 80 columns."""

from __future__ import annotations

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TextColumn,
    TimeRemainingColumn,
)
from rich.text import Text

__all__ = ["DocsPerSecondColumn", "indexing_progress"]


class DocsPerSecondColumn(ProgressColumn):
    """Records per second over the last few updates (rich's own estimate)."""

    def render(self, task: Task) -> Text:
        """The speed, or a dash before there is one."""
        speed = task.finished_speed or task.speed
        if speed is None:
            return Text("– docs/s", style="progress.data.speed")
        return Text(f"{speed:,.0f} docs/s" if speed >= 10 else f"{speed:.1f} docs/s",
                    style="progress.data.speed")


def indexing_progress(console: Console) -> Progress:
    """A progress bar over records (use as a context manager; add one task with a total)."""
    return Progress(TextColumn("indexing"), BarColumn(bar_width=None), MofNCompleteColumn(),
                    DocsPerSecondColumn(), TextColumn("ETA"), TimeRemainingColumn(),
                    console=console, expand=False)
