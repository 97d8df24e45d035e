"""``qwen3-rag models --tiny DIR``: tiny random-weight models, built offline, for trying things out.

They have the real models' architecture and tokenizers at a size that loads in a second, so
every example of the README and the documentation runs on a machine without network access or
GPU. Their scores and rankings mean nothing.
"""

from __future__ import annotations

import argparse
import shlex
from pathlib import Path

__all__ = [
    "EMBEDDING_VARIABLE",
    "RERANKER_VARIABLE",
    "VL_EMBEDDING_VARIABLE",
    "VL_RERANKER_VARIABLE",
    "add_arguments",
    "run",
]

#: The environment variables the examples (README, docs, notebooks) read their models from.
EMBEDDING_VARIABLE = "QWEN3_EMBEDDING_MODEL"
RERANKER_VARIABLE = "QWEN3_RERANKER_MODEL"
VL_EMBEDDING_VARIABLE = "QWEN3_VL_EMBEDDING_MODEL"
VL_RERANKER_VARIABLE = "QWEN3_VL_RERANKER_MODEL"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``qwen3-rag models``."""
    parser.add_argument("--tiny", required=True, metavar="DIR", type=Path,
                        help="build (or reuse) tiny random-weight embedding and reranker models "
                             "in DIR/embedding and DIR/reranker (and Qwen3-VL ones in "
                             "DIR/vl-embedding and DIR/vl-reranker), then print their paths and "
                             f"the `export {EMBEDDING_VARIABLE}=...` lines that select them")


def run(args: argparse.Namespace) -> int:
    """Build the tiny models and print where they are and how to use them."""
    from qwen3_core.testing.tiny_models import build_tiny_models
    from qwen3_core.testing.tiny_vl_models import build_tiny_vl_models

    root = args.tiny.expanduser().resolve()
    try:
        paths = build_tiny_models(root)
        vl_paths = build_tiny_vl_models(root)
    except OSError as error:
        print(f"qwen3-rag models: error: cannot write the models to {root}: {error}")
        return 1
    exports = {EMBEDDING_VARIABLE: paths.embedding, RERANKER_VARIABLE: paths.reranker,
               VL_EMBEDDING_VARIABLE: vl_paths.embedding, VL_RERANKER_VARIABLE: vl_paths.reranker}
    print(f"embedding model:    {paths.embedding}")
    print(f"reranker model:     {paths.reranker}")
    print(f"VL embedding model: {vl_paths.embedding}")
    print(f"VL reranker model:  {vl_paths.reranker}")
    print("Tiny random-weight models: they run every example, and their scores mean nothing.")
    print("To make the examples use them:")
    for variable, path in exports.items():
        print(f"export {variable}={shlex.quote(str(path))}")
    return 0
