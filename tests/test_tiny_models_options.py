"""The random-weight models honour the requested weight scale and storage precision."""

from __future__ import annotations

import json

import pytest
from safetensors import safe_open

from qwen3_core.testing.tiny_models import TinyShape, build_tiny_models


@pytest.fixture(scope="module")
def narrow_bf16_models(tmp_path_factory):
    shape = TinyShape(initializer_range=0.02, weights_dtype="bfloat16")
    return build_tiny_models(tmp_path_factory.mktemp("narrow-bf16"), shape=shape)


def _tensors(directory):
    with safe_open(str(directory / "model.safetensors"), framework="pt") as weights:
        return {name: weights.get_tensor(name) for name in weights.keys()}


def test_weights_are_stored_in_the_requested_precision(narrow_bf16_models):
    import torch

    for directory in (narrow_bf16_models.embedding, narrow_bf16_models.reranker):
        assert {t.dtype for t in _tensors(directory).values()} == {torch.bfloat16}


def test_weights_are_drawn_with_the_requested_scale(narrow_bf16_models):
    config = json.loads((narrow_bf16_models.reranker / "config.json").read_text())
    assert config["initializer_range"] == 0.02
    # Projection matrices are drawn from N(0, 0.02^2): their sample deviation is close to it.
    weights = _tensors(narrow_bf16_models.reranker)
    projection = weights["model.layers.0.mlp.up_proj.weight"].float()
    assert abs(projection.std().item() - 0.02) < 0.002


def test_changing_the_options_rebuilds_the_models(tmp_path):
    import torch

    build_tiny_models(tmp_path)
    wide = _tensors(tmp_path / "reranker")["model.layers.0.mlp.up_proj.weight"]
    assert wide.dtype == torch.float32 and wide.std().item() > 0.1
    build_tiny_models(tmp_path, shape=TinyShape(initializer_range=0.02, weights_dtype="bfloat16"))
    narrow = _tensors(tmp_path / "reranker")["model.layers.0.mlp.up_proj.weight"]
    assert narrow.dtype == torch.bfloat16 and narrow.float().std().item() < 0.03

