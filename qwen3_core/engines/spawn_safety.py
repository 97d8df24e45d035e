"""Start engine processes without re-running the user's script in them.

vLLM's CPU build starts its engine process with multiprocessing's ``spawn``. A spawned child
first re-imports the parent's ``__main__`` (a script by its path, ``python -m`` by its name), so
a script without an ``if __name__ == "__main__":`` guard runs again inside the child: there it
opens the model a second time and fails ("...before the current process has finished its
bootstrapping phase"), or does all its work twice.

The engine process needs nothing from the user's script: its target and arguments are vLLM's
own objects. While it starts, ``__main__`` has the spec of
:mod:`qwen3_core.engines.engine_child`, which multiprocessing imports in its place (it quiets
vLLM there); the user's ``__spec__`` is restored at once.
"""

from __future__ import annotations

import contextlib
import importlib.util
import sys
import threading
from collections.abc import Iterator

__all__ = ["main_script_kept_out_of_children"]

_MISSING = object()
_lock = threading.Lock()
# Engines may start in several threads at once: the first to enter hides, the last to leave
# restores, and nobody holds the lock while an engine starts.
_inside = 0
_saved: dict[str, object] = {}


@contextlib.contextmanager
def main_script_kept_out_of_children() -> Iterator[None]:
    """Processes spawned inside this block do not import the user's ``__main__``.

    ``fork`` children are unaffected (they import nothing anyway). The user's ``__main__``
    module gets its ``__file__`` and ``__spec__`` back when the last such block ends.
    """
    global _inside
    with _lock:
        if _inside == 0:
            _hide_main()
        _inside += 1
    try:
        yield
    finally:
        with _lock:
            _inside -= 1
            if _inside == 0:
                _restore_main()


def _hide_main() -> None:
    main = sys.modules.get("__main__")
    if main is None:
        return
    # multiprocessing imports ``__spec__.name`` when there is one and never looks at
    # ``__file__``, which stays: the script may read it while an engine starts in the background.
    _saved["__spec__"] = getattr(main, "__spec__", _MISSING)
    main.__spec__ = importlib.util.find_spec("qwen3_core.engines.engine_child")


def _restore_main() -> None:
    main = sys.modules.get("__main__")
    if main is not None:
        for name, value in _saved.items():
            if value is not _MISSING:
                setattr(main, name, value)
            elif hasattr(main, name):
                delattr(main, name)
    _saved.clear()
