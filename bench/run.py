"""Run the benchmark suite and write ``docs/benchmarks.md`` and its chart.

With no arguments this is the full measurement of issue 7: Qwen3-0.6B's exact shape (28 layers),
every system, every ablation. ``--quick`` shrinks the model to 2 layers and skips the ablations;
``--smoke`` runs seconds-long on the tiny test model (CI checks only that a report appears).

Examples::

    python -m bench.run                      # full run, report in docs/
    python -m bench.run --quick
    python -m bench.run --systems card,transformers --layers 4 --output /tmp/bench
    python -m bench.run --vision --quick     # Qwen3-VL on images instead (bench.vision)
"""

from __future__ import annotations

import argparse
import datetime
import importlib.util
import json
import sys
import tempfile
import time
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

from bench.machine import describe_machine
from bench.models import full_shape, full_shape_models, models_root, results_root
from bench.options import add_report_options, command_line
from bench.render import render
from bench.subprocess_runs import run_in_subprocess
from bench.systems import RERANKER, SYSTEMS, available
from bench.workload import SMOKE_SIZES, Sizes, build_workload, save_workload

__all__ = ["add_arguments", "main", "run"]

_REAL_LAYERS = 28
_QUICK_LAYERS = 2
_MAIN_SYSTEMS = ("card", "transformers", "transformers-fp32", "vllm", "vllm-fp32",
                 "sentence-transformers")
_SMOKE_SYSTEMS = ("card", "transformers", "transformers-fp32", "sentence-transformers")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The benchmark's options (``python -m bench.run``)."""
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--quick", action="store_true",
                      help=f"{_QUICK_LAYERS} layers, main systems only, no ablations")
    mode.add_argument("--smoke", action="store_true",
                      help="seconds-long run on the tiny test model, without vLLM (for CI)")
    parser.add_argument("--layers", type=int, default=None,
                        help=f"layers of the benchmark model (default {_REAL_LAYERS}, the real "
                             "Qwen3-0.6B)")
    parser.add_argument("--systems", default=None, metavar="LIST",
                        help="comma-separated systems to run (default: all); 'card', the "
                             f"baseline, is always included. Known: {', '.join(SYSTEMS)}")
    parser.add_argument("--no-ablations", action="store_true",
                        help="skip the rows that switch one technique off")
    parser.add_argument("--peak-tflops", type=float, default=None,
                        help="the device's bf16 peak in TFLOP/s, to report the share reached")
    add_report_options(parser, "benchmarks.md, benchmarks.png and benchmarks.json",
                       "benchmarks.json", in_process_default="the default of --smoke")
    parser.add_argument("--vision", action="store_true",
                        help="run the Qwen3-VL image benchmark instead (python -m bench.vision; "
                             "--quick, --smoke, --output, --models-dir, --note and --timeout "
                             "carry over), writing benchmarks-vision.md")


def _selected_systems(args: argparse.Namespace) -> list[str]:
    if args.systems:
        names = [n.strip() for n in args.systems.split(",") if n.strip()]
        unknown = [n for n in names if n not in SYSTEMS]
        if unknown:
            raise SystemExit(f"unknown systems: {', '.join(unknown)}; known: {', '.join(SYSTEMS)}")
    elif args.smoke:
        names = list(_SMOKE_SYSTEMS)
    elif args.quick or args.no_ablations:
        names = list(_MAIN_SYSTEMS)
    else:
        names = list(SYSTEMS)
    if args.no_ablations:
        names = [n for n in names if n in _MAIN_SYSTEMS]
    return ["card", *[n for n in names if n != "card"]]


def _build_models(args: argparse.Namespace, layers: int | None):
    from qwen3_core.testing.tiny_models import TinyShape, build_tiny_models

    if layers is None:
        return build_tiny_models(models_root(args.models_dir) / "tiny"), TinyShape()
    return full_shape_models(layers, args.models_dir), full_shape(layers)


def _flops_per_token(shape) -> float:
    """2 x the non-embedding weights the forward pass multiplies by, per token."""
    h, inter = shape.hidden_size, shape.intermediate_size
    attention = h * shape.head_dim * (2 * shape.num_attention_heads + 2 * shape.num_key_value_heads)
    return 2.0 * shape.num_hidden_layers * (attention + 3 * h * inter)


def _run_worker(system: str, kind: str, model: Path, workload: Path, work: Path,
                timeout: float) -> dict[str, Any]:
    spec = {"system": system, "kind": kind, "model": str(model), "workload": str(workload)}
    return run_in_subprocess(["bench.worker"], spec, f"{system}-{kind}", work, timeout)


def _measure_here(system: str, kind: str, model: Path, workload: Path) -> dict[str, Any]:
    from bench.worker import measure

    try:
        return measure(system, kind, model, workload)
    except Exception as error:  # a failed system is reported; the others still run
        return {"error": f"{type(error).__name__}: {error}"}


def _token_counts(models, workload) -> tuple[dict[str, int], dict[str, float]]:
    """Prompt tokens per workload call, and the cost of tokenising the fixed prompt parts."""
    from tokenizers import Tokenizer

    from qwen3_core.formats import DEFAULT_INSTRUCTION, RERANK_PREFIX, RERANK_SUFFIX
    from qwen3_core.formats import rerank_body_text
    from qwen3_core.tokenization import EmbeddingPromptTokenizer, RerankPromptTokenizer

    rerank = RerankPromptTokenizer(models.reranker, 8192)
    embed = EmbeddingPromptTokenizer(models.embedding, 8192)

    def pairs(query, docs):
        return rerank.pairs(DEFAULT_INSTRUCTION, query, docs)

    tokens = {
        "short": sum(map(len, pairs(workload.short_query, workload.short_docs))),
        "long": sum(map(len, pairs(workload.long_query, workload.long_docs))),
        "embed": sum(map(len, embed.documents(workload.passages))),
        "latency": sum(map(len, pairs(workload.latency_queries[0], workload.latency_docs))),
    }
    whole = [RERANK_PREFIX + rerank_body_text(DEFAULT_INSTRUCTION, workload.short_query, d)
             + RERANK_SUFFIX for d in workload.short_docs]
    full_tokenizer = Tokenizer.from_file(str(models.reranker / "tokenizer.json"))
    tokenization = {
        "ours_ms": _best_ms(lambda: pairs(workload.short_query, workload.short_docs)),
        "whole_prompt_ms": _best_ms(lambda: full_tokenizer.encode_batch(whole)),
    }
    return tokens, tokenization


def _best_ms(function, repeats: int = 7) -> float:
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        best = min(best, time.perf_counter() - start)
    return best * 1000


def _default_system() -> tuple[str, str]:
    """Our row a user gets with no arguments, and its resolved dtype."""
    from qwen3_core.engines.dtypes import resolve_dtype
    from qwen3_core.engines.registry import choose_backend
    from qwen3_core.hardware import has_nvidia_gpu

    backend, _ = choose_backend("auto")
    return backend, resolve_dtype("auto", has_nvidia_gpu())


def _tolerance(dtype: str) -> float:
    """The issue's agreement bound: 1e-5 in float32, 0.05 in bf16."""
    from qwen3_core.engines.dtypes import resolve_dtype
    from qwen3_core.hardware import has_nvidia_gpu

    return 1e-5 if resolve_dtype(dtype, has_nvidia_gpu()) == "float32" else 0.05


def run(args: argparse.Namespace) -> int:
    """Run the selected systems and write the report; returns 1 when any system failed."""
    if args.vision:
        return _run_vision(args)
    if importlib.util.find_spec("matplotlib") is None:
        raise SystemExit("the benchmark's chart needs matplotlib: pip install 'qwen3-rag[bench]'")
    if args.output is None:
        args.output = results_root()
    if args.render:
        render(json.loads(args.render.read_text(encoding="utf-8")), args.output)
        return 0
    default_layers = _QUICK_LAYERS if args.quick else _REAL_LAYERS
    layers = None if args.smoke else (args.layers or default_layers)
    sizes = SMOKE_SIZES if args.smoke else Sizes()
    if args.quick:
        sizes = replace(sizes, latency_repeats=3)
    names = _selected_systems(args)
    in_process = args.in_process or args.smoke
    models, shape = _build_models(args, layers)
    workload = build_workload(models.reranker / "tokenizer.json", sizes)
    tokens, tokenization = _token_counts(models, workload)
    raw: dict[str, dict[str, Any]] = {}
    skipped: dict[str, str] = {}
    with tempfile.TemporaryDirectory(prefix="qwen3-rag-bench-") as temp:
        work = Path(temp)
        workload_file = work / "workload.json"
        save_workload(workload, workload_file)
        for name in names:
            reason = available(SYSTEMS[name])
            if reason:
                skipped[name] = reason
                continue
            raw[name] = {}
            for kind in SYSTEMS[name].kinds:
                model = models.reranker if kind == RERANKER else models.embedding
                print(f"bench: {name} / {kind} ...", file=sys.stderr, flush=True)
                if in_process:
                    raw[name][kind] = _measure_here(name, kind, model, workload_file)
                else:
                    raw[name][kind] = _run_worker(name, kind, model, workload_file, work,
                                                  args.timeout)
                if "error" in raw[name][kind]:
                    print(f"bench: {name} / {kind} failed: {raw[name][kind]['error']}",
                          file=sys.stderr, flush=True)
    default_backend, default_dtype = _default_system()
    data = {
        "mode": _mode(args),
        "command": command_line("bench.run"),
        "when": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "note": args.note or ("Numbers from a shrunken model: ratios are not the real model's."
                              if layers != _REAL_LAYERS else ""),
        "machine": describe_machine(),
        "shape": {**asdict(shape), "tiny": layers is None},
        "flops_per_token": _flops_per_token(shape),
        "peak_tflops": args.peak_tflops,
        "workload": asdict(workload),
        "tokens": tokens,
        "tokenization": tokenization,
        "default_backend": default_backend,
        "default_dtype": default_dtype,
        "tolerances": {n: _tolerance(SYSTEMS[n].dtype) for n in raw},
        "default_tolerance": _tolerance("auto"),
        "skipped": skipped,
        "raw": raw,
    }
    render(data, args.output)
    return 1 if any("error" in r for kinds in raw.values() for r in kinds.values()) else 0


def _run_vision(args: argparse.Namespace) -> int:
    from bench.vision import main as vision_main

    argv = ["--quick"] if args.quick or args.smoke else []
    if args.smoke:
        argv += ["--tiny", "--in-process"]
    for option, value in (("--output", args.output), ("--models-dir", args.models_dir),
                          ("--note", args.note or None), ("--render", args.render)):
        if value is not None:
            argv += [option, str(value)]
    return vision_main([*argv, "--timeout", str(args.timeout)])


def _mode(args: argparse.Namespace) -> str:
    if args.smoke or args.quick:
        return "smoke" if args.smoke else "quick"
    narrowed = args.systems or args.no_ablations or args.layers not in (None, _REAL_LAYERS)
    return "custom" if narrowed else "full"


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``python -m bench.run``."""
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__.split("\n")[0])
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
