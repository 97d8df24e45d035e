"""Throughput of the server's standard routes against this project's http backend.

A reranker server, then an embedding server (``qwen3-rag serve``, default settings, one at a
time) on the benchmark model; the same workloads go through each path in turn, every call with texts of its own (a new
seed), so neither path finds the other's prompts in vLLM's prefix cache. Paths: ours
(``Qwen3Reranker`` / ``Qwen3Embedder`` with ``backend="http"``: token ids to ``/classify`` and
``/v1/embeddings``) and a plain client (JSON text to ``/v1/rerank``, and the ``openai`` SDK's
``embeddings.create``). Writes ``docs/benchmarks-server.md``.

    python -m bench.server_routes               # 28 layers, the real Qwen3-0.6B shape
    python -m bench.server_routes --layers 2 --rounds 1 --output /tmp/bench
"""

from __future__ import annotations

import argparse
import datetime
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from bench.machine import describe_machine
from bench.models import full_shape_models
from bench.workload import Sizes, build_workload

_REPO_ROOT = Path(__file__).resolve().parent.parent
_STARTUP_SECONDS = 1200


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _start(kind: str, model: Path, log: Path, extra: list[str]) -> tuple[subprocess.Popen, str]:
    port = _free_port()
    command = [sys.executable, "-m", "qwen3_rag.cli", "serve", kind, "--model", str(model),
               "--port", str(port), *(["--", *extra] if extra else [])]
    with log.open("wb") as sink:
        process = subprocess.Popen(command, stdout=sink, stderr=subprocess.STDOUT,
                                   start_new_session=True)
    return process, f"http://127.0.0.1:{port}"


def _wait(process: subprocess.Popen, url: str, log: Path) -> None:
    deadline = time.monotonic() + _STARTUP_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            sys.exit(f"server exited: see {log}")
        try:
            if httpx.get(url + "/health", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(2)
    sys.exit(f"server not ready after {_STARTUP_SECONDS} s: see {log}")


def _timed(call, *args) -> float:
    started = time.perf_counter()
    call(*args)
    return time.perf_counter() - started


def run(args: argparse.Namespace) -> None:
    models = full_shape_models(args.layers, args.models_dir)
    args.output.mkdir(parents=True, exist_ok=True)
    logs = Path(tempfile.mkdtemp(prefix="qwen3-rag-bench-servers-"))
    print(f"server logs: {logs}", flush=True)
    calls = _calls(args.rounds, models.reranker / "tokenizer.json")
    rows, startups = [], {}
    # One server at a time, as the main benchmark runs one engine at a time: on a small CPU
    # a second engine's threads take cores from the first even while it idles.
    for kind, model in (("reranker", models.reranker), ("embedding", models.embedding)):
        started = time.monotonic()
        process, url = _start(kind, model, logs / f"{kind}.log",
                              ["--enforce-eager"] if args.eager else [])
        try:
            _wait(process, url, logs / f"{kind}.log")
            startups[kind] = time.monotonic() - started
            rows += _measure(kind, model, url, [c for c in calls if (c[1] == "embed") ==
                                                (kind == "embedding")])
        finally:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
                process.wait(timeout=120)
    _write(args, rows, startups)


def _calls(rounds: int, tokenizer_file: Path) -> list[tuple]:
    """Every timed call's texts, ``(round, workload, path, args)``; round 0 warms up."""
    sizes = Sizes()
    calls = []
    seed = 100
    for round_number in range(rounds + 1):
        order = ["ours", "route"] if round_number % 2 else ["route", "ours"]
        for workload_name in ("short", "long", "embed"):
            for path in order:
                seed += 1  # texts of its own for every call
                w = build_workload(tokenizer_file, sizes, seed)
                texts = {"short": (w.short_query, w.short_docs),
                         "long": (w.long_query, w.long_docs),
                         "embed": (w.passages,)}[workload_name]
                calls.append((round_number, workload_name, path, texts))
    return calls


def _measure(kind: str, model: Path, url: str, calls: list[tuple]) -> list[dict]:
    import openai

    from qwen3_core import Qwen3Embedder, Qwen3Reranker

    plain = httpx.Client(timeout=600)
    if kind == "reranker":
        ours_engine = Qwen3Reranker(model, backend="http", base_url=url, timeout=600)

        def ours(query, docs):
            ours_engine.score(query, docs)

        def route(query, docs):
            reply = plain.post(url + "/v1/rerank",
                               json={"model": str(model), "query": query, "documents": docs})
            reply.raise_for_status()
    else:
        ours_engine = Qwen3Embedder(model, backend="http", base_url=url, timeout=600)
        sdk = openai.OpenAI(base_url=url + "/v1", api_key="none", timeout=600)

        def ours(texts):
            ours_engine.embed_documents(texts)

        def route(texts):
            sdk.embeddings.create(model=str(model), input=texts)

    functions = {"ours": ours, "route": route}
    seconds: dict[tuple[str, str], list[float]] = {}
    counts: dict[str, int] = {}
    for round_number, workload_name, path, texts in calls:
        took = _timed(functions[path], *texts)
        counts[workload_name] = len(texts[-1])
        if round_number:
            seconds.setdefault((workload_name, path), []).append(took)
        print(f"{workload_name} {path} round {round_number}: {took:.1f} s", flush=True)
    ours_engine.close()
    plain.close()
    rows = []
    for workload_name in dict.fromkeys(c[1] for c in calls):
        mine = counts[workload_name] / statistics.median(seconds[(workload_name, "ours")])
        theirs = counts[workload_name] / statistics.median(seconds[(workload_name, "route")])
        rows.append({"workload": workload_name, "ours": mine, "route": theirs,
                     "ratio": theirs / mine})
    return rows


_ROUTES = {"short": "/v1/rerank (JSON, httpx)", "long": "/v1/rerank (JSON, httpx)",
           "embed": "/v1/embeddings (openai SDK)"}
_WHAT = {"short": "rerank 64 short (~45-token) candidates",
         "long": "rerank 16 long (~265-token) candidates",
         "embed": "embed 128 passages (~60 tokens)"}


def _write(args: argparse.Namespace, rows: list[dict], startups: dict[str, float]) -> None:
    machine = describe_machine()
    where = machine["gpu"] or f"{machine['cores']}-core {machine['cpu']}"
    lines = [
        "# Server routes: standard clients against the project's http backend",
        "",
        (f"Measured {datetime.date.today()} on {where} by `python -m bench.server_routes"
         f"{' --eager' if args.eager else ''} --layers {args.layers} --rounds {args.rounds}`: "
         f"Qwen3-0.6B's shape ({args.layers} layers, random weights), a reranker server, then "
        "an embedding server, each alone on the machine, started by `qwen3-rag serve` with "
        f"default settings (dtype auto, prefix caching{', eager' if args.eager else ', torch.compile'}"
        f"; up after {startups['reranker']:.0f} s and {startups['embedding']:.0f} s). "
        "Each call has texts of its own, so neither path reuses the other's "
        f"cached prompts; median of {args.rounds} round(s) after one warm-up round, the two paths "
         "alternating."),
        "",
        ("| workload | ours: `backend=\"http\"`, token ids (docs/s) | standard route | "
        "standard route (docs/s) | ratio |"),
        "| --- | ---: | --- | ---: | ---: |",
    ]
    for row in rows:
        lines.append(f"| {_WHAT[row['workload']]} | {row['ours']:.2f} | "
                     f"{_ROUTES[row['workload']]} | {row['route']:.2f} | "
                     f"{row['ratio']:.2f} |")
    lines += ["", ("ratio: the standard route's docs/s over ours (1.00 = the same; the target "
                   "is within 10%, >= 0.90)."), ""]
    path = args.output / "benchmarks-server.md"
    path.write_text("\n".join(lines), encoding="utf-8")
    print(path.read_text())


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.server_routes", description=__doc__)
    parser.add_argument("--layers", type=int, default=28)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--eager", action="store_true", help="start the servers without "
                        "torch.compile (faster start, slower model; both paths alike)")
    parser.add_argument("--models-dir", type=Path, default=None)
    parser.add_argument("--output", type=Path, default=_REPO_ROOT / "docs")
    run(parser.parse_args(argv))


if __name__ == "__main__":
    main()
