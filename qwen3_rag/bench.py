"""``qwen3-rag bench``: the speed benchmark of ``bench/``, as a sub-command.

The benchmark is a script package of the source tree, not part of the installed library, so
this sub-command works where the package was installed from a checkout (``pip install -e .``):
it finds ``bench/`` next to ``qwen3_rag/``. Elsewhere it says how to get it.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from pathlib import Path
from types import ModuleType

__all__ = ["add_arguments", "run"]

_CHECKOUT = Path(__file__).resolve().parent.parent
_MISSING = (
    "the benchmark lives in the source tree's bench/ directory, which this installation does "
    "not have; clone the repository, `pip install -e .` and run `qwen3-rag bench` (or "
    "`python -m bench.run`) there"
)


def _bench_runner() -> ModuleType | None:
    """``bench.run`` from the checkout this package was installed from, or None."""
    if not (_CHECKOUT / "bench" / "run.py").is_file():
        return None
    if str(_CHECKOUT) not in sys.path:
        sys.path.append(str(_CHECKOUT))
    return importlib.import_module("bench.run")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The benchmark's own options, when the benchmark is there to run."""
    runner = _bench_runner()
    if runner is not None:
        runner.add_arguments(parser)


def run(args: argparse.Namespace) -> int:
    """Run the benchmark; returns 1 when a measured system failed."""
    from qwen3_rag.loading import AppError

    runner = _bench_runner()
    if runner is None:
        raise AppError(_MISSING)
    return runner.run(args)
