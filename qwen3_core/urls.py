"""Server URLs as the core accepts them: one or several ``http(s)://host:port`` roots."""

from __future__ import annotations

from collections.abc import Sequence
from urllib.parse import urlsplit

__all__ = ["normalise_base_urls"]


def normalise_base_urls(base_url: str | Sequence[str]) -> list[str]:
    """Server roots from ``base_url``: one or several ``http(s)://host:port`` (``/v1`` allowed).

    Raises:
        ValueError: No URL, or one that is not an http(s) URL with a host.
    """
    urls = [base_url] if isinstance(base_url, str) else list(base_url)
    if not urls:
        raise ValueError("base_url is empty: give at least one vLLM server URL")
    roots = []
    for url in urls:
        if not isinstance(url, str) or urlsplit(url).scheme not in ("http", "https") \
                or not urlsplit(url).netloc:
            raise ValueError(f"base_url {url!r} is not an http(s) URL such as http://host:8000")
        root = url.rstrip("/")
        roots.append(root[: -len("/v1")] if root.endswith("/v1") else root)
    return roots
