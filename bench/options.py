"""What the benchmark commands share: where reports go, how systems run, the command line."""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

__all__ = ["add_report_options", "command_line"]


def add_report_options(parser: argparse.ArgumentParser, report_files: str, json_name: str, *,
                       in_process_default: str = "") -> None:
    """``--output``, ``--models-dir``, ``--render``, ``--note``, ``--in-process``, ``--timeout``.

    Args:
        parser: The benchmark's parser.
        report_files: The files ``--output`` receives, for its help.
        json_name: The measurements file ``--render`` reads, for its help.
        in_process_default: When ``--in-process`` is on without being asked, for its help.
    """
    parser.add_argument("--output", type=Path, default=None,
                        help=f"directory for {report_files} (default: bench-results in "
                             "qwen3-rag's cache directory, never the source tree; `--output "
                             "docs` updates the committed report)")
    parser.add_argument("--models-dir", type=Path, default=None,
                        help="where the random-weight models are built and reused "
                             "(default ~/.cache/qwen3-rag/bench)")
    parser.add_argument("--render", type=Path, default=None, metavar="JSON",
                        help=f"measure nothing: rewrite the report from a {json_name}")
    parser.add_argument("--note", default="", help="a paragraph under the report's title")
    default = f" ({in_process_default})" if in_process_default else ""
    parser.add_argument("--in-process", action="store_true",
                        help=f"measure every system in this process{default}: faster, but "
                             "peak memory then accumulates across systems")
    parser.add_argument("--timeout", type=float, default=3600,
                        help="seconds one system may take before it counts as failed")


def command_line(module: str) -> str:
    """This run's command as a user would type it (``python -m bench.run --quick``)."""
    script = module.rsplit(".", 1)[-1] + ".py"
    program = f"python -m {module}" if sys.argv[0].endswith((script, "-m")) \
        else Path(sys.argv[0]).name
    return f"{program} {shlex.join(sys.argv[1:])}".strip()
