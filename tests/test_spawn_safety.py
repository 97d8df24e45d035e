"""Processes spawned while an engine starts do not re-run the user's script (no engine needed)."""

from __future__ import annotations

import subprocess
import sys
import threading

import pytest

from qwen3_core.engines.spawn_safety import main_script_kept_out_of_children

_SCRIPT = """\
import multiprocessing
import sys
import time

from qwen3_core.engines.spawn_safety import main_script_kept_out_of_children

with open({runs!r}, "a") as runs:
    runs.write("ran\\n")
before = (__file__, __spec__)
child = multiprocessing.get_context("spawn").Process(target=time.sleep, args=(0,))
if {kept_out}:
    with main_script_kept_out_of_children():
        child.start()
else:
    child.start()
child.join()
assert child.exitcode == 0, child.exitcode
assert (__file__, __spec__) == before
"""


@pytest.mark.parametrize("invocation", ["path", "module"])
@pytest.mark.parametrize("kept_out", [True, False])
def test_a_spawned_child_runs_the_script_only_when_not_kept_out(kept_out, invocation, tmp_path):
    runs = tmp_path / "runs.txt"
    (tmp_path / "user_script.py").write_text(_SCRIPT.format(runs=str(runs), kept_out=kept_out))
    command = ([sys.executable, "user_script.py"] if invocation == "path"
               else [sys.executable, "-m", "user_script"])
    finished = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True,
                              timeout=120, check=False)
    if kept_out:
        assert finished.returncode == 0, finished.stderr
        assert runs.read_text().splitlines() == ["ran"]
    else:
        # What happens without it: the child re-runs the script, which fails to start its own
        # child during bootstrap, as the vLLM engine process did.
        assert runs.read_text().splitlines() == ["ran", "ran"]
        assert "bootstrapping phase" in finished.stderr


def test_main_is_restored_when_the_last_of_several_threads_leaves():
    main = sys.modules["__main__"]
    before = (getattr(main, "__file__", None), main.__spec__)
    inside, leave = threading.Barrier(3), threading.Event()

    def start_engine():
        with main_script_kept_out_of_children():
            inside.wait()
            leave.wait()

    threads = [threading.Thread(target=start_engine) for _ in range(2)]
    for thread in threads:
        thread.start()
    inside.wait()
    # Spawned processes import the engine's own first module instead of the script.
    assert getattr(main, "__file__", None) == before[0]  # the script may still read it
    assert main.__spec__.name == "qwen3_core.engines.engine_child"
    leave.set()
    for thread in threads:
        thread.join()
    assert (getattr(main, "__file__", None), main.__spec__) == before
