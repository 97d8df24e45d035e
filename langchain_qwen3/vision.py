"""Qwen3-VL for LangChain: ``Qwen3VLEmbeddings`` and ``Qwen3VLRerank`` (text, images, or both).

Texts and images share one vector space, so a vector store filled with ``add_texts`` and
``add_images`` (langchain-chroma's convention, also ``OpenCLIPEmbeddings``') answers a text query
with either. The reranker reads Documents that are text, image, or both: a Document whose
metadata has the image key (``"image"`` by default: a path or a ``data:`` URL) is an image with
its ``page_content`` as text; a Document whose ``page_content`` is a base64 image (what
``Chroma.add_images`` stores) is that image.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
from collections.abc import Sequence
from typing import Any, ClassVar, cast

from langchain_core.callbacks import Callbacks
from langchain_core.documents import BaseDocumentCompressor, Document
from langchain_core.embeddings import Embeddings
from pydantic import Field, PositiveInt

from langchain_qwen3._reranking import SCORE_KEY as SCORE_KEY
from langchain_qwen3._reranking import (
    RefusesBarePipe,
    RerankHit,
    as_hits,
    scored_copies,
    worth_ranking,
)
from langchain_qwen3._settings import EngineSettings
from qwen3_core.spec import EngineSpec, Kind
from qwen3_core.vision import (
    DEFAULT_MAX_INPUT_PIXELS,
    DEFAULT_VL_EMBEDDING_MODEL,
    DEFAULT_VL_RERANKER_MODEL,
    VL_RERANK_MAX_LENGTH,
    Qwen3VLEmbedder,
    Qwen3VLReranker,
    VisionInput,
)

__all__ = ["Qwen3VLEmbeddings", "Qwen3VLRerank"]

#: How the formats the models read begin, once base64-decoded (PNG, JPEG, GIF, WEBP, BMP, TIFF).
_IMAGE_MAGIC = (b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff", b"GIF87a", b"GIF89a", b"RIFF", b"BM",
                b"II*\x00", b"MM\x00*")


class _VisionSettings(EngineSettings):
    """The engine settings plus the image options both Qwen3-VL wrappers share."""

    allow_remote_images: bool = Field(default=False, frozen=True)
    """Fetch http(s) image URLs; off by default, so nothing reaches the network."""
    max_image_pixels: PositiveInt = Field(default=DEFAULT_MAX_INPUT_PIXELS, frozen=True)
    """Refuse images with more pixels than this, before decoding them."""

    def _image_options(self) -> dict[str, Any]:
        return {"allow_remote_images": self.allow_remote_images,
                "max_image_pixels": self.max_image_pixels}


class Qwen3VLEmbeddings(_VisionSettings, Embeddings):
    """Qwen3-VL-Embedding for LangChain vector stores: texts and images in one space.

    Queries get the instruction (the model card's when None), documents and images the model
    card's document prompt; vectors come back as lists of plain floats of unit length.
    :meth:`embed_image` takes image paths (or ``data:`` URLs), the method langchain-chroma's
    ``Chroma.add_images`` calls. Wrappers opened with the same settings share one engine.

    Examples:
        >>> from langchain_chroma import Chroma  # doctest: +SKIP
        >>> embeddings = Qwen3VLEmbeddings(model="Qwen/Qwen3-VL-Embedding-2B")
        >>> store = Chroma(embedding_function=embeddings, persist_directory="index")
        >>> store.add_images(["cat.png", "dog.jpg"])
        >>> store.similarity_search("a sleeping cat", k=1)
    """

    _kind: ClassVar[Kind] = "embedding"

    model: str = Field(default=DEFAULT_VL_EMBEDDING_MODEL, alias="model_name", frozen=True)
    """Hugging Face id (``Qwen/Qwen3-VL-Embedding-2B``, ``-8B``) or a local directory."""
    dimensions: int | None = Field(default=None, frozen=True)
    """Keep the first ``dimensions`` values and renormalise (Matryoshka); all when None."""
    batch_size: int = Field(default=32, gt=0)
    """Texts or images per call to the engine."""

    def model_post_init(self, context: Any, /) -> None:
        """Open (or join) the engine for these settings."""
        self._core = Qwen3VLEmbedder.from_spec(self._new_spec(), dimensions=self.dimensions,
                                               **self._image_options())

    @property
    def embedder(self) -> Qwen3VLEmbedder:
        """The core embedder doing the work (e.g. for ``shares_engine_with``)."""
        return cast(Qwen3VLEmbedder, self._core)

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        """Embed documents given as text.

        Args:
            texts: The documents.

        Returns:
            One vector per text, as lists of floats.
        """
        vectors: list[list[float]] = []
        for batch in _batches(texts, self.batch_size):
            vectors += self.embedder.embed_documents(batch).tolist()
        return vectors

    def embed_query(self, text: str, *, instruction: str | None = None) -> list[float]:
        """Embed a search query with the instruction.

        Args:
            text: The query.
            instruction: Overrides the wrapper's ``instruction`` for this call.

        Returns:
            The vector, as a list of floats.
        """
        return self.embedder.embed_queries([text], instruction)[0].tolist()

    def embed_image(self, uris: list[str]) -> list[list[float]]:
        """Embed images, as documents.

        Args:
            uris: Image paths or ``data:`` URLs (http(s) URLs with ``allow_remote_images``).

        Returns:
            One vector per image, as lists of floats.
        """
        vectors: list[list[float]] = []
        for batch in _batches(uris, self.batch_size):
            vectors += self.embedder.embed_images(batch).tolist()
        return vectors

    async def aembed_documents(self, texts: list[str]) -> list[list[float]]:
        """Async :meth:`embed_documents`, on the engine's own async path."""
        vectors: list[list[float]] = []
        for batch in _batches(texts, self.batch_size):
            vectors += (await self.embedder.aembed_documents(batch)).tolist()
        return vectors

    async def aembed_query(self, text: str, *, instruction: str | None = None) -> list[float]:
        """Async :meth:`embed_query`, on the engine's own async path."""
        return (await self.embedder.aembed_queries([text], instruction))[0].tolist()

    async def aembed_image(self, uris: list[str]) -> list[list[float]]:
        """Async :meth:`embed_image`, on the engine's own async path."""
        vectors: list[list[float]] = []
        for batch in _batches(uris, self.batch_size):
            vectors += (await self.embedder.aembed_images(batch)).tolist()
        return vectors


class Qwen3VLRerank(_VisionSettings, RefusesBarePipe, BaseDocumentCompressor):
    """Qwen3-VL-Reranker for LangChain: orders text and image Documents by relevance.

    A Document is read as:

    * image and text when ``metadata[image_key]`` holds an image path or ``data:`` URL (its
      ``page_content`` is the text, unless empty or the base64 image itself);
    * an image when its ``page_content`` is a base64-encoded image (``Chroma.add_images``);
    * text otherwise.

    Use it in ``ContextualCompressionRetriever`` or with
    :func:`~langchain_qwen3.rerank_retriever`; a bare ``retriever | reranker`` fails when
    composed, as for :class:`~langchain_qwen3.Qwen3Rerank`. ``max_length`` defaults to the
    official reranker script's 10,240 tokens unless given. Wrappers opened with the same settings
    share one engine.

    Examples:
        >>> reranker = Qwen3VLRerank(model="Qwen/Qwen3-VL-Reranker-2B", top_n=3)  # doctest: +SKIP
        >>> best = reranker.compress_documents(store.similarity_search(query, k=10), query)
        >>> best[0].metadata["relevance_score"]
    """

    _kind: ClassVar[Kind] = "reranker"

    model: str = Field(default=DEFAULT_VL_RERANKER_MODEL, alias="model_name", frozen=True)
    """Hugging Face id (``Qwen/Qwen3-VL-Reranker-2B``, ``-8B``) or a local directory."""
    top_n: PositiveInt | None = 3
    """How many documents to return, best first; all when None."""
    score_threshold: float | None = Field(default=None, ge=0.0, le=1.0)
    """Drop documents scoring below this P(yes); keep all when None."""
    image_key: str = Field(default="image", min_length=1)
    """Metadata key holding a Document's image (a path or a ``data:`` URL)."""

    def model_post_init(self, context: Any, /) -> None:
        """Open (or join) the engine for these settings."""
        spec = self._new_spec()
        if "max_length" not in self.model_fields_set:
            spec = _with_max_length(spec, VL_RERANK_MAX_LENGTH)
        self._core = Qwen3VLReranker.from_spec(spec, **self._image_options())

    @property
    def reranker(self) -> Qwen3VLReranker:
        """The core reranker doing the work (e.g. for ``shares_engine_with``)."""
        return cast(Qwen3VLReranker, self._core)

    def rerank(
        self,
        documents: Sequence[str | Document],
        query: str,
        *,
        top_n: int | None = None,
        score_threshold: float | None = None,
        instruction: str | None = None,
    ) -> list[RerankHit]:
        """Rank documents by relevance to ``query``, best first (ties keep input order).

        Args:
            documents: Candidate texts or Documents (text, image, or both; see the class).
            query: The search query.
            top_n: Overrides the reranker's ``top_n`` for this call.
            score_threshold: Overrides the reranker's ``score_threshold`` for this call.
            instruction: Overrides the reranker's ``instruction`` for this call.

        Returns:
            ``{"index": position in documents, "relevance_score": P(yes)}`` per kept document.
        """
        inputs, options = self._arguments(documents, top_n, score_threshold, instruction)
        return as_hits(self.reranker.rerank(query, inputs, **options))

    async def arerank(
        self,
        documents: Sequence[str | Document],
        query: str,
        *,
        top_n: int | None = None,
        score_threshold: float | None = None,
        instruction: str | None = None,
    ) -> list[RerankHit]:
        """Async :meth:`rerank`, on the engine's own async path."""
        inputs, options = self._arguments(documents, top_n, score_threshold, instruction)
        return as_hits(await self.reranker.arerank(query, inputs, **options))

    def compress_documents(
        self,
        documents: Sequence[Document],
        query: str,
        callbacks: Callbacks | None = None,
        *,
        instruction: str | None = None,
    ) -> Sequence[Document]:
        """Return copies of the best ``top_n`` documents, best first, scored in metadata.

        Args:
            documents: Retrieved documents; never modified.
            query: The query they were retrieved for.
            callbacks: Unused; part of LangChain's interface.
            instruction: Overrides the reranker's ``instruction`` for this call.

        Returns:
            Copies with ``metadata["relevance_score"]``; ``[]`` for no documents.
        """
        if not worth_ranking(documents, query):
            return []
        return scored_copies(documents, self.rerank(documents, query, instruction=instruction))

    async def acompress_documents(
        self,
        documents: Sequence[Document],
        query: str,
        callbacks: Callbacks | None = None,
        *,
        instruction: str | None = None,
    ) -> Sequence[Document]:
        """Async :meth:`compress_documents`, on the engine's own async path."""
        if not worth_ranking(documents, query):
            return []
        hits = await self.arerank(documents, query, instruction=instruction)
        return scored_copies(documents, hits)

    def _arguments(
        self,
        documents: Sequence[str | Document],
        top_n: int | None,
        score_threshold: float | None,
        instruction: str | None,
    ) -> tuple[list[VisionInput], dict[str, Any]]:
        """The inputs and keyword arguments of one core rerank call (per-call values first)."""
        if isinstance(documents, (str, Document)):
            raise TypeError("documents must be a sequence of str or Document, not a single one")
        return [self._input_of(doc) for doc in documents], {
            "top_n": self.top_n if top_n is None else top_n,
            "score_threshold": self.score_threshold if score_threshold is None else score_threshold,
            "instruction": instruction,
        }

    def _input_of(self, document: str | Document) -> VisionInput:
        """What the model reads of one document: its text, its image, or both."""
        if isinstance(document, str):
            return document
        content = document.page_content
        embedded = _base64_image(content)
        image = document.metadata.get(self.image_key)
        if image is None or image == "":
            return content if embedded is None else embedded
        text = content if content.strip() and embedded is None else None
        return {"text": text, "image": image}


def _batches(items: list[str], size: int) -> list[list[str]]:
    return [items[i:i + size] for i in range(0, len(items), size)]


def _with_max_length(spec: EngineSpec, max_length: int) -> EngineSpec:
    return dataclasses.replace(spec, max_length=max_length)


def _base64_image(text: str) -> bytes | None:
    """The image bytes if ``text`` is a base64-encoded image, else None.

    That is how ``Chroma.add_images`` stores images; a cheap look at the first bytes decides
    before the whole is decoded.
    """
    if len(text) < 16 or not text[:16].isascii():
        return None
    try:
        head = base64.b64decode(text[:16], validate=True)
    except (binascii.Error, ValueError):
        return None
    if not head.startswith(_IMAGE_MAGIC):
        return None
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return None
