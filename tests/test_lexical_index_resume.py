"""A real ``qwen3-rag index`` killed (SIGKILL) mid-run twice, then run again: the collection and
its lexical (BM25) index both hold exactly the corpus; then a changed and a removed passage are
replaced and pruned in both."""

from __future__ import annotations

import json

from test_index_resume import _kill_when_written

from qwen3_core.lexical import LexicalIndex, PassageStore
from qwen3_rag.cli import main
from qwen3_rag.retrieval.store import open_client

TRANSFORMERS = ["--backend", "transformers", "--dtype", "float32"]
CORPUS_SIZE = 1200
COLLECTION = "killed-hybrid"


def _write(path, texts: dict[str, str]) -> None:
    with path.open("w", encoding="utf-8") as out:
        for pid, text in texts.items():
            out.write(json.dumps({"id": pid, "text": text}, ensure_ascii=False) + "\n")


def _corpus() -> dict[str, str]:
    texts = {}
    for number in range(CORPUS_SIZE):
        words = " ".join(f"w{(number * 7 + k) % 101}" for k in range(12))
        lang = f"第{number}段文字" if number % 2 else f"Passage number{number}"
        texts[f"doc-{number}"] = f"{lang}: {words}."
    return texts


def _both(chroma_dir):
    """Chroma's id -> content hash, and the lexical passage store's."""
    collection = open_client(chroma_dir).get_collection(COLLECTION)
    found = collection.get(include=["metadatas"])
    chroma = {pid: meta["content_hash"] for pid, meta in zip(found["ids"], found["metadatas"],
                                                            strict=True)}
    with PassageStore(chroma_dir / "lexical" / COLLECTION) as store:
        lexical = store.hashes()
    return collection, chroma, lexical


def _assert_in_step(chroma_dir, ids):
    collection, chroma, lexical = _both(chroma_dir)
    assert set(chroma) == set(lexical) == set(ids)
    assert chroma == lexical
    with LexicalIndex.open(chroma_dir / "lexical" / COLLECTION, collection=COLLECTION) as index:
        index.check_in_step(collection)
        assert len(index) == len(ids)
        return {pid: [hit.id for hit in index.search(query, 3)]
                for pid, query in (("doc-17", "第17段文字"), ("doc-20", "number20"))}


def test_killed_twice_then_resumed_both_indexes_hold_exactly_the_corpus(tiny_models, tmp_path,
                                                                        capsys):
    texts = _corpus()
    corpus = tmp_path / "corpus.jsonl"
    _write(corpus, texts)
    chroma_dir = tmp_path / "chroma"
    command = ["index", str(corpus), "--chroma-dir", str(chroma_dir), "--collection",
               COLLECTION, "--embedding-model", str(tiny_models.embedding), *TRANSFORMERS,
               "--batch-size", "32"]
    first = _kill_when_written(command, chroma_dir, CORPUS_SIZE // 6)
    second = _kill_when_written(command, chroma_dir, CORPUS_SIZE * 3 // 5)
    assert 0 < first < second < CORPUS_SIZE, (first, second)
    # Killed: the lexical side has no build yet, and the collection carries no in-step marker.
    assert not (chroma_dir / "lexical" / COLLECTION / "current.json").exists()

    assert main(command) == 0
    err = capsys.readouterr().err
    assert f"Lexical index (BM25) rebuilt: {CORPUS_SIZE:,} passages" in err
    found = _assert_in_step(chroma_dir, texts)
    assert found["doc-17"][0] == "doc-17" and found["doc-20"][0] == "doc-20"

    # A passage changed under its id, one removed: replaced and pruned on both sides.
    texts["doc-17"] = "第17段文字 改写过的 sourdough"
    del texts["doc-20"]
    _write(corpus, texts)
    assert main(command) == 0
    err = capsys.readouterr().err
    assert "1 embedded" in err and "1 stale removed" in err
    found = _assert_in_step(chroma_dir, texts)
    assert found["doc-20"] == [] or "doc-20" not in found["doc-20"]
    with LexicalIndex.open(chroma_dir / "lexical" / COLLECTION) as index:
        assert [hit.id for hit in index.search("sourdough", 3)] == ["doc-17"]


def test_a_collection_indexed_before_lexical_indexes_is_caught_up_without_embedding(
        tiny_models, tmp_path, capsys):
    texts = dict(list(_corpus().items())[:50])
    corpus = tmp_path / "corpus.jsonl"
    _write(corpus, texts)
    command = ["index", str(corpus), "--chroma-dir", str(tmp_path / "chroma"), "--collection",
               COLLECTION, "--embedding-model", str(tiny_models.embedding), *TRANSFORMERS]
    assert main([*command, "--no-lexical"]) == 0
    assert not (tmp_path / "chroma" / "lexical").exists()
    capsys.readouterr()
    assert main(command) == 0
    err = capsys.readouterr().err
    assert "0 embedded, 50 already stored" in err
    assert "50 passages brought in step from Chroma" in err
    _assert_in_step(tmp_path / "chroma", texts)
