"""``qwen3-rag ui``: a web page to rerank pasted passages and to search a collection (Gradio).

Needs the ``ui`` extra (``pip install 'qwen3-rag[ui]'``). Works with every backend, including
a remote vLLM server (``--base-url``): the page only calls the core objects.
"""

from __future__ import annotations

import argparse
import importlib.util
from collections.abc import Callable
from typing import Any

from qwen3_core import Qwen3Embedder, Qwen3Reranker
from qwen3_rag.common.loading import (
    AppError,
    add_model_arguments,
    add_store_arguments,
    is_vl_model,
    load_embedder,
    load_reranker,
    load_vl_embedder,
    load_vl_reranker,
    open_store,
    port_number,
)
from qwen3_rag.common.recall_options import add_recall_arguments
from qwen3_rag.common.render import snippet, source_of
from qwen3_rag.retrieval.hybrid import MODES, search
from qwen3_rag.retrieval.multimodal import (
    IMAGE_KEY,
    multimodal_query,
    multimodal_search,
    query_label,
)
from qwen3_rag.retrieval.store import DEFAULT_COLLECTION, VectorStore

__all__ = ["RANKED_HEADERS", "add_arguments", "build_app", "image_thumbnails", "rank_passages",
           "run"]

#: Longest side of an image result's thumbnail, in pixels.
THUMBNAIL_PIXELS = 256

RANKED_HEADERS = ["rank", "score", "input #", "passage"]
_STAGE1_HEADERS = ["#", "cosine", "source", "passage"]
_STAGE2_HEADERS = ["#", "rerank score", "was #", "cosine", "source", "passage"]
_EXAMPLE_QUERY = "Which river is the longest in Asia?"
_EXAMPLE_PASSAGES = (
    "The Yangtze runs about 6,300 km from the Tibetan Plateau to the East China Sea.\n"
    "长江是亚洲第一长河，在上海附近注入东海。\n"
    "The Nile and the Amazon compete for the title of the world's longest river.\n"
    "Mount Everest sits on the border between China and Nepal."
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``qwen3-rag ui``."""
    add_model_arguments(parser)
    add_store_arguments(parser)
    add_recall_arguments(parser)
    parser.add_argument("--host", default="127.0.0.1",
                        help="address to listen on (default 127.0.0.1; 0.0.0.0 for everyone)")
    parser.add_argument("--port", type=port_number, default=7860,
                        help="port, 1 to 65535 (default 7860)")
    parser.add_argument("--no-search", action="store_true",
                        help="reranking tab only: do not load the embedding model")


def rank_passages(reranker: Qwen3Reranker, query: str, instruction: str,
                  passages_text: str) -> list[list[Any]]:
    """Rerank the non-blank lines of ``passages_text`` for ``query``.

    Returns:
        Rows of :data:`RANKED_HEADERS`, best first; ``input #`` is the line's 1-based position
        among the passages.

    Raises:
        ValueError: No query or no passages.
    """
    passages = [line.strip() for line in passages_text.splitlines() if line.strip()]
    if not query.strip():
        raise ValueError("Type a query.")
    if not passages:
        raise ValueError("Paste at least one passage, one per line.")
    results = reranker.rerank(query, passages, instruction=instruction.strip() or None)
    return [[rank, round(r.score, 6), r.index + 1, r.document]
            for rank, r in enumerate(results, 1)]


def _chart(rows: list[list[Any]]):
    import pandas as pd

    # Short unique x labels; the passage itself shows in the bar's tooltip.
    return pd.DataFrame({"rank": [f"#{row[0]}" for row in rows],
                         "score": [row[1] for row in rows],
                         "passage": [snippet(row[3], 80) for row in rows]})


def _cosine(hit) -> float | None:
    return None if hit.cosine != hit.cosine else round(hit.cosine, 4)  # NaN: BM25 alone


def _search_rows(result) -> tuple[list[list[Any]], list[list[Any]], str]:
    stage1 = [[rank, _cosine(hit), source_of(hit.metadata), hit.text]
              for rank, hit in enumerate(result.candidates, 1)]
    stage2 = [[rank, round(item.score, 4), item.recall_rank, _cosine(item.hit),
               source_of(item.hit.metadata), item.hit.text]
              for rank, item in enumerate(result.reranked, 1)]
    mode = getattr(result, "mode", "dense")
    timing = (f"Stage 1 ({mode} recall): **{result.recall_seconds * 1000:.0f} ms** · "
              f"Stage 2 (reranking): **{result.rerank_seconds * 1000:.0f} ms**")
    for note in getattr(result, "notes", ()):
        timing += f"\n\n{note}"
    return stage1, stage2, timing


def image_thumbnails(result) -> list[tuple[Any, str]]:
    """The reranked image hits as ``(thumbnail, caption)``, best first, for a gallery.

    A file that cannot be read any more (moved, deleted) is left out.
    """
    from PIL import Image

    shown = []
    for rank, item in enumerate(result.reranked, 1):
        path = item.hit.metadata.get(IMAGE_KEY)
        if not path:
            continue
        try:
            with Image.open(str(path)) as image:
                image.thumbnail((THUMBNAIL_PIXELS, THUMBNAIL_PIXELS))
                thumbnail = image.convert("RGB")
        except (OSError, ValueError):
            continue
        shown.append((thumbnail, f"#{rank} · {item.score:.4f} · {path}"))
    return shown


def _gallery_html(thumbnails: list[tuple[Any, str]]) -> str:
    """The thumbnails in a row, each with its caption, the images inline (no file serving)."""
    import base64
    import html
    import io

    if not thumbnails:
        return "<p>No image among the reranked results.</p>"
    figures = []
    for image, caption in thumbnails:
        data = io.BytesIO()
        image.save(data, format="PNG")
        source = "data:image/png;base64," + base64.b64encode(data.getvalue()).decode()
        figures.append(
            f'<figure style="margin:0;width:180px">'
            f'<img src="{source}" alt="{html.escape(caption)}" '
            f'style="max-width:180px;max-height:150px;border:1px solid #ddd;border-radius:4px">'
            f'<figcaption style="font-size:12px;overflow-wrap:anywhere">{html.escape(caption)}'
            f"</figcaption></figure>")
    return ('<div style="display:flex;flex-wrap:wrap;gap:16px"><strong style="width:100%">'
            'Image results (reranked)</strong>' + "".join(figures) + "</div>")


def build_app(reranker: Qwen3Reranker, embedder: Qwen3Embedder | None = None,
              open_collection: Callable[[str], VectorStore] | None = None,
              default_collection: str = DEFAULT_COLLECTION,
              open_lexical: Callable[[VectorStore, str | None], tuple[str, Any]] | None = None,
              *, multimodal: bool = False):
    """The Gradio page.

    Args:
        reranker: Ranks the passages of both tabs.
        embedder: Stage 1 of the search tab; without it (or ``open_collection``) the tab says
            how to enable search.
        open_collection: Returns the store of a collection name.
        default_collection: Pre-filled collection name.
        open_lexical: Returns the recall mode and lexical index of a store for a chosen mode
            (None: hybrid where the collection has a lexical index); without it, dense only.
        multimodal: ``reranker`` and ``embedder`` are Qwen3-VL models: the search tab takes an
            image query too (BM25 reads the query's words; an image alone is recalled
            densely) and shows image results as thumbnails.

    Returns:
        A ``gradio.Blocks``; call ``.launch()`` on it.
    """
    import gradio as gr

    def on_rank(query: str, instruction: str, passages_text: str):
        try:
            rows = rank_passages(reranker, query, instruction, passages_text)
        except (ValueError, TypeError) as exc:
            raise gr.Error(str(exc)) from exc
        return rows, _chart(rows)

    def searched(collection: str, mode: str, two_stages: Callable[..., Any],
                 errors: tuple[type[Exception], ...] = (AppError, ValueError)):
        """``two_stages(store, mode, lexical)`` in the chosen recall mode, errors on the page."""
        if embedder is None or open_collection is None:
            raise gr.Error("Search is off: start the page without --no-search.")
        lexical = None
        try:
            store = open_collection(collection.strip())
            chosen = None if mode == "auto" else mode
            if open_lexical is not None:
                chosen, lexical = open_lexical(store, chosen)
            return two_stages(store, chosen or "dense", lexical)
        except errors as exc:
            raise gr.Error(str(exc)) from exc
        finally:
            if lexical is not None:
                lexical.close()

    def on_image_search(query: str, collection: str, k: float, top_n: float,
                        mode: str = "auto", image: str | None = None):
        from qwen3_core.vision import ImageError

        result = searched(collection, mode, lambda store, chosen, lexical: multimodal_search(
            store, embedder, reranker, multimodal_query(query, image),
            label=query_label(query, image), k=int(k), top_n=int(top_n), mode=chosen,
            lexical=lexical), errors=(AppError, ImageError, ValueError))
        return (*_search_rows(result), _gallery_html(image_thumbnails(result)))

    def on_search(query: str, collection: str, k: float, top_n: float, mode: str = "auto"):
        result = searched(collection, mode, lambda store, chosen, lexical: search(
            chosen, query, reranker=reranker, k=int(k), top_n=int(top_n), store=store,
            embedder=embedder, lexical=lexical))
        return _search_rows(result)

    with gr.Blocks(title="qwen3-rag") as app:
        gr.Markdown(f"# qwen3-rag\nReranker **{reranker.model}** on **{reranker.backend}**"
                    + (f" · embedding **{embedder.model}**" if embedder else ""))
        with gr.Tab("Rerank passages"):
            with gr.Row():
                with gr.Column():
                    query = gr.Textbox(label="Query", value=_EXAMPLE_QUERY, elem_id="query")
                    instruction = gr.Textbox(
                        label="Instruction (optional)", elem_id="instruction",
                        placeholder="Given a web search query, retrieve relevant passages "
                                    "that answer the query")
                    passages = gr.Textbox(label="Candidate passages, one per line", lines=8,
                                          value=_EXAMPLE_PASSAGES, elem_id="passages")
                    rank_button = gr.Button("Rank", variant="primary", elem_id="rank")
                with gr.Column():
                    ranked = gr.Dataframe(headers=RANKED_HEADERS, label="Ranked",
                                          elem_id="ranked", interactive=False, wrap=True,
                                          column_widths=["9%", "14%", "11%", "66%"])
                    chart = gr.BarPlot(x="rank", y="score", sort="-y", y_lim=[0, 1],
                                       tooltip=["rank", "score", "passage"],
                                       label="Reranker score (P(yes)) by rank",
                                       elem_id="chart")
            rank_button.click(on_rank, [query, instruction, passages], [ranked, chart])
            query.submit(on_rank, [query, instruction, passages], [ranked, chart])
        with gr.Tab("Search a collection"):
            with gr.Row():
                search_query = gr.Textbox(label="Query", scale=3, elem_id="search-query")
                collection = gr.Textbox(label="Collection", value=default_collection,
                                        elem_id="collection")
                k = gr.Number(label="k (stage 1)", value=20, precision=0, minimum=1, elem_id="k")
                top_n = gr.Number(label="top n (stage 2)", value=5, precision=0, minimum=1,
                                  elem_id="top-n")
                recall_mode = gr.Radio(["auto", *MODES], value="auto", label="recall",
                                       info="auto: hybrid where a lexical index exists",
                                       elem_id="recall-mode")
                if multimodal:
                    image_query = gr.Image(label="Image query (optional)", type="filepath",
                                           sources=["upload"], height=140,
                                           elem_id="search-image")
            search_button = gr.Button("Search", variant="primary", elem_id="search")
            timing = gr.Markdown()
            if multimodal:
                gallery = gr.HTML(elem_id="image-hits")
            with gr.Row():
                stage1 = gr.Dataframe(headers=_STAGE1_HEADERS, label="Stage 1: recall",
                                      interactive=False, wrap=True, elem_id="stage1",
                                      column_widths=["8%", "14%", "18%", "60%"])
                stage2 = gr.Dataframe(headers=_STAGE2_HEADERS, label="Stage 2: reranked",
                                      interactive=False, wrap=True, elem_id="stage2",
                                      column_widths=["7%", "13%", "10%", "12%", "16%", "42%"])
            if multimodal:
                image_inputs = [search_query, collection, k, top_n, recall_mode, image_query]
                image_outputs = [stage1, stage2, timing, gallery]
                search_button.click(on_image_search, image_inputs, image_outputs)
                search_query.submit(on_image_search, image_inputs, image_outputs)
            else:
                search_inputs = [search_query, collection, k, top_n, recall_mode]
                search_button.click(on_search, search_inputs, [stage1, stage2, timing])
                search_query.submit(on_search, search_inputs, [stage1, stage2, timing])
    return app


def _require_free_port(host: str, port: int) -> None:
    """Refuse an address the page could not listen on, before the models load.

    Raises:
        AppError: The host is unknown or not this machine's, or the port is taken.
    """
    import socket

    try:
        family, kind, _, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    except socket.gaierror as exc:
        raise AppError(f"--host {host!r} is not an address of this machine ({exc.strerror}): "
                       "use 127.0.0.1, 0.0.0.0 or one of its addresses") from exc
    with socket.socket(family, kind) as probe:
        # As the web server will: a port left in TIME_WAIT by a previous run is free.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(address)
        except OSError as exc:
            raise AppError(f"cannot listen on {host}:{port} ({exc.strerror}): the port is "
                           "taken or the address is not this machine's; choose another "
                           "--port (1 to 65535) or --host") from exc


def run(args: argparse.Namespace) -> int:
    """Serve the page until Ctrl-C; returns the exit code."""
    _require_free_port(args.host, args.port)  # a second, where importing Gradio takes several
    if importlib.util.find_spec("gradio") is None:
        raise AppError("the web page needs Gradio: pip install 'qwen3-rag[ui]'")
    if args.embedding_model and is_vl_model(args.embedding_model):
        return _run_multimodal(args)
    with load_reranker(args) as reranker:
        embedder = None if args.no_search else load_embedder(args)

        def store(name: str) -> VectorStore:
            assert embedder is not None  # build_app searches only with an embedder
            return open_store(args, name, embedder, create=False)

        try:
            app = build_app(reranker, embedder, store, open_lexical=_lexical_opener(args))
            app.launch(server_name=args.host, server_port=args.port)
        finally:
            if embedder is not None:
                embedder.close()
    return 0


def _lexical_opener(args: argparse.Namespace) -> Callable[[VectorStore, str | None],
                                                          tuple[str, Any]]:
    """``build_app``'s ``open_lexical``: the page's recall choice, else ``--mode``."""
    from qwen3_rag.common.recall_options import open_recall

    def lexical(found: VectorStore, mode: str | None) -> tuple[str, Any]:
        chosen = argparse.Namespace(**{**vars(args), "mode": mode or args.mode})
        return open_recall(chosen, found, lambda line: None)  # the page shows the mode

    return lexical


def _run_multimodal(args: argparse.Namespace) -> int:
    """The page with the Qwen3-VL models: text and image queries, image results as thumbnails."""
    from qwen3_core.vision import DEFAULT_VL_RERANKER_MODEL

    why = f"--embedding-model {args.embedding_model} is a Qwen3-VL model"
    reranker_model = args.reranker_model or DEFAULT_VL_RERANKER_MODEL
    if not is_vl_model(reranker_model):
        raise AppError(f"{why}, but --reranker-model {reranker_model} is not a Qwen3-VL "
                       f"reranker (e.g. {DEFAULT_VL_RERANKER_MODEL})")
    with load_vl_reranker(args, reranker_model) as reranker:
        embedder = None if args.no_search else load_vl_embedder(args)

        def store(name: str) -> VectorStore:
            assert embedder is not None
            return open_store(args, name, embedder, create=False)

        try:
            app = build_app(reranker, embedder, store, open_lexical=_lexical_opener(args),
                            multimodal=True)
            app.launch(server_name=args.host, server_port=args.port)
        finally:
            if embedder is not None:
                embedder.close()
    return 0
