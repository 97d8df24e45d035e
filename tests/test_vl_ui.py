"""``qwen3-rag ui`` with the Qwen3-VL models, in a real browser (headless Chromium, Playwright).

A multimodal collection is built with ``qwen3-rag index`` from generated shapes; the test
searches it by text and by an uploaded image, checks the reranked table against the reference
scripts and that image results show as thumbnails. With ``QWEN3_RAG_REFRESH_DOCS=1`` it
refreshes ``docs/images/ui-image-search.png``.
"""

from __future__ import annotations

import argparse
import os
import shutil
from pathlib import Path

import pytest
import reference
from browser_pages import TIMEOUT_MS, chromium, open_page, served
from test_ui_browser import _table
from test_vl_cli import SHAPES, _draw

from qwen3_core.vision import Qwen3VLEmbedder, Qwen3VLReranker
from qwen3_rag.cli import main
from qwen3_rag.common.recall_options import open_recall
from qwen3_rag.retrieval.store import VectorStore, open_client
from qwen3_rag.ui.app import build_app

DOCS_SCREENSHOT = Path(__file__).resolve().parents[1] / "docs" / "images" / "ui-image-search.png"
COLLECTION = "ui-pictures"
NOTE = "A green triangle on a white page."


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    root = tmp_path_factory.mktemp("shapes")
    for name, colour in SHAPES.items():
        _draw(root / f"{name}.png", colour, name)
    _draw(root / "orange-circle.png", (250, 140, 20), "circle")
    (root / "notes.txt").write_text(NOTE, encoding="utf-8")
    return root


@pytest.fixture(scope="module")
def site(tiny_vl_models, corpus, tmp_path_factory):
    """The multimodal page on loopback, over a collection ``qwen3-rag index`` built."""
    chroma = tmp_path_factory.mktemp("chroma")
    assert main(["index", str(corpus), "--chroma-dir", str(chroma), "--collection", COLLECTION,
                 "--embedding-model", str(tiny_vl_models.embedding), "--backend",
                 "transformers", "--dtype", "float32"]) == 0
    with Qwen3VLEmbedder(tiny_vl_models.embedding, backend="transformers",
                         dtype="float32") as emb, \
            Qwen3VLReranker(tiny_vl_models.reranker, backend="transformers",
                            dtype="float32") as rr:
        store = VectorStore(open_client(chroma), COLLECTION, emb.model, emb.embedding_size,
                            create=False)
        args = argparse.Namespace(mode=None, lexical_dir=None, chroma_dir=str(chroma),
                                  chroma_url=None)

        def lexical(found, mode):  # as `qwen3-rag ui` opens the collection's BM25 index
            return open_recall(argparse.Namespace(**{**vars(args), "mode": mode}), found,
                               lambda line: None)

        app = build_app(rr, emb, lambda name: store, default_collection=COLLECTION,
                        open_lexical=lexical, multimodal=True)
        with served(app) as url:
            yield url


@pytest.fixture(scope="module")
def browser():
    with chromium() as started:
        yield started


@pytest.fixture()
def page(browser, site):
    page = open_page(browser, site, height=1100)
    page.get_by_role("tab", name="Search a collection").click()
    yield page
    page.close()


def _documents(corpus) -> dict[str, dict]:
    documents = {str(path.resolve()): {"image": path} for path in sorted(corpus.glob("*.png"))}
    documents[NOTE] = {"text": NOTE}
    return documents


def _check_reranked(page, corpus, tiny_vl_models, query: dict) -> list[list[str]]:
    """The stage-2 table, its order and scores checked against the reference scripts."""
    documents = _documents(corpus)
    rows = _table(page, "stage2", 3, 6)
    scores = {key: reference.vl_rerank_score(tiny_vl_models.reranker, query, document)
              for key, document in documents.items()}
    best = sorted(scores, key=lambda key: -scores[key])[:3]
    shown = [row[4] if row[4] in documents else row[5] for row in rows]
    assert shown == best
    for row, key in zip(rows, best, strict=True):
        assert float(row[1]) == pytest.approx(scores[key], abs=1e-4)
    return rows


def _thumbnails(page, expected: int):
    from playwright.sync_api import expect

    images = page.locator("#image-hits img")
    expect(images).to_have_count(expected, timeout=TIMEOUT_MS)
    for index in range(expected):
        # Loaded, not a broken link: the browser decoded a thumbnail.
        assert images.nth(index).evaluate("img => img.complete && img.naturalWidth > 0")
    return images


def test_a_text_query_shows_image_results_as_thumbnails(page, corpus, tiny_vl_models,
                                                        tmp_path):
    page.locator("#search-query textarea").fill("a red circle")
    page.locator("#k input").fill("5")
    page.locator("#top-n input").fill("3")
    page.locator("#search").click()
    rows = _check_reranked(page, corpus, tiny_vl_models, {"text": "a red circle"})
    image_rows = [row for row in rows if row[4].endswith(".png")]
    _thumbnails(page, len(image_rows))
    body = page.locator("#image-hits").inner_text()
    assert all(Path(row[4]).name in body for row in image_rows)  # captions name the files

    shot = tmp_path / "ui-image-search.png"
    page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 10_000
    if os.environ.get("QWEN3_RAG_REFRESH_DOCS") == "1":
        DOCS_SCREENSHOT.parent.mkdir(exist_ok=True)
        shutil.copyfile(shot, DOCS_SCREENSHOT)


def test_an_uploaded_image_is_the_query(page, corpus, tiny_vl_models):
    query_image = corpus / "orange-circle.png"
    from playwright.sync_api import expect

    page.locator("#search-image input[type='file']").set_input_files(str(query_image))
    expect(page.locator("#search-image img").first).to_be_visible(timeout=TIMEOUT_MS)
    page.locator("#k input").fill("5")
    page.locator("#top-n input").fill("3")
    page.locator("#search").click()
    rows = _check_reranked(page, corpus, tiny_vl_models, {"image": query_image})
    _thumbnails(page, sum(row[4].endswith(".png") for row in rows))


def test_bm25_recall_finds_the_words_of_texts_and_file_names(page, corpus):
    from playwright.sync_api import expect

    page.locator("#recall-mode label", has_text="bm25").click()
    page.locator("#search-query textarea").fill("triangle")
    page.locator("#k input").fill("5")
    page.locator("#top-n input").fill("3")
    page.locator("#search").click()
    expect(page.get_by_text("Stage 1 (bm25 recall)").first).to_be_visible(timeout=TIMEOUT_MS)
    rows = _table(page, "stage1", 2, 4)
    expect(page.locator("#stage1 [data-testid='cell-2-0']")).to_have_count(0)
    # The note's words and the green triangle's file name; no other passage has the word.
    found = {row[3] for row in rows}
    assert NOTE in found and any("green-triangle.png" in text for text in found), rows
