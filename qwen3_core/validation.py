"""Checks on caller input, so bad input gets a clear error instead of a crash deep in an engine."""

from __future__ import annotations

from collections.abc import Iterable

__all__ = [
    "refuse_unknown_arguments",
    "check_dimensions",
    "check_instruction",
    "check_query",
    "check_score_threshold",
    "check_texts",
    "check_top_n",
]


def check_query(query: object) -> str:
    """Return ``query`` if it is a non-blank string."""
    if not isinstance(query, str):
        raise TypeError(f"query must be a str, got {type(query).__name__}")
    if not query.strip():
        raise ValueError("query is empty or whitespace only; pass the text to search for")
    return query


def check_instruction(instruction: object, default: str) -> str:
    """Return ``instruction``, or ``default`` when it is None."""
    if instruction is None:
        return default
    if not isinstance(instruction, str):
        raise TypeError(f"instruction must be a str or None, got {type(instruction).__name__}")
    return instruction


def check_texts(texts: object, what: str = "documents") -> list[str]:
    """Return ``texts`` as a list, raising TypeError that names the first non-str item."""
    if isinstance(texts, (str, bytes)):
        raise TypeError(f"{what} must be a sequence of str, not a single {type(texts).__name__}")
    if not isinstance(texts, Iterable):
        raise TypeError(f"{what} must be a sequence of str, got {type(texts).__name__}")
    items = list(texts)
    for index, text in enumerate(items):
        if not isinstance(text, str):
            raise TypeError(f"{what}[{index}] is {type(text).__name__}, expected str")
    return items


def check_top_n(top_n: object) -> int | None:
    """Return ``top_n`` if it is None or a positive int."""
    if top_n is None:
        return None
    if isinstance(top_n, bool) or not isinstance(top_n, int):
        raise TypeError(f"top_n must be a positive int or None, got {top_n!r}")
    if top_n <= 0:
        raise ValueError(f"top_n must be a positive int or None, got {top_n}")
    return top_n


def check_score_threshold(threshold: object) -> float | None:
    """Return ``threshold`` if it is None or a number in [0, 1]."""
    if threshold is None:
        return None
    if isinstance(threshold, bool) or not isinstance(threshold, (int, float)):
        raise TypeError(f"score_threshold must be a number in [0, 1] or None, got {threshold!r}")
    if not 0.0 <= float(threshold) <= 1.0:
        raise ValueError(f"score_threshold must be within [0, 1], got {threshold}")
    return float(threshold)


def check_dimensions(dimensions: object, hidden_size: int, minimum: int = 32) -> int | None:
    """Return ``dimensions`` if it is None or an int in ``minimum..hidden_size``."""
    if dimensions is None:
        return None
    if isinstance(dimensions, bool) or not isinstance(dimensions, int):
        raise TypeError(f"dimensions must be an int or None, got {dimensions!r}")
    if not minimum <= dimensions <= hidden_size:
        raise ValueError(
            f"dimensions={dimensions} is outside the valid range {minimum}..{hidden_size} "
            "for this model"
        )
    return dimensions



def refuse_unknown_arguments(owner: str, given: Iterable[str], valid: Iterable[str]) -> None:
    """Raise ``TypeError`` naming each argument of ``given`` that is not in ``valid``.

    The one check every layer (core classes, ``EngineSpec``, LangChain, LlamaIndex) uses. Python's
    and pydantic's own errors name the unknown argument only; a typo (``top_m=3``) or an option of
    another library is easier to fix with the valid names beside it.

    Args:
        owner: What received the arguments (a class name), for the message.
        given: The names passed.
        valid: The names ``owner`` accepts.

    Raises:
        TypeError: Some name of ``given`` is not valid.
    """
    valid = list(valid)
    unknown = sorted(set(given) - set(valid))
    if unknown:
        names = ", ".join(repr(name) for name in unknown)
        raise TypeError(f"{owner} got unexpected argument(s) {names}; valid arguments: "
                        f"{', '.join(valid)}")
