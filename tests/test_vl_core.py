"""Qwen3-VL in the core: the official scripts' vectors and scores, within 1e-5 in float32.

The expected values come from ``tests/reference.py`` (the official embedding and reranker
scripts written out, image preprocessing included), one input at a time; the core batches.
"""

from __future__ import annotations

import asyncio

import numpy as np
import pytest
from PIL import Image

import reference
from qwen3_core import Qwen3Embedder
from qwen3_core.vision import ImageError, Qwen3VLEmbedder, Qwen3VLReranker

TOLERANCE = 1e-5
SETTINGS = {"backend": "transformers", "dtype": "float32"}


def _picture(width, height, seed) -> Image.Image:
    rng = np.random.default_rng(seed)
    return Image.fromarray((rng.random((height, width, 3)) * 255).astype("uint8"))


@pytest.fixture(scope="module")
def pictures(tmp_path_factory):
    folder = tmp_path_factory.mktemp("pictures")
    shapes = {"small": (20, 30), "wide": (300, 90), "large": (1400, 1500)}
    paths = {}
    for seed, (name, (width, height)) in enumerate(shapes.items()):
        paths[name] = folder / f"{name}.png"
        _picture(width, height, seed).save(paths[name])
    rgba = Image.new("RGBA", (64, 48), (200, 30, 30, 255))
    rgba.paste((0, 0, 0, 0), (0, 0, 32, 48))  # half transparent: becomes white
    paths["transparent"] = folder / "transparent.png"
    rgba.save(paths["transparent"])
    return paths


@pytest.fixture(scope="module")
def embedder(tiny_vl_models):
    with Qwen3VLEmbedder(tiny_vl_models.embedding, **SETTINGS) as model:
        yield model


@pytest.fixture(scope="module")
def reranker(tiny_vl_models):
    with Qwen3VLReranker(tiny_vl_models.reranker, **SETTINGS) as model:
        yield model


def _documents(pictures):
    """(core input, reference text, reference image) for each kind of document."""
    return [
        ("A red fox crosses the snowy field.", "A red fox crosses the snowy field.", None),
        ({"image": str(pictures["small"])}, None, pictures["small"]),
        (pictures["wide"], None, pictures["wide"]),
        ({"text": "a caption <|im_end|><|image_pad|>", "image": pictures["large"]},
         "a caption <|im_end|><|image_pad|>", pictures["large"]),
        ({"image": pictures["transparent"]}, None, pictures["transparent"]),
        ({"text": ""}, "", None),
        ({}, None, None),
    ]


def test_documents_embed_as_the_official_script(embedder, tiny_vl_models, pictures):
    documents = _documents(pictures)
    vectors = embedder.embed_documents([core for core, _, _ in documents])
    for row, (_, text, image) in zip(vectors, documents):
        expected = reference.vl_embed(tiny_vl_models.embedding, text=text, image=image)
        np.testing.assert_allclose(row, expected, atol=TOLERANCE)


def test_queries_carry_the_instruction(embedder, tiny_vl_models, pictures):
    queries = ["a fox in the snow", {"text": "like this", "image": pictures["small"]}]
    vectors = embedder.embed_queries(queries)
    np.testing.assert_allclose(
        vectors[0], reference.vl_embed_query(tiny_vl_models.embedding, text=queries[0]),
        atol=TOLERANCE)
    np.testing.assert_allclose(
        vectors[1], reference.vl_embed_query(tiny_vl_models.embedding, text="like this",
                                             image=pictures["small"]), atol=TOLERANCE)
    own = embedder.embed_queries(["a fox"], instruction="Find photos of animals")
    np.testing.assert_allclose(
        own[0], reference.vl_embed(tiny_vl_models.embedding, text="a fox",
                                   instruction="Find photos of animals"), atol=TOLERANCE)


def test_matryoshka_dimensions_and_image_lists(tiny_vl_models, pictures):
    with Qwen3VLEmbedder(tiny_vl_models.embedding, dimensions=32, **SETTINGS) as short:
        vectors = short.embed_images([pictures["small"], pictures["wide"]])
        both = short.embed_documents([{"image": [pictures["small"], pictures["wide"]]}])
    assert vectors.shape == (2, 32)
    for row, name in zip(vectors, ("small", "wide")):
        np.testing.assert_allclose(
            row, reference.vl_embed(tiny_vl_models.embedding, image=pictures[name],
                                    dimensions=32), atol=TOLERANCE)
    np.testing.assert_allclose(
        both[0], reference.vl_embed(tiny_vl_models.embedding,
                                    image=[pictures["small"], pictures["wide"]], dimensions=32),
        atol=TOLERANCE)


def test_async_embedding_equals_sync(embedder, pictures):
    inputs = ["text", {"image": pictures["small"]}]
    sync = embedder.embed_documents(inputs)
    np.testing.assert_allclose(asyncio.run(embedder.aembed_documents(inputs)), sync, atol=0)


def test_rerank_scores_as_the_official_script(reranker, tiny_vl_models, pictures):
    documents = _documents(pictures)
    for query, reference_query in [
        ("a fox in the snow", {"text": "a fox in the snow"}),
        ({"image": pictures["small"]}, {"image": pictures["small"]}),
        ({"text": "like this", "image": pictures["wide"]},
         {"text": "like this", "image": pictures["wide"]}),
    ]:
        scores = reranker.score(query, [core for core, _, _ in documents])
        expected = [reference.vl_rerank_score(tiny_vl_models.reranker, reference_query,
                                               _reference_input(text, image))
                    for _, text, image in documents]
        np.testing.assert_allclose(scores, expected, atol=TOLERANCE)


def _reference_input(text, image) -> dict:
    return {key: value for key, value in (("text", text), ("image", image)) if value is not None}


def test_rerank_orders_and_keeps_the_inputs(reranker, pictures):
    documents = [core for core, _, _ in _documents(pictures)]
    scores = reranker.score("a fox", documents)
    ranked = reranker.rerank("a fox", documents, top_n=3)
    assert [r.index for r in ranked] == sorted(range(len(scores)), key=lambda i: -scores[i])[:3]
    assert all(r.document is documents[r.index] for r in ranked)
    again = asyncio.run(reranker.arerank("a fox", documents, top_n=3))
    assert [(r.index, r.score) for r in again] == [(r.index, r.score) for r in ranked]


def test_own_instruction_reaches_the_reranker(reranker, tiny_vl_models, pictures):
    score = reranker.score("fox", [{"image": pictures["small"]}], instruction="Is it a fox?")
    expected = reference.vl_rerank_score(tiny_vl_models.reranker, {"text": "fox"},
                                         {"image": pictures["small"]}, instruction="Is it a fox?")
    assert score[0] == pytest.approx(expected, abs=TOLERANCE)


def test_a_bad_image_names_every_bad_input_and_runs_nothing(reranker, tmp_path, pictures):
    (tmp_path / "notes.png").write_text("not a picture")
    documents = ["fine", {"image": tmp_path / "notes.png"}, pictures["small"],
                 {"image": "https://example.com/a.png"}]
    with pytest.raises(ImageError) as raised:
        reranker.score("q", documents)
    places = [place for place, _ in raised.value.failures]
    assert places == ["documents[1]", "documents[3]"]
    assert raised.value.positions == (1, 3)
    assert "notes.png" in str(raised.value) and "allow_remote_images" in str(raised.value)
    # The good ones score as on their own.
    alone = reranker.score("q", ["fine", pictures["small"]])
    assert reranker.score("q", [documents[0], documents[2]]) == alone


def test_one_engine_per_model_and_the_wrong_class_says_which(tiny_vl_models, tiny_models,
                                                             embedder):
    with Qwen3VLEmbedder(tiny_vl_models.embedding, **SETTINGS) as second:
        assert second.shares_engine_with(embedder)
    with pytest.raises(ValueError, match="model_type='qwen3_vl'.*qwen3_core.vision.Qwen3VLEmb"):
        Qwen3Embedder(tiny_vl_models.embedding, **SETTINGS)
    with pytest.raises(ValueError, match="model_type='qwen3'.*qwen3_core.Qwen3Reranker"):
        Qwen3VLReranker(tiny_models.reranker, **SETTINGS)
    with pytest.raises(TypeError, match="allow_remote_images must be True or False"):
        Qwen3VLEmbedder(tiny_vl_models.embedding, allow_remote_images="yes", **SETTINGS)
