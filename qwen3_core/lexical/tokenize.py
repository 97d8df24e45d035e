"""Tokens for BM25 in Chinese and English: jieba words and characters, stemmed English.

Text is NFKC-normalised (full-width letters and digits become ASCII) and lower-cased, then cut
into runs of Han characters and runs of other letters or digits. Han runs are cut into words by
jieba, and each word's characters are added; other runs are words, stemmed with the Snowball
English stemmer (PyStemmer) so "feeding" finds "feed". Stop words of both languages are dropped:
they match nearly every passage and only add noise to BM25.

Measured on the bilingual test set shipped with ``qwen3-rag eval`` (42 passages, 8 Chinese and
8 English queries), BM25 alone (bm25s k1=1.5, b=0.75), nDCG@10 (``python -m bench.lexical``;
the full table is in ``docs/hybrid.md``):

==========================================  =====  =======  =======
tokenizer                                   all    Chinese  English
==========================================  =====  =======  =======
whitespace split (LangChain's default)      0.322  0.000    0.643
Han bigrams, stemmed, stop words            0.429  0.221    0.638
jieba words, stemmed, stop words            0.429  0.221    0.638
Han characters, stemmed, stop words         0.482  0.326    0.638
jieba words + characters (the default)      0.482  0.326    0.638
the default without stemming                0.491  0.326    0.655
==========================================  =====  =======  =======

Characters win for Chinese because a query is often cut differently from its passage; words
are kept too for their higher IDF on large corpora. Stemming moves one English query of eight
here; it is kept, as in bm25s's BEIR setup, and ``stem=False`` turns it off.

jieba and PyStemmer are imported on first use, so importing this module costs nothing.
"""

from __future__ import annotations

import re
import threading
import unicodedata
import warnings
from collections.abc import Callable
from functools import lru_cache

__all__ = ["CHINESE_MODES", "DEFAULT_TOKENIZER", "BilingualTokenizer"]

#: How Han text is cut: ``jieba+char`` (jieba's words and each word's characters), ``jieba``
#: (words), ``bigram`` (overlapping character pairs) or ``char`` (single characters).
CHINESE_MODES = ("jieba+char", "jieba", "bigram", "char")

# Han ideographs (CJK Unified, Extension A, Compatibility); other letters and digits form words.
_HAN = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_RUNS = re.compile(rf"([{_HAN}]+)|([^\W_{_HAN}]+)")

# Lucene's English stop words (what bm25s uses for "en"): a short list, so "not" and "no"
# stay searchable... except that Lucene drops them too; BM25 weighs rare words anyway.
_ENGLISH_STOP = frozenset("""a an and are as at be but by for if in into is it no not of on or
such that the their then there these they this to was will with i you he she we me my your
what which who whom how when where why do does did can could should would has have had""".split())
# Function words and particles that jieba gives as words of their own; a short list on purpose
# (bm25s's 800-word Chinese list drops content words such as 时候 and 方面).
_CHINESE_STOP = frozenset("""的 了 是 在 和 与 及 或 也 都 就 而 被 把 吗 呢 吧 啊 呀 么 着 过
之 其 这 那 这个 那个 一个 什么 怎么 怎样 如何 为什么 哪 哪里 多少 我 你 他 她 它 我们 你们
他们 有 没有 会 要 能 可以 应该 需要 对 从 到 为 以 于 让 给 用""".split())

_jieba_lock = threading.Lock()


@lru_cache(maxsize=1)
def _jieba_cut() -> Callable[[str], list[str]]:
    with _jieba_lock, warnings.catch_warnings():
        warnings.simplefilter("ignore")  # jieba imports the deprecated pkg_resources
        import logging

        import jieba

        jieba.setLogLevel(logging.WARNING)  # no "Building prefix dict" lines on stderr
        jieba.initialize()
    return lambda text: jieba.lcut(text, HMM=True)


@lru_cache(maxsize=1)
def _stemmer() -> Callable[[list[str]], list[str]]:
    import Stemmer

    return Stemmer.Stemmer("english").stemWords


def _bigrams(run: str) -> list[str]:
    if len(run) == 1:
        return [run]
    return [run[i:i + 2] for i in range(len(run) - 1)]


class BilingualTokenizer:
    """Cuts Chinese and English text into BM25 tokens.

    Args:
        chinese: How Han text is cut, one of :data:`CHINESE_MODES`.
        stem: Stem English words (Snowball English, PyStemmer).
        stop_words: Drop the stop words of both languages.

    Raises:
        ValueError: An unknown ``chinese`` mode; the message lists the valid ones.
    """

    def __init__(self, chinese: str = "jieba+char", *, stem: bool = True,
                 stop_words: bool = True):
        if chinese not in CHINESE_MODES:
            raise ValueError(f"unknown Chinese tokenisation {chinese!r}; valid: "
                             f"{', '.join(CHINESE_MODES)}")
        self.chinese, self.stem, self.stop_words = chinese, stem, stop_words

    @property
    def spec(self) -> str:
        """What decides the tokens, recorded with an index so a query is cut the same way."""
        return (f"bilingual-v1;chinese={self.chinese};stem={'english' if self.stem else 'no'};"
                f"stop={'en,zh' if self.stop_words else 'none'}")

    @classmethod
    def from_spec(cls, spec: str) -> BilingualTokenizer:
        """The tokenizer a :attr:`spec` describes.

        Raises:
            ValueError: ``spec`` is not one this version writes.
        """
        name, _, rest = spec.partition(";")
        fields = dict(part.split("=", 1) for part in rest.split(";") if "=" in part)
        if name != "bilingual-v1" or set(fields) != {"chinese", "stem", "stop"}:
            raise ValueError(f"unknown tokenizer {spec!r}; this version writes "
                             f"{DEFAULT_TOKENIZER.spec!r}")
        return cls(fields["chinese"], stem=fields["stem"] == "english",
                   stop_words=fields["stop"] != "none")

    def stop_words_in(self, text: str) -> list[str]:
        """The words of ``text`` that are dropped as stop words (for messages)."""
        words = self._words(text)
        return [word for word, _ in words if self._is_stop(word)]

    def _is_stop(self, word: str) -> bool:
        return self.stop_words and (word in _ENGLISH_STOP or word in _CHINESE_STOP)

    def _words(self, text: str) -> list[tuple[str, bool]]:
        """(word, is English-like) in order, before stop words and stemming."""
        text = unicodedata.normalize("NFKC", text).lower()
        words: list[tuple[str, bool]] = []
        for match in _RUNS.finditer(text):
            han, other = match.groups()
            if han:
                words.extend((piece, False) for piece in self._han(han) if piece.strip())
            else:
                words.append((other, True))
        return words

    def _han(self, run: str) -> list[str]:
        if self.chinese == "bigram":
            return _bigrams(run)
        if self.chinese == "char":
            return list(run)
        pieces = _jieba_cut()(run)
        if self.chinese == "jieba":
            return pieces
        # Words for precision, and their characters so that a query cut differently from the
        # passage (扎破了 / 被扎破) still meets it.
        return [token for piece in pieces
                for token in ([piece, *piece] if len(piece) > 1 else [piece])]

    def __call__(self, text: str) -> list[str]:
        """The tokens of ``text``, in order (repeats kept: BM25 counts them)."""
        words = [(w, latin) for w, latin in self._words(text) if not self._is_stop(w)]
        if not self.stem:
            return [w for w, _ in words]
        latin = [w for w, is_latin in words if is_latin]
        stemmed = iter(_stemmer()(latin)) if latin else iter(())
        return [next(stemmed) if is_latin else w for w, is_latin in words]

    def __repr__(self) -> str:
        return f"BilingualTokenizer({self.spec!r})"


#: The tokenizer indexes are built with unless told otherwise.
DEFAULT_TOKENIZER = BilingualTokenizer()
