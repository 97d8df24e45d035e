"""The lexical index's parts: bilingual tokens, RRF against a hand computation, the passage store,
bm25s builds with their fingerprint, and the refusals (stale, foreign, stop words only)."""

from __future__ import annotations

import json

import pytest

from qwen3_core.lexical import (
    BilingualTokenizer,
    EmptyLexicalQuery,
    ForeignLexicalIndex,
    LexicalIndex,
    MissingLexicalIndex,
    PassageStore,
    StaleLexicalIndex,
    build_index,
    fingerprint,
    marker,
    reciprocal_rank_fusion,
)

TEXTS = {
    "starter": "Feeding a sourdough starter once a day keeps it lively.",
    "tea": "Green tea is brewed with water at about eighty degrees.",
    "bike": "自行车内胎被扎破后，可以用补胎片修补。",
    "moon": "月相变化大约每二十九天半重复一次。",
}


def test_english_is_lower_cased_stemmed_and_stop_words_dropped():
    tokens = BilingualTokenizer()("The Feeding of STARTERS, and bicycles")
    assert tokens == ["feed", "starter", "bicycl"]


def test_chinese_is_cut_into_words_by_jieba_or_into_bigrams():
    assert BilingualTokenizer("jieba")("自行车内胎被扎破了") == ["自行车", "内胎", "扎破"]
    assert BilingualTokenizer("bigram", stop_words=False)("内胎破") == ["内胎", "胎破"]
    assert BilingualTokenizer("bigram")("茶") == ["茶"]


def test_mixed_text_full_width_letters_and_digits():
    assert BilingualTokenizer("jieba")("ＧＰＵ显存 24GB") == ["gpu", "显存", "24gb"]
    # The default adds each Chinese word's characters: a query cut otherwise still meets it.
    assert BilingualTokenizer()("ＧＰＵ显存 24GB") == ["gpu", "显存", "显", "存", "24gb"]
    assert BilingualTokenizer("char")("内胎") == ["内", "胎"]


def test_an_unknown_chinese_mode_names_the_valid_ones():
    with pytest.raises(ValueError, match="'words'.*valid: jieba.char, jieba, bigram, char"):
        BilingualTokenizer("words")


def test_the_spec_round_trips_and_a_foreign_one_is_refused():
    tokenizer = BilingualTokenizer("bigram", stem=False)
    assert BilingualTokenizer.from_spec(tokenizer.spec).spec == tokenizer.spec
    with pytest.raises(ValueError, match="unknown tokenizer"):
        BilingualTokenizer.from_spec("whitespace")


def test_rrf_matches_a_hand_computation():
    dense = ["a", "b", "c", "d"]
    bm25 = ["c", "a", "e"]
    fused = dict(reciprocal_rank_fusion([dense, bm25], k=60))
    # a: 1/(60+1) + 1/(60+2); b: 1/62; c: 1/63 + 1/61; d: 1/64; e: 1/63
    assert fused["a"] == pytest.approx(1 / 61 + 1 / 62)
    assert fused["c"] == pytest.approx(1 / 63 + 1 / 61)
    assert fused["b"] == pytest.approx(1 / 62)
    assert fused["d"] == pytest.approx(1 / 64)
    assert fused["e"] == pytest.approx(1 / 63)
    order = [pid for pid, _ in reciprocal_rank_fusion([dense, bm25], k=60)]
    assert order == ["a", "c", "b", "e", "d"]  # b (1/62) before e (1/63) before d (1/64)


def test_rrf_weights_k_limit_duplicates_and_ties():
    fused = reciprocal_rank_fusion([["a", "b", "a"], ["b"]], k=0, weights=[2.0, 0.5])
    # k=0: a = 2/1; b = 2/2 + 0.5/1; the repeated "a" counts once, at rank 1.
    assert fused == [("a", 2.0), ("b", 1.5)]
    assert reciprocal_rank_fusion([["x"], ["y"]], limit=1) == [("x", pytest.approx(1 / 61))]
    assert [i for i, _ in reciprocal_rank_fusion([["x", "y"], ["y", "x"]])] == ["x", "y"]
    assert reciprocal_rank_fusion([["x"], ["y"]], weights=[0, 1])[0][0] == "y"


@pytest.mark.parametrize(("options", "message"), [
    ({"k": -1}, "k must be 0 or more, got -1"),
    ({"weights": [1.0]}, "1 weights for 2 ranked lists"),
    ({"weights": [1.0, -2.0]}, r"weights must be 0 or more, got \[1.0, -2.0\]"),
    ({"limit": 0}, "limit must be at least 1, got 0"),
])
def test_rrf_bad_settings_name_the_value(options, message):
    with pytest.raises(ValueError, match=message):
        reciprocal_rank_fusion([["a"], ["b"]], **options)


def _store(directory, texts=TEXTS):
    store = PassageStore(directory)
    ids = list(texts)
    store.upsert(ids, [texts[i] for i in ids], [f"h-{i}" for i in ids],
                 [{"source": "file.jsonl"} for _ in ids])
    return store


class _Collection:
    """What check_in_step reads of a Chroma collection."""

    def __init__(self, name, cid, pairs, recorded=None):
        self.name, self.id, self._pairs = name, cid, dict(pairs)
        self.metadata = {"qwen3_rag_lexical_fingerprint": recorded} if recorded else {}

    def count(self):
        return len(self._pairs)

    def get(self, include=(), limit=None, offset=0, ids=None):
        ids = list(self._pairs)[offset:offset + (limit or len(self._pairs))]
        return {"ids": ids, "metadatas": [{"content_hash": self._pairs[i]} for i in ids]}


def test_build_search_english_and_chinese(tmp_path):
    with _store(tmp_path) as store:
        manifest = build_index(store, collection="c", collection_id="id-1")
    assert manifest.count == 4
    assert (manifest.count, manifest.digest) == fingerprint((i, f"h-{i}") for i in TEXTS)
    with LexicalIndex.open(tmp_path, collection="c") as index:
        assert [hit.id for hit in index.search("how to feed a starter", 3)] == ["starter"]
        hits = index.search("内胎破了怎么修补", 3)
        assert [hit.id for hit in hits] == ["bike"]
        assert hits[0].text == TEXTS["bike"] and hits[0].metadata == {"source": "file.jsonl"}
        assert index.search("volcano", 3) == []  # no shared word: nothing, not an error


def test_a_query_of_only_stop_words_says_so_in_one_line(tmp_path):
    with _store(tmp_path) as store:
        build_index(store, collection="c", collection_id="id-1")
    with LexicalIndex.open(tmp_path) as index, pytest.raises(EmptyLexicalQuery) as caught:
        index.search("the of and 的", 3)
    message = str(caught.value)
    assert "\n" not in message
    assert "only stop words: the, of, and, 的" in message and "--mode dense" in message


def test_in_step_by_marker_or_by_full_scan_and_stale_otherwise(tmp_path):
    with _store(tmp_path) as store:
        manifest = build_index(store, collection="c", collection_id="id-1")
    pairs = {i: f"h-{i}" for i in TEXTS}
    with LexicalIndex.open(tmp_path) as index:
        index.check_in_step(_Collection("c", "id-1", pairs, manifest.marker))
        index.check_in_step(_Collection("c", "id-1", pairs))  # no marker: full scan agrees
        changed = {**pairs, "tea": "h-other"}
        with pytest.raises(StaleLexicalIndex, match="out of step.*4 passages, the collection "
                                                    "4, changed since"):
            index.check_in_step(_Collection("c", "id-1", changed))
        with pytest.raises(StaleLexicalIndex, match="holds 4 passages, the collection 5"):
            index.check_in_step(_Collection("c", "id-1", {**pairs, "new": "h"},
                                            marker(4, manifest.digest)))
        with pytest.raises(ForeignLexicalIndex, match="built for collection 'c' .id id-1."):
            index.check_in_step(_Collection("c", "id-2", pairs, manifest.marker))


def test_missing_foreign_and_other_collections_index_are_refused(tmp_path):
    with pytest.raises(MissingLexicalIndex, match="no lexical index in"):
        LexicalIndex.open(tmp_path)
    with _store(tmp_path) as store:
        build_index(store, collection="c", collection_id="id-1")
    with pytest.raises(ForeignLexicalIndex, match="belongs to collection 'c', not 'd'"):
        LexicalIndex.open(tmp_path, collection="d")
    (tmp_path / "current.json").write_text(json.dumps({"format": 99}))
    with pytest.raises(ForeignLexicalIndex, match="not a qwen3-rag lexical index manifest"):
        LexicalIndex.open(tmp_path)


def test_a_passage_changed_after_the_build_is_never_returned_stale(tmp_path):
    with _store(tmp_path) as store:
        build_index(store, collection="c", collection_id="id-1")
        store.upsert(["starter"], ["A rye starter."], ["h-new"], [{"source": "file.jsonl"}])
    with LexicalIndex.open(tmp_path) as index, pytest.raises(StaleLexicalIndex,
                                                            match="'starter' changed"):
        index.search("sourdough starter", 3)


def test_replace_prune_and_rebuild(tmp_path):
    with _store(tmp_path) as store:
        store.upsert(["tea"], ["Black tea wants boiling water."], ["h-tea2"],
                     [{"source": "file.jsonl"}])
        assert store.prune("file.jsonl", keep={"tea", "bike"}) == 2
        build_index(store, collection="c", collection_id="id-1")
        assert store.hashes() == {"tea": "h-tea2", "bike": "h-bike"}
    with LexicalIndex.open(tmp_path) as index:
        assert len(index) == 2
        assert [h.id for h in index.search("boiling water", 5)] == ["tea"]
        assert index.search("sourdough", 5) == []
    builds = [p.name for p in tmp_path.iterdir() if p.name.startswith("bm25-")]
    assert len(builds) == 1  # the superseded build is gone


def test_another_tokenizer_retokenizes_the_store(tmp_path):
    _store(tmp_path).close()
    with PassageStore(tmp_path, BilingualTokenizer("bigram")) as store:
        tokens = {pid: words for pid, _, words in store.tokens()}
    assert "内胎" in tokens["bike"] and "车内" in tokens["bike"]


def test_an_empty_store_builds_an_index_that_finds_nothing(tmp_path):
    with PassageStore(tmp_path) as store:
        manifest = build_index(store, collection="c", collection_id="id-1")
    assert manifest.count == 0
    with LexicalIndex.open(tmp_path) as index:
        assert index.search("anything", 5) == []
