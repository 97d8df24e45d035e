"""Lexical (BM25) recall beside a vector store, for Chinese and English, and rank fusion.

:class:`PassageStore` keeps a collection's passages in SQLite, written in the same batches as
the vectors; :func:`build_index` builds the bm25s index from it and records a fingerprint the
collection must match (:meth:`LexicalIndex.check_in_step`); :func:`reciprocal_rank_fusion`
merges dense and BM25 candidates before the reranker. Needs the ``hybrid`` extra (bm25s,
PyStemmer, jieba), imported on first use.
"""

from __future__ import annotations

from qwen3_core.lexical.fusion import DEFAULT_RRF_K, reciprocal_rank_fusion
from qwen3_core.lexical.hybrid import (
    MODES,
    Candidate,
    HybridSearcher,
    default_lexical_dir,
    fuse,
    open_persisted,
)
from qwen3_core.lexical.index import (
    MARKER_KEY,
    EmptyLexicalQuery,
    ForeignLexicalIndex,
    LexicalHit,
    LexicalIndex,
    LexicalIndexError,
    Manifest,
    MissingLexicalIndex,
    StaleLexicalIndex,
    build_index,
    collection_fingerprint,
    collection_hashes,
    marker,
    read_manifest,
    text_hash,
)
from qwen3_core.lexical.store import PassageStore, StoredPassage, fingerprint
from qwen3_core.lexical.tokenize import CHINESE_MODES, DEFAULT_TOKENIZER, BilingualTokenizer

__all__ = [
    "CHINESE_MODES",
    "DEFAULT_RRF_K",
    "DEFAULT_TOKENIZER",
    "MARKER_KEY",
    "MODES",
    "BilingualTokenizer",
    "Candidate",
    "EmptyLexicalQuery",
    "ForeignLexicalIndex",
    "HybridSearcher",
    "LexicalHit",
    "LexicalIndex",
    "LexicalIndexError",
    "Manifest",
    "MissingLexicalIndex",
    "PassageStore",
    "StaleLexicalIndex",
    "StoredPassage",
    "build_index",
    "collection_fingerprint",
    "collection_hashes",
    "default_lexical_dir",
    "fingerprint",
    "fuse",
    "open_persisted",
    "marker",
    "read_manifest",
    "reciprocal_rank_fusion",
    "text_hash",
]
