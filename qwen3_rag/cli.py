"""Entry point of the ``qwen3-rag`` command."""

from __future__ import annotations

import argparse
import sys

from qwen3_rag import demo

__all__ = ["main"]


def build_parser() -> argparse.ArgumentParser:
    """The command's argument parser, one sub-command per module."""
    parser = argparse.ArgumentParser(
        prog="qwen3-rag", description="Qwen3 embedding + reranking for RAG"
    )
    commands = parser.add_subparsers(dest="command", required=True)
    demo.add_arguments(commands.add_parser("demo", help="two-stage search over sample passages"))
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the command; returns the process exit code."""
    args = build_parser().parse_args(argv)
    handlers = {"demo": demo.run}
    return handlers[args.command](args)


if __name__ == "__main__":
    sys.exit(main())
