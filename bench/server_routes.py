"""Throughput of the server's standard routes against this project's http backend.

One reranker and one embedding server (``qwen3-rag serve``, default settings) on the benchmark
model; the same workloads go through each path in turn, every call with texts of its own (a new
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
import time
from pathlib import Path

import httpx

from bench.machine import describe_machine
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
    from qwen3_core import Qwen3Embedder, Qwen3Reranker
    from qwen3_core.tiny_models import TinyShape, build_tiny_models

    shape = TinyShape(hidden_size=1024, intermediate_size=3072, num_hidden_layers=args.layers,
                      num_attention_heads=16, num_key_value_heads=8, head_dim=128,
                      vocab_size=151669, max_position_embeddings=40960,
                      initializer_range=0.02, weights_dtype="bfloat16")
    root = args.models_dir or Path.home() / ".cache" / "qwen3-rag" / "bench"
    models = build_tiny_models(root / f"qwen3-0.6b-shape-{args.layers}-layers", shape=shape)
    args.output.mkdir(parents=True, exist_ok=True)
    logs = args.output / "server-logs"
    logs.mkdir(exist_ok=True)
    extra = ["--enforce-eager"] if args.eager else []
    started = time.monotonic()
    reranker = _start("reranker", models.reranker, logs / "reranker.log", extra)
    embedding = _start("embedding", models.embedding, logs / "embedding.log", extra)
    try:
        _wait(*reranker, logs / "reranker.log")
        _wait(*embedding, logs / "embedding.log")
        startup = time.monotonic() - started
        rows = _measure(args, models, reranker[1], embedding[1], Qwen3Reranker, Qwen3Embedder)
    finally:
        for process, _ in (reranker, embedding):
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
                process.wait(timeout=120)
    _write(args, rows, startup)


def _measure(args, models, rerank_url, embed_url, reranker_cls, embedder_cls) -> list[dict]:
    import openai

    sizes = Sizes()
    tokenizer_file = models.reranker / "tokenizer.json"
    name_r, name_e = str(models.reranker), str(models.embedding)
    ours_r = reranker_cls(models.reranker, backend="http", base_url=rerank_url, timeout=600)
    ours_e = embedder_cls(models.embedding, backend="http", base_url=embed_url, timeout=600)
    plain = httpx.Client(timeout=600)
    sdk = openai.OpenAI(base_url=embed_url + "/v1", api_key="none", timeout=600)

    def rerank_route(query, docs):
        reply = plain.post(rerank_url + "/v1/rerank",
                           json={"model": name_r, "query": query, "documents": docs})
        reply.raise_for_status()

    def sdk_embed(texts):
        sdk.embeddings.create(model=name_e, input=texts)

    paths = {
        "short": (lambda w: (w.short_query, w.short_docs)),
        "long": (lambda w: (w.long_query, w.long_docs)),
    }
    seconds: dict[tuple[str, str], list[float]] = {}
    counts: dict[str, int] = {}
    seed = 100
    for round_number in range(args.rounds + 1):  # round 0 warms both paths up
        for workload_name, pick in paths.items():
            order = ["ours", "route"] if round_number % 2 else ["route", "ours"]
            for path in order:
                seed += 1
                query, docs = pick(build_workload(tokenizer_file, sizes, seed))
                took = _timed(ours_r.score if path == "ours" else rerank_route, query, docs)
                counts[workload_name] = len(docs)
                if round_number:
                    seconds.setdefault((workload_name, path), []).append(took)
        order = ["ours", "route"] if round_number % 2 else ["route", "ours"]
        for path in order:
            seed += 1
            texts = build_workload(tokenizer_file, sizes, seed).passages
            took = _timed(ours_e.embed_documents if path == "ours" else sdk_embed, texts)
            counts["embed"] = len(texts)
            if round_number:
                seconds.setdefault(("embed", path), []).append(took)
        print(f"round {round_number} done", flush=True)
    ours_r.close()
    ours_e.close()
    rows = []
    for workload_name in ("short", "long", "embed"):
        ours = counts[workload_name] / statistics.median(seconds[(workload_name, "ours")])
        route = counts[workload_name] / statistics.median(seconds[(workload_name, "route")])
        rows.append({"workload": workload_name, "ours": ours, "route": route,
                     "ratio": route / ours})
    return rows


_ROUTES = {"short": "/v1/rerank (JSON, httpx)", "long": "/v1/rerank (JSON, httpx)",
           "embed": "/v1/embeddings (openai SDK)"}
_WHAT = {"short": "rerank 64 short (~45-token) candidates",
         "long": "rerank 16 long (~265-token) candidates",
         "embed": "embed 128 passages (~60 tokens)"}


def _write(args: argparse.Namespace, rows: list[dict], startup: float) -> None:
    machine = describe_machine()
    where = machine["gpu"] or f"{machine['cores']}-core {machine['cpu']}"
    lines = [
        "# Server routes: standard clients against the project's http backend",
        "",
        (f"Measured {datetime.date.today()} on {where} by `python -m bench.server_routes"
         f"{' --eager' if args.eager else ''} --layers {args.layers} --rounds {args.rounds}`: "
         f"Qwen3-0.6B's shape ({args.layers} layers, random weights), one reranker and one "
        "embedding server started by `qwen3-rag serve` with default settings (bf16, prefix "
        f"caching{', eager' if args.eager else ', torch.compile'}), both up after "
        f"{startup:.0f} s. Each call has texts of its own, so neither path reuses the other's "
        f"cached prompts; median of {args.rounds} round(s) after one warm-up round, the two paths "
         "alternating."),
        "",
        "| workload | ours: `backend=\"http\"`, token ids (docs/s) | standard route | "
        "standard route (docs/s) | ratio |",
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
