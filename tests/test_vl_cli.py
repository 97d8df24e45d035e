"""``qwen3-rag index`` and ``search`` on images and text (tiny Qwen3-VL models, real Chroma).

Vectors and scores are compared with the official scripts written out in ``reference.py``.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import reference
from local_ports import free_port
from PIL import Image, ImageDraw

from qwen3_rag.cli import main
from qwen3_rag.retrieval.store import VectorStore, open_client

TRANSFORMERS = ["--backend", "transformers", "--dtype", "float32"]
COLLECTION = "pictures"
NOTE = "A green triangle on a white page."
SHAPES = {"red-circle": (220, 30, 30), "blue-square": (30, 30, 220),
          "green-triangle": (30, 160, 60)}
TOLERANCE = 1e-4
SHAPES_CYCLE = ("circle", "square", "triangle")


def _draw(path: Path, colour: tuple[int, int, int], shape: str) -> None:
    image = Image.new("RGB", (96, 80), "white")
    draw = ImageDraw.Draw(image)
    box = (12, 10, 84, 70)
    if "circle" in shape:
        draw.ellipse(box, fill=colour)
    elif "square" in shape:
        draw.rectangle(box, fill=colour)
    else:
        draw.polygon([(48, 8), (86, 72), (10, 72)], fill=colour)
    image.save(path)


@pytest.fixture()
def corpus(tmp_path):
    root = tmp_path / "corpus"
    (root / "more").mkdir(parents=True)
    for name, colour in SHAPES.items():
        _draw(root / ("more" if "triangle" in name else "") / f"{name}.png", colour, name)
    (root / "notes.txt").write_text(NOTE, encoding="utf-8")
    (root / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 this is no JPEG")
    return root


@pytest.fixture()
def chroma(tmp_path):
    return tmp_path / "chroma"



def _index(paths, chroma, models, capsys, *extra):
    code = main(["index", *map(str, paths), "--chroma-dir", str(chroma), "--collection",
                 COLLECTION, "--embedding-model", str(models.embedding), "--reranker-model",
                 str(models.reranker), *TRANSFORMERS, *extra])
    return code, *capsys.readouterr()


def _search(chroma, capsys, *words):
    code = main(["search", *words, "--chroma-dir", str(chroma), "--collection", COLLECTION,
                 *TRANSFORMERS])
    return code, *capsys.readouterr()


def _stored(chroma) -> dict[str, tuple[dict, np.ndarray]]:
    """Each stored passage by its image path (or text): metadata and vector."""
    collection = open_client(chroma).get_collection(COLLECTION)
    found = collection.get(include=["metadatas", "embeddings", "documents"])
    return {meta.get("image", text): (meta, np.asarray(vector))
            for meta, vector, text in zip(found["metadatas"], found["embeddings"],
                                          found["documents"], strict=True)}


def _images(corpus) -> list[Path]:
    return sorted(path.resolve() for path in corpus.rglob("*.png"))


def test_index_stores_images_and_text_as_the_script_embeds_them(corpus, chroma,
                                                                tiny_vl_models, capsys):
    code, _, err = _index([corpus], chroma, tiny_vl_models, capsys)
    assert code == 0, err
    # The bad image is skipped, named, with its reason; the run goes on.
    assert "skipped 1 bad record(s)" in err and "broken.jpg" in err
    assert "not an image Pillow can read" in err
    assert "4 passages: 4 embedded, 0 already stored" in err
    stored = _stored(chroma)
    assert set(stored) == {*map(str, _images(corpus)), NOTE}
    for path in _images(corpus):
        meta, vector = stored[str(path)]
        assert meta["source"] == str(path) and meta["content_hash"]
        np.testing.assert_allclose(
            vector, reference.vl_embed(tiny_vl_models.embedding, image=path), atol=TOLERANCE)
    np.testing.assert_allclose(stored[NOTE][1],
                               reference.vl_embed(tiny_vl_models.embedding, text=NOTE),
                               atol=TOLERANCE)

    # Again: nothing embedded. A changed image is embedded again, its old vector removed.
    code, _, err = _index([corpus], chroma, tiny_vl_models, capsys)
    assert code == 0 and "0 embedded, 4 already stored, 0 stale removed" in err
    _draw(corpus / "red-circle.png", (250, 120, 0), "circle")
    code, _, err = _index([corpus], chroma, tiny_vl_models, capsys)
    assert code == 0 and "1 embedded, 3 already stored, 1 stale removed" in err
    np.testing.assert_allclose(
        _stored(chroma)[str((corpus / "red-circle.png").resolve())][1],
        reference.vl_embed(tiny_vl_models.embedding, image=corpus / "red-circle.png"),
        atol=TOLERANCE)


def test_an_interrupted_run_resumes_where_it_stopped(corpus, chroma, tiny_vl_models, capsys,
                                                     monkeypatch):
    from qwen3_core.vision import Qwen3VLEmbedder

    original = Qwen3VLEmbedder.embed_documents
    calls = []

    def interrupted(self, documents):
        calls.append(len(documents))
        if len(calls) == 3:
            raise KeyboardInterrupt
        return original(self, documents)

    monkeypatch.setattr(Qwen3VLEmbedder, "embed_documents", interrupted)
    code, _, _ = _index([corpus], chroma, tiny_vl_models, capsys, "--batch-size", "1")
    assert code == 130
    done = len(_stored(chroma))  # the whole batches written before the interruption
    assert 0 < done < 4

    monkeypatch.setattr(Qwen3VLEmbedder, "embed_documents", original)
    code, _, err = _index([corpus], chroma, tiny_vl_models, capsys, "--batch-size", "1")
    assert code == 0, err
    assert f"4 passages: {4 - done} embedded, {done} already stored" in err
    for path in _images(corpus):
        np.testing.assert_allclose(
            _stored(chroma)[str(path)][1],
            reference.vl_embed(tiny_vl_models.embedding, image=path), atol=TOLERANCE)


def test_search_by_text_and_by_image_matches_the_scripts(corpus, chroma, tiny_vl_models,
                                                         capsys):
    assert _index([corpus], chroma, tiny_vl_models, capsys)[0] == 0
    documents = {str(path): {"image": path} for path in _images(corpus)}
    documents[NOTE] = {"text": NOTE}
    vectors = {key: reference.vl_embed(tiny_vl_models.embedding, **value)
               for key, value in documents.items()}
    query_image = corpus / "more" / "green-triangle.png"
    for words, query in [(["a red circle"], {"text": "a red circle"}),
                         (["--image", str(query_image)], {"image": query_image}),
                         (["shapes", "--image", str(query_image)],
                          {"text": "shapes", "image": query_image})]:
        code, out, err = _search(chroma, capsys, *words, "--top-n", "4", "--json")
        assert code == 0, err
        result = json.loads(out)
        query_vector = reference.vl_embed_query(tiny_vl_models.embedding, **query)
        assert len(result["candidates"]) == 4
        for hit in result["candidates"]:
            key = hit["metadata"].get("image", hit["text"])
            assert hit["cosine"] == pytest.approx(float(query_vector @ vectors[key]),
                                                  abs=TOLERANCE)
        expected = {key: reference.vl_rerank_score(tiny_vl_models.reranker, query, document)
                    for key, document in documents.items()}
        shown = [(hit["metadata"].get("image", hit["text"]), hit["score"])
                 for hit in result["reranked"]]
        assert [key for key, _ in shown] == sorted(expected, key=lambda k: -expected[k])
        for key, score in shown:
            assert score == pytest.approx(expected[key], abs=TOLERANCE)

    code, out, err = _search(chroma, capsys, "a red circle", "--top-n", "4")
    assert code == 0, err
    flat = out.replace("\n", "")
    assert "red-circle.png" in out and str(corpus.resolve()) in flat  # image hits by path


def test_bm25_and_hybrid_recall_over_images_and_text(corpus, chroma, tiny_vl_models, capsys):
    # BM25 reads the passages' words: a text's, an image's file name.
    (corpus / "kites.txt").write_text("Kites fly over the beach in summer.", encoding="utf-8")
    code, _, err = _index([corpus], chroma, tiny_vl_models, capsys)
    assert code == 0 and "Lexical index (BM25) rebuilt: 5 passages" in err, err
    documents = {str(path): {"image": path} for path in _images(corpus)}
    documents.update({NOTE: {"text": NOTE}, "Kites fly over the beach in summer.": {
        "text": "Kites fly over the beach in summer."}})
    vectors = {key: reference.vl_embed(tiny_vl_models.embedding, **value)
               for key, value in documents.items()}

    def key(hit):
        return hit["metadata"].get("image", hit["text"])

    def run(*words):
        code, out, err = _search(chroma, capsys, *words, "--json", "--top-n", "5")
        assert code == 0, err
        return json.loads(out), err

    query = "triangle"
    bm25, _ = run(query, "--mode", "bm25")
    # The words "triangle" are in the note and in one image's file name, nowhere else.
    assert {key(hit) for hit in bm25["candidates"]} == {
        NOTE, str((corpus / "more" / "green-triangle.png").resolve())}
    assert all(hit["cosine"] is None for hit in bm25["candidates"])

    query_vector = reference.vl_embed_query(tiny_vl_models.embedding, text=query)
    cosines = {k: float(query_vector @ v) for k, v in vectors.items()}
    dense_order = sorted(cosines, key=lambda k: -cosines[k])
    bm25_order = [key(hit) for hit in bm25["candidates"]]
    hybrid, err = run(query)  # hybrid: the default where a lexical index exists
    assert hybrid["mode"] == "hybrid" and hybrid["notes"] == []
    expected = {k: sum(1 / (60 + order.index(k) + 1) for order in (dense_order, bm25_order)
                       if k in order) for k in documents}
    assert [key(hit) for hit in hybrid["candidates"]] == sorted(expected,
                                                                key=lambda k: -expected[k])
    for hit in hybrid["candidates"]:
        assert hit["fused"] == pytest.approx(expected[key(hit)])
        assert hit["dense_rank"] == dense_order.index(key(hit)) + 1
        assert hit["cosine"] == pytest.approx(cosines[key(hit)], abs=TOLERANCE)
    for hit in hybrid["reranked"]:
        assert hit["score"] == pytest.approx(reference.vl_rerank_score(
            tiny_vl_models.reranker, {"text": query}, documents[key(hit)]), abs=TOLERANCE)

    # An image alone has no words: hybrid recall says so and is the dense list.
    image = corpus / "blue-square.png"
    alone, err = run("--image", str(image), "--mode", "hybrid")
    assert "no words for BM25" in err and alone["notes"]
    image_vector = reference.vl_embed_query(tiny_vl_models.embedding, image=image)
    assert [key(hit) for hit in alone["candidates"]] == sorted(
        vectors, key=lambda k: -float(image_vector @ vectors[k]))
    assert all(hit["bm25_rank"] is None for hit in alone["candidates"])


def test_arguments_are_checked_before_any_model_loads(corpus, chroma, tiny_vl_models, capsys,
                                                      monkeypatch):
    from qwen3_core.vision import Qwen3VLEmbedder, Qwen3VLReranker

    def refuse(*args, **kwargs):
        raise AssertionError("a model was loaded")

    # A text collection, without a model: its recorded embedding model is a text one.
    VectorStore(open_client(chroma), "texts", "Qwen/Qwen3-Embedding-0.6B", 8)
    monkeypatch.setattr(Qwen3VLEmbedder, "__init__", refuse)
    monkeypatch.setattr(Qwen3VLReranker, "__init__", refuse)
    cases = [
        (["index", str(corpus), "--embedding-model", str(tiny_vl_models.embedding),
          "--reranker-model", "Qwen/Qwen3-Reranker-0.6B"], "is not a Qwen3-VL reranker"),
        (["index", str(corpus), "--embedding-model", str(tiny_vl_models.embedding),
          "--ray"], "--ray and --parquet embed text only"),
        (["index", str(corpus / "red-circle.png")], "images need a Qwen3-VL one"),
        (["search", "--image", str(corpus / "red-circle.png"), "--collection", "texts"],
         "holds text only"),
        (["search", "--collection", "texts"], "the query is empty"),
        (["ui", "--embedding-model", str(tiny_vl_models.embedding), "--reranker-model",
          "Qwen/Qwen3-Reranker-0.6B", "--port", str(free_port())], "is not a Qwen3-VL"),
    ]
    for words, message in cases:
        code = main([*words, "--chroma-dir", str(chroma)])
        err = capsys.readouterr().err
        assert code == 1 and message in err, (words, err)
    # A multimodal collection refuses a text reranker, and BM25 for an image alone, before
    # loading either model.
    monkeypatch.undo()
    assert _index([corpus / "notes.txt"], chroma, tiny_vl_models, capsys)[0] == 0
    monkeypatch.setattr(Qwen3VLEmbedder, "__init__", refuse)
    for extra, message in [(["shapes", "--reranker-model", "Qwen/Qwen3-Reranker-0.6B"],
                            "is not a Qwen3-VL reranker"),
                           (["--image", str(corpus / "red-circle.png"), "--mode", "bm25"],
                            "--mode bm25 needs words")]:
        code = main(["search", "--chroma-dir", str(chroma), "--collection",
                     COLLECTION, *extra])
        err = capsys.readouterr().err
        assert code == 1 and message in err, (extra, err)
    with pytest.raises(SystemExit) as exit_:
        main(["search", "--image", str(corpus / "nothing.png"), "--collection", COLLECTION])
    assert exit_.value.code == 2 and "is not a file" in capsys.readouterr().err


def test_a_text_model_leaves_the_images_out_and_says_so(corpus, chroma, tiny_models, capsys):
    code = main(["index", str(corpus), "--chroma-dir", str(chroma), "--collection", "texts",
                 "--embedding-model", str(tiny_models.embedding), *TRANSFORMERS, "--no-lexical"])
    err = capsys.readouterr().err
    assert code == 0, err
    assert "Left out 4 image file(s)" in err and "is a text embedding model" in err
    found = open_client(chroma).get_collection("texts").get(include=["documents"])
    assert found["documents"] == [NOTE]


def test_a_killed_run_resumes_embedding_only_the_missing_images(tiny_vl_models, tmp_path,
                                                                capsys):
    import re

    from test_index_resume import _kill_when_written, _rows_written

    folder = tmp_path / "many"
    folder.mkdir()
    total = 40
    for number in range(total):
        colour = ((number * 37) % 256, (number * 91) % 256, (number * 53) % 256)
        _draw(folder / f"shape-{number:03d}.png", colour, SHAPES_CYCLE[number % 3])
    chroma_dir = tmp_path / "chroma"
    command = ["index", str(folder), "--chroma-dir", str(chroma_dir), "--collection",
               COLLECTION, "--embedding-model", str(tiny_vl_models.embedding), *TRANSFORMERS,
               "--batch-size", "4"]
    killed_at = _kill_when_written(command, chroma_dir, 8)
    assert 0 < killed_at < total

    stored_before = len(_stored(chroma_dir))
    assert main(command) == 0
    summary = capsys.readouterr().err
    embedded = int(re.search(r"([\d,]+) embedded", summary).group(1))
    assert embedded == total - stored_before, summary
    stored = _stored(chroma_dir)
    assert len(stored) == total and _rows_written(chroma_dir) == total
    for path in sorted(folder.glob("*.png"))[::13]:
        np.testing.assert_allclose(
            stored[str(path.resolve())][1],
            reference.vl_embed(tiny_vl_models.embedding, image=path), atol=TOLERANCE)
