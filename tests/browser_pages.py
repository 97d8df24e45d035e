"""The web page on loopback and a real browser for it: Debian's headless Chromium via Playwright."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from local_ports import free_port

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run"]
TIMEOUT_MS = 60_000


@contextlib.contextmanager
def served(app: Any) -> Iterator[str]:
    """Launch a Gradio app on a free loopback port; yields its URL, closes it after."""
    port = free_port()
    app.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True)
    try:
        yield f"http://127.0.0.1:{port}/"
    finally:
        app.close()


@contextlib.contextmanager
def chromium() -> Iterator[Any]:
    """A headless Chromium, closed after."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        try:
            yield browser
        finally:
            browser.close()


def open_page(browser: Any, url: str, height: int) -> Any:
    """A new 1400-pixel-wide page at ``url`` with the tests' timeout."""
    page = browser.new_page(viewport={"width": 1400, "height": height})
    page.set_default_timeout(TIMEOUT_MS)
    page.goto(url)
    return page
