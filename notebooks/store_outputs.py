"""Run every notebook top to bottom with the test suite's tiny models and store its outputs.

The stored outputs show a reader what each cell prints; the first cell of each notebook says
that they come from tiny random-weight models. Run from the repository root after changing a
notebook: ``python notebooks/store_outputs.py [NAME.ipynb ...]`` (about three minutes on a CPU for all of
them; notebook 03 starts a vLLM server).
"""

from __future__ import annotations

import os
import socket
import sys
import tempfile
from pathlib import Path

import nbformat
from nbclient import NotebookClient

from qwen3_core.testing.tiny_models import build_tiny_models
from qwen3_core.testing.tiny_vl_models import build_tiny_vl_models

NOTEBOOKS = Path(__file__).resolve().parent


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="qwen3-rag-notebooks-") as scratch:
        models = build_tiny_models(Path(scratch) / "tiny-models")
        vl_models = build_tiny_vl_models(Path(scratch) / "tiny-models")
        env = {"QWEN3_EMBEDDING_MODEL": str(models.embedding),
               "QWEN3_RERANKER_MODEL": str(models.reranker), "QWEN3_BACKEND": "transformers",
               "QWEN3_VL_EMBEDDING_MODEL": str(vl_models.embedding),
               "QWEN3_VL_RERANKER_MODEL": str(vl_models.reranker),
               "QWEN3_DTYPE": "float32", "QWEN3_SERVE_PORT": str(_free_port()),
               "QWEN3_VLLM_ARGS": "--enforce-eager"}
        os.environ.update(env)  # this script's own process: the kernels inherit it
        chosen = set(sys.argv[1:])  # notebook names to run; all when none are given
        for path in sorted(NOTEBOOKS.glob("*.ipynb")):
            if chosen and path.name not in chosen:
                continue
            notebook = nbformat.read(path, as_version=4)
            NotebookClient(notebook, timeout=900, kernel_name="python3",
                           resources={"metadata": {"path": str(NOTEBOOKS)}}).execute()
            nbformat.write(notebook, path)
            print(f"stored the outputs of {path.name}")


if __name__ == "__main__":
    main()
