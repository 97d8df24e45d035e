"""A real ``qwen3-rag index`` process killed (SIGKILL) mid-run, twice, then run again to the end.

The collection must end holding exactly the corpus, with the vectors of an uninterrupted run,
and the last run must embed only what the killed ones had not stored.
"""

from __future__ import annotations

import json
import re
import signal
import sqlite3
import subprocess
import sys
import time

import numpy as np
import pytest

from qwen3_rag.cli import main
from qwen3_rag.retrieval.store import open_client

TRANSFORMERS = ["--backend", "transformers", "--dtype", "float32"]
CORPUS_SIZE = 2000
COLLECTION = "killed"


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    path = tmp_path_factory.mktemp("corpus") / "corpus.jsonl"
    with path.open("w", encoding="utf-8") as out:
        for number in range(CORPUS_SIZE):
            words = " ".join(f"w{(number * 7 + k) % 101}" for k in range(12))
            out.write(json.dumps({"id": f"doc-{number}", "text": f"Passage {number}: {words}."})
                      + "\n")
    return path


def _command(corpus, chroma_dir, tiny_models):
    return ["index", str(corpus), "--chroma-dir", str(chroma_dir), "--collection", COLLECTION,
            "--embedding-model", str(tiny_models.embedding), *TRANSFORMERS,
            "--batch-size", "32"]


def _rows_written(chroma_dir) -> int:
    """Passages Chroma has committed so far, read from its SQLite file without a client."""
    database = chroma_dir / "chroma.sqlite3"
    if not database.exists():
        return 0
    try:
        with sqlite3.connect(f"file:{database}?mode=ro", uri=True, timeout=1) as connection:
            return connection.execute("SELECT count(*) FROM embeddings").fetchone()[0]
    except sqlite3.OperationalError:
        return 0  # the schema is still being created


def _kill_when_written(command, chroma_dir, at_least: int) -> int:
    """Start the command, SIGKILL it once ``at_least`` passages are written; rows then."""
    process = subprocess.Popen([sys.executable, "-m", "qwen3_rag.cli", *command],
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 240
        while _rows_written(chroma_dir) < at_least:
            assert process.poll() is None, f"index ended before the kill: {process.stderr.read()}"
            assert time.monotonic() < deadline, "index too slow to reach the kill point"
            time.sleep(0.05)
        process.send_signal(signal.SIGKILL)
    finally:
        process.kill()
        process.wait(timeout=60)
    assert process.returncode == -signal.SIGKILL
    return _rows_written(chroma_dir)


def _collection(chroma_dir):
    found = open_client(chroma_dir).get_collection(COLLECTION).get(include=["embeddings"])
    return found["ids"], dict(zip(found["ids"], np.asarray(found["embeddings"]), strict=True))


def test_killed_twice_then_resumed_holds_exactly_the_corpus(corpus, tiny_models, tmp_path,
                                                            capsys):
    chroma_dir = tmp_path / "chroma"
    command = _command(corpus, chroma_dir, tiny_models)
    first = _kill_when_written(command, chroma_dir, CORPUS_SIZE // 6)
    second = _kill_when_written(command, chroma_dir, CORPUS_SIZE * 3 // 5)
    assert 0 < first < second < CORPUS_SIZE, (first, second)

    ids_before, _ = _collection(chroma_dir)
    assert len(ids_before) == len(set(ids_before)) <= CORPUS_SIZE
    assert main(command) == 0
    summary = capsys.readouterr().err
    embedded = int(re.search(r"([\d,]+) embedded", summary).group(1).replace(",", ""))
    assert embedded == CORPUS_SIZE - len(ids_before), summary  # only what was missing

    ids, vectors = _collection(chroma_dir)
    assert len(ids) == len(set(ids)) == CORPUS_SIZE
    assert set(ids) == {f"doc-{n}" for n in range(CORPUS_SIZE)}

    fresh_dir = tmp_path / "fresh"
    assert main(_command(corpus, fresh_dir, tiny_models)) == 0
    _, fresh = _collection(fresh_dir)
    np.testing.assert_allclose(np.stack([vectors[i] for i in sorted(fresh)]),
                               np.stack([fresh[i] for i in sorted(fresh)]), atol=1e-5)


def test_a_finished_run_again_embeds_nothing_and_keeps_everything(corpus, tiny_models,
                                                                   tmp_path, capsys):
    chroma_dir = tmp_path / "chroma"
    command = _command(corpus, chroma_dir, tiny_models)
    _kill_when_written(command, chroma_dir, CORPUS_SIZE // 3)
    assert main(command) == 0
    assert main(command) == 0
    summary = capsys.readouterr().err.split("records from")[-1]
    assert f"0 embedded, {CORPUS_SIZE:,} already stored, 0 stale removed" in summary
    assert len(_collection(chroma_dir)[0]) == CORPUS_SIZE
