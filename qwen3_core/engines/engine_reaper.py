"""Engine processes end with the user's process, however it ends.

vLLM runs its engine in processes of its own and shuts them down from ``close()``, ``atexit``
or a finalizer. None of those run when the user's process is killed (SIGTERM's default action,
SIGKILL, the OOM killer): the engine processes then live on, holding their memory and cores.

:class:`EngineReaper` starts a small watcher (this file run by path, standard library only) with
a pipe from the user's process as its stdin. When the pipe closes without the word ``done``, the
user's process is gone, and the watcher ends the engine processes: SIGTERM after a grace period
that lets vLLM's own shutdown finish, then SIGKILL.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterable

__all__ = ["EngineReaper", "child_processes", "spawned_processes"]

_DONE = b"done\n"
# vLLM's own shutdown (a normal exit without close()) takes a few seconds; let it finish.
_GRACE_SECONDS = 5.0
_KILL_AFTER_SECONDS = 10.0


def child_processes() -> set[tuple[int, float]]:
    """``(pid, start time)`` of this process's descendants, except multiprocessing's helpers."""
    import psutil

    found = set()
    for child in psutil.Process().children(recursive=True):
        try:
            if "multiprocessing.resource_tracker" in " ".join(child.cmdline()):
                continue  # ends on its own once every process that uses it has
            found.add((child.pid, child.create_time()))
        except psutil.NoSuchProcess:
            pass
    return found


def spawned_processes() -> set[tuple[int, float]]:
    """Like :func:`child_processes`, but only the trees multiprocessing started.

    Those are vLLM's engine and its workers; never another child of this process, such as a
    server the caller runs.
    """
    import psutil

    found = set()
    for child in psutil.Process().children():
        try:
            if "--multiprocessing-fork" not in child.cmdline():
                continue
            for process in (child, *child.children(recursive=True)):
                found.add((process.pid, process.create_time()))
        except psutil.NoSuchProcess:
            pass
    return found


class EngineReaper:
    """Ends the given processes if this process dies before :meth:`stand_down` is called."""

    def __init__(self, processes: Iterable[tuple[int, float]]):
        self._processes = list(processes)
        targets = [f"{pid}:{started!r}" for pid, started in self._processes]
        self._watcher: subprocess.Popen[bytes] | None = None
        if not targets:
            return
        # A session of its own, so a Ctrl-C meant for the user's process does not end the
        # watcher before it has done its work.
        self._watcher = subprocess.Popen(
            [sys.executable, "-I", os.path.abspath(__file__), *targets],
            stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            start_new_session=True)

    def wait_for_exit(self, timeout: float = _GRACE_SECONDS + _KILL_AFTER_SECONDS) -> None:
        """Wait until the processes have ended (SIGKILL after ``timeout``), reaping our own.

        vLLM's ``shutdown()`` may return while its engine process still runs; closing an
        engine ends only once its processes are gone, so none is left behind, not even as a
        zombie.
        """
        import psutil

        processes = []
        for pid, started in self._processes:
            try:
                process = psutil.Process(pid)
                if process.create_time() == started:
                    processes.append(process)
            except psutil.NoSuchProcess:
                pass
        _, alive = psutil.wait_procs(processes, timeout=timeout)
        for process in alive:
            _send(process, signal.SIGKILL)
        psutil.wait_procs(alive, timeout=5)

    def stand_down(self) -> None:
        """The engine was closed normally: the watcher exits without touching anything."""
        watcher, self._watcher = self._watcher, None
        if watcher is None or watcher.stdin is None:
            return
        try:
            watcher.stdin.write(_DONE)
            watcher.stdin.close()
        except OSError:
            pass
        try:
            watcher.wait(timeout=10)
        except subprocess.TimeoutExpired:
            watcher.kill()
            watcher.wait()


def _watch(targets: list[str]) -> None:
    said = sys.stdin.buffer.read()  # returns when the user's process closes the pipe or dies
    if said == _DONE:
        return
    import psutil

    processes = []
    for target in targets:
        pid, started = target.split(":", 1)
        try:
            process = psutil.Process(int(pid))
            if process.create_time() == float(started):  # not a new process with a reused pid
                processes.append(process)
        except psutil.NoSuchProcess:
            pass
    _, alive = psutil.wait_procs(processes, timeout=_GRACE_SECONDS)
    for process in alive:
        _send(process, signal.SIGTERM)
    _, alive = psutil.wait_procs(alive, timeout=_KILL_AFTER_SECONDS)
    for process in alive:
        _send(process, signal.SIGKILL)


def _send(process, sig: int) -> None:
    import psutil

    try:
        process.send_signal(sig)
    except psutil.NoSuchProcess:
        pass


if __name__ == "__main__":
    _watch(sys.argv[1:])
