"""The environment an engine starts in, set for the start only: the user's is left as it was.

vLLM reads variables while an engine starts (its spawned processes inherit them), and writes
some of its own into ``os.environ`` then (``LD_PRELOAD``, ``KMP_*``, ``TORCHINDUCTOR_*``, ...),
which would reach every process the user's script starts afterwards. Both are undone when the
start ends; what vLLM wrote (some of it only once, on import) is set again for later starts, so
every engine starts in the environment the first one had.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Iterator, Mapping

__all__ = ["environment_for_start"]

_lock = threading.Lock()
# What engine starts wrote into os.environ themselves, kept for the next start.
_written_by_starts: dict[str, str] = {}


@contextlib.contextmanager
def environment_for_start(wanted: Mapping[str, str]) -> Iterator[None]:
    """``os.environ`` plus ``wanted`` inside the block; exactly the user's again after it.

    Args:
        wanted: Variables to add (the caller leaves out those the user set).
    """
    with _lock:
        saved = dict(os.environ)
        added = {k: v for k, v in {**_written_by_starts, **wanted}.items() if k not in saved}
        os.environ.update(added)
    try:
        yield
    finally:
        with _lock:
            for key, value in os.environ.items():
                if key not in wanted and saved.get(key) != value:
                    _written_by_starts[key] = value
            for key in set(os.environ) - set(saved):
                del os.environ[key]
            for key, value in saved.items():
                if os.environ.get(key) != value:
                    os.environ[key] = value
