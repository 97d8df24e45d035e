"""``qwen3-rag index`` on awkward corpora: one enormous record, symlinks, blank records.

Real ``qwen3-rag index`` processes (transformers backend, tiny model), as a user runs them.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from qwen3_rag.indexing import corpus_reader
from qwen3_rag.indexing.corpus_reader import CorpusError, CorpusReader
from qwen3_rag.retrieval.store import open_client

TRANSFORMERS = ["--backend", "transformers", "--dtype", "float32"]
#: More passages than SQLite takes variables in one statement (32,766).
MANY_PASSAGES = 34_000
#: ``qwen3-rag index`` with the toy engine (tests/toy_backend.py) standing in for transformers:
#: the same command and store, an engine that embeds 34,000 passages in seconds, not minutes.
_TOY_INDEX = ("import sys; sys.path.insert(0, {tests!r}); import toy_backend; "
              "from qwen3_core import register_backend; "
              "register_backend('transformers', toy_backend.start_engine, replace=True); "
              "from qwen3_rag.cli import main; sys.exit(main(sys.argv[1:]))")


def _index(tiny_models, chroma_dir: Path, *paths: Path | str, extra: tuple[str, ...] = (),
           timeout: int = 600, toy: bool = False) -> subprocess.CompletedProcess:
    program = (["-c", _TOY_INDEX.format(tests=str(Path(__file__).parent))] if toy
               else ["-m", "qwen3_rag.cli"])
    command = [sys.executable, *program, "index", *map(str, paths),
               "--chroma-dir", str(chroma_dir), "--collection", "hardening",
               "--embedding-model", str(tiny_models.embedding), *TRANSFORMERS, *extra]
    return subprocess.run(command, capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})


def _stored_sources(chroma_dir: Path) -> set[str]:
    found = open_client(chroma_dir).get_collection("hardening").get(include=["metadatas"])
    return {meta["source"] for meta in found["metadatas"]}


def test_one_record_of_tens_of_thousands_of_passages(tiny_models, tmp_path):
    # ~3.4 MB cut into 100-character passages: one record, 34,000 passages, whose ids once went
    # to Chroma in one lookup ("too many SQL variables").
    big = tmp_path / "corpus" / "book.txt"
    big.parent.mkdir()
    sentence = "The river runs past the mill.\n"  # 30 characters
    with big.open("w", encoding="utf-8") as out:
        for number in range(MANY_PASSAGES):
            out.write(f"{number:08d} " + sentence * 3)  # 99 characters + newline per passage
    chroma = tmp_path / "chroma"
    done = _index(tiny_models, chroma, big,
                  extra=("--chunk-size", "100", "--chunk-overlap", "0", "--batch-size", "1024"),
                  toy=True)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "Traceback" not in done.stderr
    count = open_client(chroma).get_collection("hardening").count()
    assert count >= MANY_PASSAGES
    again = _index(tiny_models, chroma, big,
                   extra=("--chunk-size", "100", "--chunk-overlap", "0", "--batch-size", "1024"),
                  toy=True)
    assert again.returncode == 0, again.stderr[-3000:]
    assert f"0 embedded, {count:,} already stored" in again.stderr


def test_a_record_over_the_limit_is_a_bad_record(tmp_path, monkeypatch):
    monkeypatch.setattr(corpus_reader, "MAX_RECORD_BYTES", 1000)
    (tmp_path / "big.txt").write_text("x" * 2000)
    (tmp_path / "ok.txt").write_text("fine")
    lines = [json.dumps({"id": "a", "text": "y" * 2000}), json.dumps({"id": "b", "text": "ok"})]
    (tmp_path / "c.jsonl").write_text("\n".join(lines) + "\n")
    files = [tmp_path / "big.txt", tmp_path / "c.jsonl", tmp_path / "ok.txt"]
    with pytest.raises(CorpusError, match=r"big.txt: the record has 2,000 bytes.*1,000"):
        list(CorpusReader(files))
    reader = CorpusReader(files, skip_bad=True)
    assert [r.text for r in reader] == ["ok", "fine"]
    assert [(Path(e.path).name, e.line) for e in reader.skipped] == [("big.txt", None),
                                                                      ("c.jsonl", 1)]


def test_symlinks_leaving_the_folder_are_skipped_and_listed(tiny_models, tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text("a private note that must not be indexed")
    (outside / "dir").mkdir()
    (outside / "dir" / "more.md").write_text("more private text")
    corpus = tmp_path / "corpus"
    (corpus / "sub").mkdir(parents=True)
    (corpus / "doc.txt").write_text("the public document")
    (corpus / "sub" / "note.md").write_text("a public note")
    (corpus / "file-link.txt").symlink_to(outside / "secret.txt")
    (corpus / "dir-link").symlink_to(outside / "dir")
    (corpus / "inside-link.txt").symlink_to(corpus / "doc.txt")  # stays inside: harmless
    done = _index(tiny_models, tmp_path / "chroma", corpus)
    assert done.returncode == 0, done.stderr[-3000:]
    sources = _stored_sources(tmp_path / "chroma")
    assert sources == {str((corpus / "doc.txt").resolve()),
                       str((corpus / "sub" / "note.md").resolve())}
    flat = " ".join(done.stderr.split())
    assert "skipped 2 symbolic link(s)" in flat and "--follow-symlinks" in flat
    assert "file-link.txt" in flat and "dir-link" in flat
    followed = _index(tiny_models, tmp_path / "chroma2", corpus, extra=("--follow-symlinks",))
    assert followed.returncode == 0, followed.stderr[-3000:]
    assert len(_stored_sources(tmp_path / "chroma2")) == 4


def test_blank_records_are_counted_as_skipped(tiny_models, tmp_path):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "empty.txt").write_text("")
    (corpus / "spaces.md").write_text("  \n\t\n")
    (corpus / "doc.txt").write_text("a real document")
    lines = [{"id": "1", "text": "text one"}, {"id": "2", "text": "   "}]
    (corpus / "records.jsonl").write_text("".join(json.dumps(r) + "\n" for r in lines))
    done = _index(tiny_models, tmp_path / "chroma", corpus)
    assert done.returncode == 0, done.stderr[-3000:]
    flat = " ".join(done.stderr.split())
    assert "2 records from 4 file(s)" in flat and "3 skipped" in flat
    for name in ("empty.txt", "spaces.md", "records.jsonl:2"):
        assert name in flat
    assert "empty or whitespace-only" in flat
