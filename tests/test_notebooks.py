"""The notebooks run top to bottom (nbclient) against the tiny models, and are stored clean."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

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
def test_notebook_is_stored_with_the_outputs_of_a_real_run(name):
    notebook = nbformat.read(NOTEBOOKS / name, as_version=4)
    nbformat.validate(notebook)
    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    # Every cell ran, in order, and none failed (notebooks/store_outputs.py wrote them).
    assert [cell.execution_count for cell in code] == list(range(1, len(code) + 1))
    assert not any(output.output_type == "error" for cell in code for output in cell.outputs)
    assert any(output.get("name") == "stdout" for cell in code for output in cell.outputs)
    # ...and the reader is told that the stored scores come from random tiny models.
    assert "tiny random-weight models" in notebook.cells[1].source


@pytest.mark.parametrize("name", sorted(p.name for p in NOTEBOOKS.glob("*.ipynb")))
def test_notebook_starts_with_an_install_cell_and_a_model_check(name):
    sources = [cell.source for cell in nbformat.read(NOTEBOOKS / name, as_version=4).cells]
    assert any("pip" in source and "install" in source and "-e" in source for source in sources)
    assert any("HF_HUB_OFFLINE" in source and "local" in source for source in sources)
    assert any("resolve_model(model, weights=False)" in source for source in sources)


def test_langchain_notebook_runs(tiny_env, tmp_path):
    printed = _printed(_execute("01_langchain_chroma_rerank.ipynb", tmp_path, tiny_env))
    assert "34 passages indexed" in printed


def test_llamaindex_notebook_runs(tiny_env, tmp_path):
    printed = _printed(_execute("02_llamaindex_query_engine.ipynb", tmp_path, tiny_env))
    assert "rerank " in printed and "cosine " in printed


@pytest.fixture()
def tiny_vl_env(tiny_vl_models):
    return {"QWEN3_VL_EMBEDDING_MODEL": str(tiny_vl_models.embedding),
            "QWEN3_VL_RERANKER_MODEL": str(tiny_vl_models.reranker), "QWEN3_DTYPE": "float32"}


def test_images_langchain_notebook_runs(tiny_vl_env, tmp_path):
    printed = _printed(_execute("04_images_langchain_chroma.ipynb", tmp_path, tiny_vl_env))
    assert "6 pictures and 3 passages indexed" in printed
    assert "cosine distance" in printed and ".png" in printed


def test_images_llamaindex_notebook_runs(tiny_vl_env, tmp_path):
    printed = _printed(_execute("05_images_llamaindex.ipynb", tmp_path, tiny_vl_env))
    assert "9 nodes indexed" in printed
    assert printed.count("rerank ") == 6 and ".png" in printed


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


def test_a_server_that_fails_to_start_shows_its_log_in_the_notebook(tiny_models, tmp_path):
    env = {"QWEN3_RERANKER_MODEL": str(tiny_models.reranker), "QWEN3_DTYPE": "float32",
           "QWEN3_SERVE_PORT": "1", "QWEN3_VLLM_ARGS": "--no-such-vllm-flag"}
    notebook = nbformat.read(NOTEBOOKS / "03_vllm_server.ipynb", as_version=4)
    with pytest.raises(CellExecutionError), pytest.MonkeyPatch.context() as patch:
        for key, value in env.items():
            patch.setenv(key, value)
        NotebookClient(notebook, timeout=900, kernel_name="python3",
                       resources={"metadata": {"path": str(tmp_path)}}).execute()
    failed = next(cell for cell in notebook.cells if cell.cell_type == "code"
                  and any(output.output_type == "error" for output in cell.outputs))
    shown = "".join(output.get("text", "") for output in failed.outputs)
    assert "--no-such-vllm-flag" in shown  # vLLM's own complaint, from the server's log
