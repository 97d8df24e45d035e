"""Qwen3-VL for LlamaIndex: ``Qwen3VLEmbedding`` and ``Qwen3VLRerank`` (text, images, or both).

``Qwen3VLEmbedding`` is a ``MultiModalEmbedding``: texts, queries and images share one vector
space, so it serves as both ``embed_model`` and ``image_embed_model`` of a
``MultiModalVectorStoreIndex``. ``Qwen3VLRerank`` reorders retrieved ``ImageNode`` s and text
nodes together against a text query (and the query's image, when the ``QueryBundle`` has one).
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
from io import BytesIO
from typing import Any, ClassVar

from llama_index.core.base.embeddings.base import Embedding
from llama_index.core.bridge.pydantic import Field, PrivateAttr
from llama_index.core.callbacks import CBEventType, EventPayload
from llama_index.core.embeddings import MultiModalEmbedding
from llama_index.core.instrumentation import Dispatcher, get_dispatcher
from llama_index.core.postprocessor.types import BaseNodePostprocessor
from llama_index.core.schema import ImageNode, ImageType, MetadataMode, NodeWithScore, QueryBundle

from llama_index_qwen3._embedder_calls import EmbedderCalls
from llama_index_qwen3._engine_fields import EngineFields
from llama_index_qwen3._engine_lifecycle import EngineLifecycle
from llama_index_qwen3._rerank_reporting import RerankReporting, rescored
from qwen3_core.spec import Kind
from qwen3_core.vision import (
    DEFAULT_MAX_INPUT_PIXELS,
    DEFAULT_VL_EMBEDDING_MODEL,
    DEFAULT_VL_RERANKER_MODEL,
    VL_RERANK_MAX_LENGTH,
    ImageLike,
    Qwen3VLEmbedder,
    Qwen3VLReranker,
    VisionInput,
)

__all__ = ["Qwen3VLEmbedding", "Qwen3VLRerank"]

dispatcher = get_dispatcher(__name__)

# Images cost far more than texts; LlamaIndex's batches of this many go to the engine as one.
DEFAULT_VL_EMBED_BATCH_SIZE = 32


class _VisionFields(EngineFields):
    """The engine settings plus the image options both Qwen3-VL wrappers share."""

    allow_remote_images: bool = Field(
        default=False,
        description="Fetch http(s) image URLs (ImageNode.image_url); off: no network access.",
        frozen=True,
    )
    max_image_pixels: int = Field(
        default=DEFAULT_MAX_INPUT_PIXELS,
        description="Refuse images with more pixels than this, before decoding them.",
        gt=0,
        frozen=True,
    )

    def _image_options(self) -> dict[str, Any]:
        return {"allow_remote_images": self.allow_remote_images,
                "max_image_pixels": self.max_image_pixels}


class Qwen3VLEmbedding(_VisionFields, EmbedderCalls, EngineLifecycle, MultiModalEmbedding):
    """Qwen3-VL-Embedding for LlamaIndex: texts, queries and images in one vector space.

    Queries are embedded with the instruction (the model card's when None), texts and images
    with the model card's document prompt. Images come as LlamaIndex gives them: a path, a
    ``data:`` URL or the ``BytesIO`` of ``ImageNode.resolve_image()``. Every field below is a
    keyword argument; the model may also come first by position.

    Examples:
        >>> from llama_index.core.indices import MultiModalVectorStoreIndex  # doctest: +SKIP
        >>> embed = Qwen3VLEmbedding("Qwen/Qwen3-VL-Embedding-2B")
        >>> index = MultiModalVectorStoreIndex(nodes, embed_model=embed, image_embed_model=embed)
    """

    _kind: ClassVar[Kind] = "embedding"
    _model_field: ClassVar[str] = "model_name"

    model_name: str = Field(
        default=DEFAULT_VL_EMBEDDING_MODEL,
        description="Qwen3-VL-Embedding model id or directory.",
        frozen=True,
    )
    dimensions: int | None = Field(
        default=None,
        description="Matryoshka size: keep this many leading values.",
        frozen=True,
    )
    embed_batch_size: int = Field(
        default=DEFAULT_VL_EMBED_BATCH_SIZE, description="Texts or images per engine call.", gt=0
    )

    _core: Qwen3VLEmbedder = PrivateAttr()

    def model_post_init(self, context: Any, /) -> None:
        """Open (or join) the engine for these settings."""
        self._core = Qwen3VLEmbedder.from_spec(self._new_spec(), dimensions=self.dimensions,
                                               **self._image_options())

    @classmethod
    def class_name(cls) -> str:
        """The name LlamaIndex serialises this class under."""
        return "Qwen3VLEmbedding"

    @property
    def embedder(self) -> Qwen3VLEmbedder:
        """The core embedder doing the work (for ``shares_engine_with`` and direct use)."""
        return self._core

    # -- images -------------------------------------------------------------------------------

    def _get_image_embedding(self, img_file_path: ImageType) -> Embedding:
        return self._core.embed_images([_image(img_file_path)])[0].tolist()

    async def _aget_image_embedding(self, img_file_path: ImageType) -> Embedding:
        return (await self._core.aembed_images([_image(img_file_path)]))[0].tolist()

    def _get_image_embeddings(self, img_file_paths: list[ImageType]) -> list[Embedding]:
        return self._core.embed_images([_image(path) for path in img_file_paths]).tolist()

    async def _aget_image_embeddings(self, img_file_paths: list[ImageType]) -> list[Embedding]:
        images = [_image(path) for path in img_file_paths]
        return (await self._core.aembed_images(images)).tolist()


class Qwen3VLRerank(_VisionFields, EngineLifecycle, RerankReporting, BaseNodePostprocessor):
    """Reorders retrieved image and text nodes by Qwen3-VL-Reranker's P(yes) for the query.

    An ``ImageNode`` is read as its image (``image_path``, else the base64 ``image``, else
    ``image_url`` when ``allow_remote_images``) with its text when it has some; other nodes as
    their text with embed-visible metadata, as :class:`~llama_index_qwen3.Qwen3Rerank` reads
    them. The query is the ``QueryBundle``'s ``query_str``, with its ``image_path`` when set.
    It returns new ``NodeWithScore`` objects, best first, scored in [0, 1]; the nodes passed in
    are left as they were. ``max_length`` defaults to the official reranker script's 10,240
    tokens unless given.

    Examples:
        >>> engine = index.as_query_engine(  # doctest: +SKIP
        ...     similarity_top_k=10, image_similarity_top_k=10,
        ...     node_postprocessors=[Qwen3VLRerank("Qwen/Qwen3-VL-Reranker-2B", top_n=3)])
    """

    _kind: ClassVar[Kind] = "reranker"
    _model_field: ClassVar[str] = "model"
    _dispatcher: ClassVar[Dispatcher] = dispatcher

    model: str = Field(
        default=DEFAULT_VL_RERANKER_MODEL,
        description="Qwen3-VL-Reranker model id or directory.",
        frozen=True,
    )
    top_n: int | None = Field(
        default=2, gt=0, description="Number of nodes to return, best first; all when None."
    )
    score_threshold: float | None = Field(
        default=None, ge=0.0, le=1.0, description="Drop nodes scoring below this probability."
    )

    _core: Qwen3VLReranker = PrivateAttr()

    def model_post_init(self, context: Any, /) -> None:
        """Open (or join) the engine for these settings."""
        spec = self._new_spec()
        if "max_length" not in self.model_fields_set:
            spec = dataclasses.replace(spec, max_length=VL_RERANK_MAX_LENGTH)
        self._core = Qwen3VLReranker.from_spec(spec, **self._image_options())

    @classmethod
    def class_name(cls) -> str:
        """The name LlamaIndex serialises this class under."""
        return "Qwen3VLRerank"

    @property
    def reranker(self) -> Qwen3VLReranker:
        """The core reranker doing the work (for ``shares_engine_with`` and direct use)."""
        return self._core

    @dispatcher.span
    def _postprocess_nodes(
        self,
        nodes: list[NodeWithScore],
        query_bundle: QueryBundle | None = None,
    ) -> list[NodeWithScore]:
        query = _query(query_bundle)
        self._emit_start(nodes, query_bundle)
        if not nodes:
            return self._emit_end([])
        with self.callback_manager.event(
            CBEventType.RERANKING, payload=self._callback_payload(nodes, query_bundle)
        ) as event:
            results = self._core.rerank(query, _node_inputs(nodes), top_n=self.top_n,
                                        score_threshold=self.score_threshold)
            reranked = rescored(nodes, results)
            event.on_end(payload={EventPayload.NODES: reranked})
        return self._emit_end(reranked)

    @dispatcher.span
    async def _apostprocess_nodes(
        self,
        nodes: list[NodeWithScore],
        query_bundle: QueryBundle | None = None,
    ) -> list[NodeWithScore]:
        query = _query(query_bundle)
        self._emit_start(nodes, query_bundle)
        if not nodes:
            return self._emit_end([])
        with self.callback_manager.event(
            CBEventType.RERANKING, payload=self._callback_payload(nodes, query_bundle)
        ) as event:
            results = await self._core.arerank(query, _node_inputs(nodes), top_n=self.top_n,
                                               score_threshold=self.score_threshold)
            reranked = rescored(nodes, results)
            event.on_end(payload={EventPayload.NODES: reranked})
        return self._emit_end(reranked)


def _image(image: ImageType) -> ImageLike:
    """An image as LlamaIndex hands it over (a path, a data: URL, a BytesIO), for the core."""
    if isinstance(image, BytesIO):
        return image.getvalue()
    return image


def _query(query_bundle: QueryBundle | None) -> VisionInput:
    """The query: its text, with its image when the bundle has one; a ValueError when none."""
    if query_bundle is None:
        raise ValueError(
            "Qwen3VLRerank needs the query to rerank against: call "
            "postprocess_nodes(nodes, query_str=...) or pass a QueryBundle"
        )
    text = query_bundle.query_str
    if query_bundle.image_path:
        return {"text": text if text.strip() else None, "image": query_bundle.image_path}
    if not text.strip():
        raise ValueError("the query is empty or whitespace only; pass the text to search for "
                         "(or a QueryBundle with an image_path)")
    return text


def _node_inputs(nodes: list[NodeWithScore]) -> list[VisionInput]:
    """What the reranker reads of each node: its image and text, or its text."""
    inputs: list[VisionInput] = []
    for item in nodes:
        node = item.node
        if isinstance(node, ImageNode) and (node.image_path or node.image or node.image_url):
            text = node.get_content(metadata_mode=MetadataMode.EMBED) if node.text.strip() \
                else None
            inputs.append({"text": text, "image": _node_image(node)})
        else:
            inputs.append(node.get_content(metadata_mode=MetadataMode.EMBED))
    return inputs


def _node_image(node: ImageNode) -> ImageLike:
    if node.image_path:
        return node.image_path
    if node.image:
        if node.image.startswith("data:"):
            return node.image
        try:
            return base64.b64decode(node.image, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise ValueError(f"ImageNode {node.node_id!r} has an image that is not base64 "
                             f"({exc})") from exc
    return str(node.image_url)  # the core fetches it only with allow_remote_images

