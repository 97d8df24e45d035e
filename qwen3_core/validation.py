"""Checks on caller input, so bad input gets a clear error instead of a crash deep in an engine."""

from __future__ import annotations

import functools
import inspect
import warnings
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

__all__ = [
    "keyword_only_after",
    "refuse_unknown_keywords",
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


_Init = TypeVar("_Init", bound=Callable[..., Any])


def refuse_unknown_keywords(init: _Init) -> _Init:
    """Wrap an ``__init__`` so an unknown keyword names itself and the valid ones.

    Python's own ``TypeError`` names the unknown keyword only; a typo (``top_m=3``) or an
    option of another library is easier to fix with the valid names beside it.
    """
    kinds = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    valid = [name for name, parameter in inspect.signature(init).parameters.items()
             if name != "self" and parameter.kind in kinds]

    @functools.wraps(init)
    def checked(self: Any, *args: Any, **kwargs: Any) -> Any:
        unknown = sorted(set(kwargs) - set(valid))
        if unknown:
            names = ", ".join(repr(name) for name in unknown)
            raise TypeError(f"{type(self).__name__} got unexpected argument(s) {names}; valid "
                            f"arguments: {', '.join(valid)}")
        return init(self, *args, **kwargs)

    return checked  # type: ignore[return-value]


def keyword_only_after(count: int) -> Callable[[_Init], _Init]:
    """Make the parameters after the first ``count`` keyword-only, with a grace period.

    The wrapped function declares them after ``*``; a caller still passing them by position
    (in their declared order, as before) gets a ``FutureWarning`` naming them, and the call works.
    ``count`` includes ``self``.
    """

    def decorate(function: _Init) -> _Init:
        keyword_only = [name for name, parameter in inspect.signature(function).parameters.items()
                        if parameter.kind is inspect.Parameter.KEYWORD_ONLY]

        @functools.wraps(function)
        def checked(*args: Any, **kwargs: Any) -> Any:
            if len(args) > count:
                extra = args[count:]
                if len(extra) > len(keyword_only):
                    raise TypeError(f"{function.__qualname__} takes at most {count} positional "
                                    f"argument(s), got {len(args)}")
                names = keyword_only[:len(extra)]
                clash = sorted(set(names) & set(kwargs))
                if clash:
                    raise TypeError(f"{function.__qualname__} got {', '.join(clash)} both by "
                                    "position and by keyword")
                warnings.warn(f"{function.__qualname__}: pass {', '.join(names)} by keyword "
                              f"({names[0]}=...); passing them by position will stop working",
                              FutureWarning, stacklevel=2)
                kwargs.update(zip(names, extra))
                args = args[:count]
            return function(*args, **kwargs)

        return checked  # type: ignore[return-value]

    return decorate
