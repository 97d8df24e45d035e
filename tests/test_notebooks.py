"""The notebooks run top to bottom (nbclient) against the tiny models, and are stored clean."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"


def _execute(name: str, tmp_path: Path, env: dict[str, str]) -> nbformat.NotebookNode:
    notebook = nbformat.read(NOTEBOOKS / name, as_version=4)
    with pytest.MonkeyPatch.context() as patch:
        # The kernel inherits this process's environment.
        for key, value in env.items():
            patch.setenv(key, value)
        NotebookClient(notebook, timeout=900, kernel_name="python3",
                       resources={"metadata": {"path": str(tmp_path)}}).execute()
    return notebook


def _printed(notebook: nbformat.NotebookNode) -> str:
    return "".join(output.get("text", "") for cell in notebook.cells if cell.cell_type == "code"
                   for output in cell.get("outputs", []) if output.get("name") == "stdout")


@pytest.fixture()
def tiny_env(tiny_models):
    return {"QWEN3_EMBEDDING_MODEL": str(tiny_models.embedding),
            "QWEN3_RERANKER_MODEL": str(tiny_models.reranker),
            "QWEN3_BACKEND": "transformers", "QWEN3_DTYPE": "float32"}


@pytest.mark.parametrize("name", sorted(p.name for p in NOTEBOOKS.glob("*.ipynb")))
def test_notebook_is_stored_without_outputs(name):
    notebook = nbformat.read(NOTEBOOKS / name, as_version=4)
    nbformat.validate(notebook)
    for cell in notebook.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None


def test_langchain_notebook_runs(tiny_env, tmp_path):
    printed = _printed(_execute("01_langchain_chroma_rerank.ipynb", tmp_path, tiny_env))
    assert "34 passages indexed" in printed


def test_llamaindex_notebook_runs(tiny_env, tmp_path):
    printed = _printed(_execute("02_llamaindex_query_engine.ipynb", tmp_path, tiny_env))
    assert "rerank " in printed and "cosine " in printed


@pytest.mark.vllm
def test_vllm_server_notebook_runs(tiny_models, tmp_path):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = {"QWEN3_RERANKER_MODEL": str(tiny_models.reranker), "QWEN3_DTYPE": "float32",
           "QWEN3_SERVE_PORT": str(port), "QWEN3_VLLM_ARGS": "--enforce-eager"}
    printed = _printed(_execute("03_vllm_server.ipynb", tmp_path, env))
    assert f"server ready at http://127.0.0.1:{port}" in printed
    assert "server exited with" in printed
    assert os.environ.get("QWEN3_SERVE_PORT") != str(port)  # the kernel's env did not leak
