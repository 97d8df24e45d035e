"""One measurement in its own process: load one system's model, warm up, time the workloads.

A fresh process per (system, model) makes peak memory a property of that system alone and
keeps a single large model in memory at a time. Usage (by :mod:`bench.run`)::

    python -m bench.worker SPEC.json

where the spec names the system, the model kind and directory, the workload file and the path
of the result JSON to write.
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from pathlib import Path
from typing import Any

__all__ = ["PeakMemory", "measure", "main"]

_SAMPLE_SECONDS = 0.02


class PeakMemory:
    """Samples the resident memory of this process and its children (vLLM's engine process).

    Without psutil it falls back to this process's own high-water mark, which misses children.
    """

    def __init__(self):
        try:
            import psutil
        except ImportError:
            psutil = None
        self._psutil = psutil
        self._process = psutil.Process(os.getpid()) if psutil else None
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _sample(self) -> int:
        if self._psutil is None:
            import resource

            return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB on Linux
        total = 0
        for proc in [self._process, *self._process.children(recursive=True)]:
            try:
                total += proc.memory_info().rss
            except self._psutil.Error:  # a child that just exited
                continue
        return total

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self._sample())
            self._stop.wait(_SAMPLE_SECONDS)

    def __enter__(self) -> PeakMemory:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self._sample())


def _timed(function, *args) -> tuple[Any, float]:
    start = time.perf_counter()
    value = function(*args)
    return value, time.perf_counter() - start


def _rerank_workloads(model, workload) -> dict[str, Any]:
    model.score(workload.warmup_query, workload.warmup_docs)
    results: dict[str, Any] = {}
    for name, query, docs in (
        ("short", workload.short_query, workload.short_docs),
        ("long", workload.long_query, workload.long_docs),
    ):
        scores, seconds = _timed(model.score, query, docs)
        results[name] = {"seconds": seconds, "scores": [float(s) for s in scores]}
    runs = [_timed(model.score, q, workload.latency_docs) for q in workload.latency_queries]
    results["latency"] = {
        "seconds": [seconds for _, seconds in runs],
        "scores": [[float(s) for s in scores] for scores, _ in runs],
    }
    return results


def _embed_workloads(model, workload) -> dict[str, Any]:
    model.embed_documents(workload.warmup_docs)
    model.embed_query(workload.warmup_query)
    vectors, seconds = _timed(model.embed_documents, workload.passages)
    # Agreement is judged on what retrieval uses: each passage's similarity to a query.
    query_vector = model.embed_query(workload.embed_query)
    similarities = [float(s) for s in vectors @ query_vector]
    return {"embed": {"seconds": seconds, "scores": similarities}}


def measure(system_name: str, kind: str, model_dir: Path, workload_file: Path) -> dict[str, Any]:
    """Open the system, run the workloads of ``kind``, and return timings, scores and memory."""
    from bench.systems import RERANKER, SYSTEMS, open_system
    from bench.workload import load_workload

    system = SYSTEMS[system_name]
    workload = load_workload(workload_file)
    with PeakMemory() as memory:
        model, startup = _timed(open_system, system, kind, Path(model_dir))
        try:
            runner = _rerank_workloads if kind == RERANKER else _embed_workloads
            results = runner(model, workload)
        finally:
            model.close()
    return {"system": system_name, "kind": kind, "startup_seconds": startup,
            "peak_rss_bytes": memory.peak, "results": results}


def main(argv: list[str] | None = None) -> int:
    """Run the measurement a spec file describes and write its result file."""
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        raise SystemExit("usage: python -m bench.worker SPEC.json")
    spec = json.loads(Path(args[0]).read_text(encoding="utf-8"))
    result = measure(spec["system"], spec["kind"], Path(spec["model"]), Path(spec["workload"]))
    Path(spec["output"]).write_text(json.dumps(result), encoding="utf-8")
    return 0


if __name__ == "__main__":
    code = main()
    sys.stdout.flush()
    sys.stderr.flush()
    # The engines are closed; skip interpreter teardown, where vLLM's leftovers can hang.
    os._exit(code)
