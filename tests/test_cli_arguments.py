"""Every command refuses a bad option value before loading a model: one line, exit 2 or 1.

Each command line names models at a path that does not exist: had a model been loaded, the
command would fail with a message naming that path instead. In this process no engine may start;
in a process of its own, the command may not even import a model library (torch, vLLM,
transformers), which is what makes it answer at once. No test here is timed.
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from qwen3_rag.cli import main
from qwen3_rag.common.loading import SMALL_CORPUS_BYTES, command_backend
from qwen3_rag.retrieval.store import check_collection_name, open_client

ROOT = Path(__file__).resolve().parents[1]
NO_MODEL = "/nonexistent/qwen3-model"
#: Libraries a model load imports (vLLM and transformers bring torch).
MODEL_LIBRARIES = ("torch", "transformers", "vllm")
#: Run in the command's own process before it exits: which model libraries it imported.
_REPORT_IMPORTS = f"""
import atexit, os, sys

def _report():
    with open(os.environ["QWEN3_RAG_TEST_IMPORTS"], "w", encoding="utf-8") as out:
        out.write(",".join(m for m in {MODEL_LIBRARIES!r} if m in sys.modules))

atexit.register(_report)
"""


@pytest.fixture()
def place(tmp_path):
    """A corpus file, a plain file where a directory is wanted, and an empty cache dir."""
    corpus = tmp_path / "notes.txt"
    corpus.write_text("Chroma stores vectors on disk.\n", encoding="utf-8")
    a_file = tmp_path / "a-file"
    a_file.write_text("not a directory\n", encoding="utf-8")
    return tmp_path


def _run(argv: list[str], cache: Path) -> tuple[int, str, list[str]]:
    """The command in a process of its own, as a person runs it, and the model libraries it
    imported (a ``sitecustomize`` reports them at exit)."""
    hook = cache.parent / "import-report"
    hook.mkdir(exist_ok=True)
    (hook / "sitecustomize.py").write_text(_REPORT_IMPORTS, encoding="utf-8")
    report = hook / "imported.txt"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(hook), str(ROOT)]),
           "QWEN3_RAG_CACHE_DIR": str(cache), "HF_HUB_OFFLINE": "1",
           "QWEN3_RAG_TEST_IMPORTS": str(report)}
    child = subprocess.run([sys.executable, "-m", "qwen3_rag.cli", *argv], capture_output=True,
                           text=True, env=env, timeout=120, check=False)
    imported = report.read_text(encoding="utf-8")  # missing: the hook did not run, a failure
    return child.returncode, child.stderr, [m for m in imported.split(",") if m]


def _main(argv: list[str], cache: Path, capsys, monkeypatch) -> tuple[int, str, list]:
    """The command in this process (argparse's exit 2 is a SystemExit), and the engines it
    started (none may start: starting one fails the command)."""
    import qwen3_core.engines.registry as registry

    monkeypatch.setenv("QWEN3_RAG_CACHE_DIR", str(cache))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    started: list = []

    def no_engine(key, start):
        started.append(key)
        raise AssertionError(f"an engine started: {key}")

    monkeypatch.setattr(registry, "_share", no_engine)
    try:
        code = main(argv)
    except SystemExit as exc:
        code = exc.code
    return code, capsys.readouterr().err, started


MODELS = ["--embedding-model", NO_MODEL, "--reranker-model", NO_MODEL]
INDEX = ["index", "{dir}/notes.txt", "--embedding-model", NO_MODEL]
SEARCH = ["search", "longest river", *MODELS]
DEMO = ["demo", "--no-interactive", *MODELS]
EVAL = ["eval", *MODELS]
UI = ["ui", *MODELS]

CASES = [
    # (command line, exit code, what the message must say: the bad value and the valid ones)
    (INDEX + ["--collection", "n2"], 2, ["'n2'", "3-512 characters"]),
    (INDEX + ["--collection", "10.0.0.1"], 2, ["'10.0.0.1'", "IPv4"]),
    (INDEX + ["--collection", "a..b"], 2, ["'a..b'", "'..'"]),
    (INDEX + ["--collection", "notes-"], 2, ["'notes-'", "starting and ending"]),
    (INDEX + ["--chunk-size", "0"], 2, ["--chunk-size", "0 is out of range", "from 1"]),
    (INDEX + ["--chunk-overlap", "-1"], 2, ["--chunk-overlap", "-1", "from 0"]),
    (INDEX + ["--chunk-size", "100", "--chunk-overlap", "100"], 1, ["100"]),
    (INDEX + ["--batch-size", "many"], 2, ["'many'", "whole number"]),
    (INDEX + ["--max-length", "0"], 2, ["--max-length", "from 1"]),
    (INDEX + ["--chroma-dir", "{dir}/a-file"], 2, ["a-file", "directory"]),
    (INDEX + ["--chroma-url", "localhost:8000"], 2, ["'localhost:8000'", "http://HOST:PORT"]),
    (INDEX + ["--base-url", "http://localhost:123456"], 2, ["123456", "1 to 65535"]),
    (INDEX + ["--parquet", "{dir}/a-file", "--ray"], 2, ["a-file", "directory"]),
    (INDEX + ["--dtype", "float8"], 2, ["'float8'", "float32"]),
    (["index", "{dir}/missing.txt", "--embedding-model", NO_MODEL], 1, ["missing.txt",
                                                                         "does not exist"]),
    (SEARCH + ["--k", "0"], 2, ["--k", "0 is out of range", "from 1"]),
    (SEARCH + ["--top-n", "-3"], 2, ["--top-n", "-3", "from 1"]),
    (SEARCH + ["--collection", "x"], 2, ["'x'", "3-512 characters"]),
    (SEARCH + ["--chroma-url", "ftp://db:8000"], 2, ["'ftp://db:8000'", "http://HOST:PORT"]),
    (SEARCH + ["--chroma-dir", "{dir}/empty", "--collection", "notes"], 1,
     ["'notes' does not exist", "qwen3-rag index"]),
    (["search", "   ", *MODELS], 1, ["query is empty"]),
    (DEMO + ["--k", "0"], 2, ["--k", "from 1"]),
    (DEMO + ["--top-n", "two"], 2, ["'two'", "whole number"]),
    (DEMO + ["--chroma-dir", "{dir}/a-file"], 2, ["a-file", "directory"]),
    (DEMO + ["--embedding-base-url", "embedder:8000"], 2, ["'embedder:8000'", "http://"]),
    (EVAL + ["--k", "0"], 2, ["--k", "from 1"]),
    (EVAL + ["--max-p", "2"], 2, ["--max-p", "between 0 and 1"]),
    (EVAL + ["--collection", "no"], 2, ["'no'", "3-512 characters"]),
    (EVAL + ["--collection", "notes", "--chroma-dir", "{dir}/empty"], 1,
     ["'notes' does not exist"]),
    (EVAL + ["--output", "{dir}/a-file"], 2, ["a-file", "directory"]),
    (EVAL + ["--reranker-base-url", "reranker"], 2, ["'reranker'", "http://"]),
    (EVAL + ["{dir}/no-such-beir"], 1, ["no-such-beir"]),
    (UI + ["--port", "0"], 2, ["--port", "1 to 65535"]),
    (UI + ["--port", "65536"], 2, ["65536", "1 to 65535"]),
    (UI + ["--host", "nowhere.invalid"], 1, ["'nowhere.invalid'", "127.0.0.1"]),
]


@pytest.mark.parametrize("argv, code, says", CASES,
                         ids=[" ".join(argv[:1] + argv[-2:]) for argv, _, _ in CASES])
def test_a_bad_value_fails_fast_before_any_model(place, capsys, monkeypatch, argv, code, says):
    argv = [word.format(dir=place) for word in argv]
    got, err, engines = _main(argv, place / "cache", capsys, monkeypatch)
    assert got == code, err
    message = err.strip().splitlines()[-1]  # argparse puts its usage above the one line
    assert message.startswith(f"qwen3-rag {argv[0]}: error: "), err
    for text in says:
        assert text in message, err
    assert "Traceback" not in err
    assert NO_MODEL not in message  # no model was loaded: its path would be the complaint
    assert engines == []


def test_index_refuses_a_bad_collection_name_before_importing_a_model_library(place):
    # The first contact that used to load the model for a minute on a blank screen.
    code, err, imported = _run(["index", str(place / "notes.txt"), "--collection", "n2",
                               "--embedding-model", NO_MODEL], place / "cache")
    assert code == 2 and "collection name 'n2' is not valid" in err
    assert NO_MODEL not in err and "Traceback" not in err
    assert imported == []


def test_ui_refuses_a_taken_port_before_loading_a_model(place, capsys, monkeypatch):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        code, err, engines = _main([*UI, "--port", str(port)], place / "cache", capsys,
                                   monkeypatch)
    assert code == 1 and f"127.0.0.1:{port}" in err and "--port" in err, err
    assert err.count("\n") == 1 and NO_MODEL not in err
    assert engines == []


NAMES = ["abc", "a" * 512, "a" * 513, "ab", "n2", "a_b.c-d", "a..b", "a.b", "-ab", "ab-", "_ab",
         "ab c", "ünï", "1.2.3.4", "255.255.255.255", "0.0.0.0", "1.2.3.999", "01.2.3.4",
         "1.2.3", "1.2.3.4.5", "a.-b", "qwen3-rag-demo-0123abcd"]


def test_the_collection_name_rule_is_chromas(tmp_path):
    # Chroma checks names in its Rust core, with no Python function to call: compare with it.
    client = open_client(tmp_path / "chroma")
    for name in NAMES:
        try:
            client.get_or_create_collection(name, embedding_function=None)
            chroma_accepts = True
        except Exception:  # chromadb.errors.InvalidArgumentError, ValueError in older ones
            chroma_accepts = False
        try:
            check_collection_name(name)
            we_accept = True
        except ValueError as exc:
            we_accept = False
            assert repr(name) in str(exc)
        assert we_accept == chroma_accepts, name


# -- which backend `--backend auto` starts without a GPU ---------------------------------------


@pytest.mark.parametrize("command, corpus_bytes, expected", [
    ("search", None, "transformers"),
    ("index", 3_000, "transformers"),  # the brief's three passages
    ("index", SMALL_CORPUS_BYTES - 1, "transformers"),
    ("index", SMALL_CORPUS_BYTES, "auto"),  # vLLM where it is installed: throughput pays
    ("index", None, "auto"),  # size unknown (library callers): as before
])
def test_index_chooses_like_search_for_small_corpora(monkeypatch, command, corpus_bytes,
                                                     expected):
    monkeypatch.setattr("qwen3_core.hardware.has_nvidia_gpu", lambda: False)
    args = argparse.Namespace(command=command, backend="auto", engine_kwargs=None)
    if corpus_bytes is not None:
        args.corpus_bytes = corpus_bytes
    assert command_backend(args, None) == expected


def test_with_a_gpu_index_keeps_auto(monkeypatch):
    monkeypatch.setattr("qwen3_core.hardware.has_nvidia_gpu", lambda: True)
    args = argparse.Namespace(command="index", backend="auto", engine_kwargs=None,
                              corpus_bytes=10)
    assert command_backend(args, None) == "auto"


def test_index_help_says_how_the_backend_is_chosen(capsys):
    with pytest.raises(SystemExit):
        main(["index", "--help"])
    help_text = " ".join(capsys.readouterr().out.split())
    assert "under 5 MB" in help_text and "transformers" in help_text
