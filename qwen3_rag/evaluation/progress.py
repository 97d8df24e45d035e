"""Progress bars of the evaluation, in the style of ``qwen3-rag index``."""

from __future__ import annotations

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

__all__ = ["query_progress"]


def query_progress(console: Console) -> Progress:
    """A progress bar per task, named by the task's description (use as a context manager)."""
    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                    TimeElapsedColumn(), console=console)
