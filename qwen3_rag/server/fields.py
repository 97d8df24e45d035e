"""Reading a request's optional fields, with errors that name the field and show the value."""

from __future__ import annotations

from typing import Any

from qwen3_rag.server.asgi import RequestError

__all__ = ["json_object", "optional_bool", "optional_int", "shown"]


def json_object(body: Any) -> dict[str, Any]:
    """``body`` if it is a JSON object."""
    if not isinstance(body, dict):
        raise RequestError("the request body must be a JSON object")
    return body


def shown(value: Any) -> str:
    """``value`` as an error shows it: its repr, cut at 80 characters."""
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def optional_int(body: dict[str, Any], field: str, smallest: int) -> int | None:
    """``body[field]``: absent or null, else an integer of at least ``smallest``."""
    value = body.get(field)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < smallest:
        raise RequestError(f"{field} must be an integer >= {smallest}, got {shown(value)}",
                           field)
    return value


def optional_bool(body: dict[str, Any], field: str) -> bool | None:
    """``body[field]``: absent or null, else true or false."""
    value = body.get(field)
    if value is not None and not isinstance(value, bool):
        raise RequestError(f"{field} must be true or false, got {shown(value)}", field)
    return value
