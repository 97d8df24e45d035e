"""Entry point of the ``qwen3-rag`` command; ``search`` and ``doctor`` live here too."""

from __future__ import annotations

import argparse
import importlib
import importlib.metadata
import sys

from qwen3_rag.common import quiet

__all__ = ["build_parser", "main", "parse_arguments"]

#: (sub-command, module, help). A module has ``add_arguments(parser)`` and ``run(args)``, and
#: keeps its heavy imports (torch, vLLM, gradio) inside the functions that need them.
_COMMANDS = (
    ("demo", "qwen3_rag.demo.command", "two-stage search over a bilingual sample corpus"),
    ("index", "qwen3_rag.indexing.command", "embed a corpus (JSONL, BEIR, CSV, Parquet, .txt/.md) "
     "into Chroma"),
    ("search", "qwen3_rag.cli.search", "search a collection: recall, then rerank"),
    ("doctor", "qwen3_rag.cli.doctor",
     "report the environment and check every backend end to end"),
    ("ui", "qwen3_rag.ui.app", "web page: rerank passages, search a collection (extra `ui`)"),
    ("serve", "qwen3_rag.server.command", "start a vLLM server for one model"),
    ("eval", "qwen3_rag.evaluation.command", "retrieval quality of both stages on a test set"),
    ("models", "qwen3_rag.cli.models",
     "build tiny random-weight models offline, for running the examples"),
)


class _DefaultsShown(argparse.HelpFormatter):
    """Shows each option's default, unless its help already says it or there is none."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        default = action.default
        if ("default" in text or default in (None, False, argparse.SUPPRESS, [])
                or action.option_strings == [] or action.nargs == 0):
            return text
        return f"{text} (default: %(default)s)"


def _version() -> str:
    try:
        return importlib.metadata.version("qwen3-rag")
    except importlib.metadata.PackageNotFoundError:
        return "unknown (not installed)"


def build_parser() -> argparse.ArgumentParser:
    """The command's argument parser, one sub-command per module."""
    parser = argparse.ArgumentParser(
        prog="qwen3-rag", description="Qwen3 embedding + reranking for RAG"
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    parser.add_argument("-v", "--verbose", action="store_true",
                        help="show everything the libraries print (vLLM, transformers, ...); "
                             f"or set {quiet.LEVEL_VARIABLE}=DEBUG|INFO|WARNING|ERROR")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, module_name, text in _COMMANDS:
        module = importlib.import_module(module_name)
        sub = commands.add_parser(name, help=text, description=text,
                                  formatter_class=_DefaultsShown)
        module.add_arguments(sub)
        # Also after the sub-command (`qwen3-rag demo -v`), without overriding one given before.
        sub.add_argument("-v", "--verbose", action="store_true", default=argparse.SUPPRESS,
                         help="show everything the libraries print")
        sub.set_defaults(handler=module.run)
    return parser


def parse_arguments(argv: list[str] | None = None) -> argparse.Namespace:
    """Parse the command line; everything after ``--`` goes to ``vllm_args`` (``serve``).

    Split off before argparse, which cannot collect option-like words after ``--`` into a
    positional once a sub-command's own positionals are taken.
    """
    words = list(sys.argv[1:] if argv is None else argv)
    passthrough: list[str] = []
    if "--" in words:
        cut = words.index("--")
        words, passthrough = words[:cut], words[cut + 1:]
    parser = build_parser()
    args = parser.parse_args(words)
    if passthrough:
        if not hasattr(args, "vllm_args"):
            parser.error(f"`qwen3-rag {args.command}` takes nothing after `--` (only `serve` "
                         "passes such options on, to vLLM)")
        args.vllm_args = passthrough
    return args


def main(argv: list[str] | None = None) -> int:
    """Run the command; returns the process exit code."""
    from qwen3_core import ServerError
    from qwen3_rag.common.loading import AppError

    args = parse_arguments(argv)
    try:
        # A server's log is its operator's: `serve` shows vLLM's output as it is.
        if args.command != "serve":
            quiet.configure(args.verbose)
    except ValueError as error:
        print(f"qwen3-rag: error: {error}", file=sys.stderr)
        return 2
    try:
        return args.handler(args)
    # A server that refuses or fails mid-command (a wrong key, a server gone) is said in its own
    # words, which name the server and what to check, as a failure the user can fix.
    except (AppError, ServerError) as error:
        print(f"qwen3-rag {args.command}: error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(file=sys.stderr)
        return 130

