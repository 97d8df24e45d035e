"""Engine processes end when the user's process dies, and are left alone when it closes them.

A stand-in engine (``sleep``) replaces vLLM here; the vLLM case is in test_plain_script.py.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time

import psutil
import pytest

_USER = """\
import json, subprocess, sys
from qwen3_core.engines.engine_reaper import EngineReaper, child_processes

engine = subprocess.Popen(["sleep", "300"])
reaper = EngineReaper(child_processes())
print(json.dumps([engine.pid, reaper._watcher.pid]), flush=True)
if sys.argv[1] == "stand-down":
    reaper.stand_down()
    print("stood down", flush=True)
sys.stdin.read()
"""


def _start_user(how: str) -> tuple[subprocess.Popen, psutil.Process, psutil.Process]:
    user = subprocess.Popen([sys.executable, "-c", _USER, how], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True)
    assert user.stdout is not None
    engine_pid, watcher_pid = json.loads(user.stdout.readline())
    return user, psutil.Process(engine_pid), psutil.Process(watcher_pid)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL])
def test_a_killed_user_process_takes_its_engine_processes_along(sig):
    user, engine, watcher = _start_user("keep")
    try:
        time.sleep(0.5)
        assert engine.is_running() and watcher.is_running()
        user.send_signal(sig)
        user.wait(timeout=10)
        _, alive = psutil.wait_procs([engine, watcher], timeout=30)
        assert not alive
    finally:
        _kill(user, engine, watcher)


def test_a_normal_close_leaves_the_engine_to_its_owner():
    user, engine, watcher = _start_user("stand-down")
    try:
        assert user.stdout is not None and user.stdout.readline().strip() == "stood down"
        _, alive = psutil.wait_procs([watcher], timeout=10)
        assert not alive  # the watcher is gone...
        assert engine.is_running()  # ...and touched nothing
    finally:
        _kill(user, engine, watcher)


def _kill(user: subprocess.Popen, *processes: psutil.Process) -> None:
    user.kill()
    user.wait()
    for process in processes:
        try:
            process.kill()
        except psutil.NoSuchProcess:
            pass
