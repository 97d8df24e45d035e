"""Time to the first result for a new user: ``qwen3-rag demo`` and a plain script.

Both on the benchmark model (Qwen3-0.6B's shape, random weights), each in a fresh process:

* ``demo``: ``qwen3-rag demo --no-interactive`` with the index already built, timed from the
  command's start to the first reranked table on its output;
* ``script``: a script without a main guard that constructs ``Qwen3Reranker`` and reranks 20
  candidates, timed from the interpreter's start to the first ranking on its output;
* ``long``: the same script, then a long job in the same process (``--long-docs`` documents,
  64 per query), timed in documents per second once the engine serving it is the one it ends
  on (after backend ``auto``'s hand-over from transformers to vLLM).

Cold runs start with empty compile caches (vLLM's ``VLLM_CACHE_ROOT`` and torch inductor's
``TORCHINDUCTOR_CACHE_DIR`` in a new folder); warm runs reuse the caches a previous run left.
Appends to ``first-result.md`` in ``--output`` (``--output docs`` for the committed report).

    python -m bench.first_result                       # the defaults
    python -m bench.first_result --backend vllm --engine-kwargs '{"enforce_eager": true}' \
        --label "vLLM, eager"
    python -m bench.first_result --backend transformers --label transformers
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.machine import describe_machine
from bench.models import full_shape_models, results_root

_SCRIPT = """\
import sys
from qwen3_core import Qwen3Reranker

rr = Qwen3Reranker(sys.argv[1], backend={backend!r}, engine_kwargs={kwargs})
documents = [f"Passage {{i}} about glaciers, valleys and the ice that moved {{i}} metres."
             for i in range(20)]
print(rr.rerank("How do glaciers shape valleys?", documents, top_n=3)[0])
"""

# The same start, then a long job in the same process: reranking --long-docs documents, 64
# candidates per query as in the throughput benchmark's short workload, once the engine that
# serves it is the one the job ends on (after backend auto's hand-over to vLLM).
_LONG_SCRIPT = """\
import sys
import time
from qwen3_core import Qwen3Reranker

rr = Qwen3Reranker(sys.argv[1], backend={backend!r}, engine_kwargs={kwargs})
documents = [f"Passage {{i}} about glaciers, valleys and the ice that moved {{i}} metres."
             for i in range(20)]
print(rr.rerank("How do glaciers shape valleys?", documents, top_n=3)[0], flush=True)
engine = rr._engine().engine
started = time.perf_counter()
if hasattr(engine, "wait_for_hand_over"):
    engine.wait_for_hand_over()
print(f"HANDOVER {{time.perf_counter() - started:.1f}} {{getattr(engine, 'serving', rr.backend)}}",
      flush=True)
words = "valley ice glacier moraine river slope rock snow melt erosion cirque".split()
def passage(i):
    return " ".join(words[(i * 7 + k) % len(words)] for k in range(30)) + f" number {{i}}."
rr.rerank("warm-up query about ice", [passage(-i) for i in range(1, 65)])
total = {long_docs}
started = time.perf_counter()
for first in range(0, total, 64):
    rr.rerank(f"Query {{first}}: how does ice carve a valley?",
              [passage(i) for i in range(first, min(first + 64, total))])
print(f"DOCS_PER_S {{total / (time.perf_counter() - started):.2f}}", flush=True)
inner = getattr(getattr(engine, "_lane", None), "engine", None)
if inner is not None:  # the same calls through the hand-over engine and straight to vLLM,
    shared = rr._engine()  # interleaved, so the machine's load falls on both alike
    seconds = {{"through": 0.0, "direct": 0.0}}
    for rep in range(6):
        for via in (("through", "direct") if rep % 2 else ("direct", "through")):
            ids = shared.prompts.pairs(rr.instruction, f"{{via}} {{rep}}: ice and valleys?",
                                       [passage(10000 + rep * 64 + i) for i in range(64)])
            started = time.perf_counter()
            (shared if via == "through" else inner).score_groups([ids])
            seconds[via] += time.perf_counter() - started
    print(f"OVERHEAD {{seconds['through'] / seconds['direct']:.3f}}", flush=True)
"""


def _long_job(models, env: dict[str, str], engine_kwargs: str | None, backend: str,
              folder: Path, long_docs: int) -> tuple[float, float, float]:
    """Seconds to the first result, to the hand-over after it, and the long job's docs/s."""
    script = folder / "long_job.py"
    kwargs = json.loads(engine_kwargs) if engine_kwargs else None
    script.write_text(_LONG_SCRIPT.format(kwargs=repr(kwargs), backend=backend,
                                          long_docs=long_docs))
    started = time.perf_counter()
    first = hand_over = speed = None
    with subprocess.Popen([sys.executable, str(script), str(models.reranker)], env=env,
                          stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True) as user:
        assert user.stdout is not None
        for line in user.stdout:
            if first is None and line.startswith("RerankResult("):
                first = time.perf_counter() - started
            elif line.startswith("HANDOVER"):
                hand_over = float(line.split()[1])
                print(f"  hand-over {hand_over:.1f} s after the first result "
                      f"(now {line.split()[2]})", flush=True)
            elif line.startswith("DOCS_PER_S"):
                speed = float(line.split()[1])
            elif line.startswith("OVERHEAD"):
                print(f"  time through the hand-over engine / straight to vLLM, same calls "
                      f"interleaved: {line.split()[1]}", flush=True)
        user.wait()
    if user.returncode != 0 or first is None or speed is None or hand_over is None:
        sys.exit(f"the long job failed (exit {user.returncode})")
    return first, hand_over, speed


def _demo_seconds(models, env: dict[str, str], engine_kwargs: str | None,
                  backend: str) -> float:
    command = [sys.executable, "-m", "qwen3_rag.cli", "demo", "--no-interactive",
               "--embedding-model", str(models.embedding),
               "--reranker-model", str(models.reranker), "--backend", backend]
    if engine_kwargs:
        command += ["--engine-kwargs", engine_kwargs]
    started = time.perf_counter()
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                          env={**env, "COLUMNS": "200"}, text=True) as demo:
        assert demo.stdout is not None
        first = None
        for line in demo.stdout:
            if first is None and "Stage 2" in line:
                first = time.perf_counter() - started
        demo.wait()
    if demo.returncode != 0 or first is None:
        sys.exit(f"the demo failed (exit {demo.returncode})")
    return first


def _script_seconds(models, env: dict[str, str], engine_kwargs: str | None,
                    backend: str, folder: Path) -> float:
    script = folder / "first_rerank.py"
    kwargs = json.loads(engine_kwargs) if engine_kwargs else None
    script.write_text(_SCRIPT.format(kwargs=repr(kwargs), backend=backend))
    started = time.perf_counter()
    with subprocess.Popen([sys.executable, str(script), str(models.reranker)], env=env,
                          stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True) as user:
        assert user.stdout is not None
        first = None
        for line in user.stdout:
            if first is None and line.startswith("RerankResult("):
                first = time.perf_counter() - started
        user.wait()
    if user.returncode != 0 or first is None:
        sys.exit(f"the script failed (exit {user.returncode})")
    return first


def run(args: argparse.Namespace) -> None:
    if args.output is None:
        args.output = results_root()
    args.output.mkdir(parents=True, exist_ok=True)
    models = full_shape_models(args.layers)
    rows = []
    with tempfile.TemporaryDirectory(prefix="qwen3-rag-first-") as scratch:
        folder = Path(scratch)
        env = {**os.environ, "QWEN3_RAG_CACHE_DIR": str(folder / "qwen3-rag"),
               "HF_HUB_OFFLINE": "1"}
        # The demo's index, built once beforehand (not timed; eager, the quickest start), so
        # every timed demo reuses it.
        if "demo" in args.parts:
            _demo_seconds(models, {**env, "VLLM_CACHE_ROOT": str(folder / "vllm-prepare"),
                                   "TORCHINDUCTOR_CACHE_DIR": str(folder / "inductor-prepare")},
                          '{"enforce_eager": true}', "vllm")
        for what in args.parts:
            cache = folder / f"vllm-{what}"
            for state in ("cold", "warm"):
                run_env = {**env, "VLLM_CACHE_ROOT": str(cache),
                           "TORCHINDUCTOR_CACHE_DIR": str(cache / "inductor")}
                if what == "long":
                    seconds, hand_over, speed = _long_job(
                        models, run_env, args.engine_kwargs, args.backend, folder,
                        args.long_docs)
                    rows.append((what, state, seconds, hand_over, speed))
                    print(f"{what} {state}: {seconds:.1f} s, then {speed:.2f} docs/s",
                          flush=True)
                    continue
                seconds = (
                    _demo_seconds(models, run_env, args.engine_kwargs, args.backend)
                    if what == "demo" else
                    _script_seconds(models, run_env, args.engine_kwargs, args.backend, folder))
                rows.append((what, state, seconds))
                print(f"{what} {state}: {seconds:.1f} s", flush=True)
    _write(args, rows)


def _write(args: argparse.Namespace, rows) -> None:
    machine = describe_machine()
    where = machine["gpu"] or f"{machine['cores']}-core {machine['cpu']}"
    path = args.output / "first-result.md"
    previous = path.read_text(encoding="utf-8") if path.exists() else ""
    head = "# Time to the first result\n\n"
    table = [f"## {args.label}", "",
             (f"Measured {datetime.date.today()} on {where}, {args.layers}-layer Qwen3-0.6B "
              f"shape (random weights), backend `{args.backend}`, engine_kwargs "
              f"`{args.engine_kwargs or 'none'}`: `python -m bench.first_result "
              f"--backend {args.backend}"
              + (f" --engine-kwargs '{args.engine_kwargs}'" if args.engine_kwargs else "")
              + f" --label '{args.label}'`."), "",
             "| what | caches | seconds to the first result |", "| --- | --- | ---: |"]
    names = {"demo": "`qwen3-rag demo` (index reused)", "script": "script: construct + rerank 20"}
    if any(row[0] == "long" for row in rows):
        table[2] = table[2].replace("--label", f"--parts long --long-docs {args.long_docs} --label")
    short_rows = [row for row in rows if row[0] != "long"]
    if short_rows:
        table += [f"| {names[row[0]]} | {row[1]} | {row[2]:.1f} |" for row in short_rows]
    else:
        table = table[:-2]
    long_rows = [row for row in rows if row[0] == "long"]
    if long_rows:
        table += ["", f"Then, in the same process, a long job: {args.long_docs} documents "
                  "reranked 64 per query (~45-token passages), timed once the engine serving "
                  "it is the one it ends on.", "",
                  "| caches | seconds to the first result | then until the hand-over s | "
                  "long job docs/s |", "| --- | ---: | ---: | ---: |"]
        table += [f"| {state} | {first:.1f} | {hand:.1f} | {speed:.2f} |"
                  for _, state, first, hand, speed in long_rows]
    body = previous.removeprefix(head) if previous.startswith(head) else ""
    path.write_text(head + body + "\n".join(table) + "\n\n", encoding="utf-8")
    print(path.read_text())


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.first_result", description=__doc__)
    parser.add_argument("--layers", type=int, default=28)
    parser.add_argument("--backend", default="auto", help="backend of the demo and the script")
    parser.add_argument("--engine-kwargs", default=None, metavar="JSON")
    parser.add_argument("--label", default="defaults")
    parser.add_argument("--parts", type=lambda text: text.split(","), default=["demo", "script"],
                        help="what to time: demo, script, long (the script, then a long job's "
                             "docs/s) (default: demo,script)")
    parser.add_argument("--long-docs", type=int, default=2048,
                        help="documents the long job reranks (default: 2048)")
    parser.add_argument("--output", type=Path, default=None,
                        help="folder of first-result.md (default: bench-results in qwen3-rag's "
                             "cache directory; `--output docs` updates the committed report)")
    run(parser.parse_args(argv))


if __name__ == "__main__":
    main()
