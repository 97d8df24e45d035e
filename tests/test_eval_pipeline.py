"""Eval collections: one per test set, passages and model settings, with a valid Chroma name."""

from __future__ import annotations

import re

from qwen3_rag.evaluation import TestSet
from qwen3_rag.evaluation.pipeline import collection_name

QRELS = {"q1": {"p1": 1}}


def _set(name: str, passages: dict[str, str]) -> TestSet:
    return TestSet(name, passages, {"q1": "query"}, QRELS)


def test_the_same_set_and_model_find_the_same_collection():
    base = _set("my set/v1", {"p1": "one", "p2": "two"})
    name = collection_name(base, "Qwen/Qwen3-Embedding-0.6B", 1024, 8192)
    # Chroma's rule: 3-512 of [A-Za-z0-9._-], a letter or digit at both ends.
    assert re.fullmatch(r"eval-my-set-v1-[0-9a-f]{16}", name)
    reordered = _set("my set/v1", {"p2": "two", "p1": "one"})
    assert collection_name(reordered, "Qwen/Qwen3-Embedding-0.6B", 1024, 8192) == name


def test_anything_that_changes_the_vectors_changes_the_collection():
    base = _set("set", {"p1": "one", "p2": "two"})
    name = collection_name(base, "m", 1024, 8192)
    changed = [
        collection_name(_set("set", {"p1": "one", "p2": "two!"}), "m", 1024, 8192),
        collection_name(_set("set", {"p1": "one", "p3": "two"}), "m", 1024, 8192),
        collection_name(base, "other", 1024, 8192),
        collection_name(base, "m", 512, 8192),
        collection_name(base, "m", 1024, 512),
    ]
    assert len({name, *changed}) == 6
