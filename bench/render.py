"""From one run's recorded data to the report files (also ``--render`` on a saved JSON)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from bench.analysis import make_rows, target_checks
from bench.method import METHOD
from bench.report import write_chart, write_markdown
from bench.systems import SYSTEMS

__all__ = ["render"]


def _settings(data: dict[str, Any], rows) -> list[str]:
    shape, sizes, tokens = data["shape"], data["workload"]["sizes"], data["tokens"]
    flops = data["flops_per_token"]
    long_rates = {r.label: r.tokens_per_second.get("long") for r in rows}
    lines = [
        f"Generated {data['when']} by `{data['command']}` ({data['mode']} mode).",
        f"Model: random weights, {'tiny test' if shape['tiny'] else 'Qwen3-0.6B'} shape: "
        f"hidden {shape['hidden_size']}, {shape['num_hidden_layers']} layers, "
        f"{shape['num_attention_heads']} heads, {shape['num_key_value_heads']} KV heads, "
        f"head_dim {shape['head_dim']}, intermediate {shape['intermediate_size']}, vocabulary "
        f"{shape['vocab_size']} rows, tied embeddings; weights drawn with initializer range "
        f"{shape.get('initializer_range', 0.2)}, stored in {shape.get('weights_dtype', 'float32')};"
        " the tiny test tokenizer.",
        *_reference_spread(data),
        f"Workloads (prompt tokens per call): rerank {sizes['short_docs']} candidates of "
        f"~{sizes['short_tokens']} tokens ({tokens['short']}), {sizes['long_docs']} of "
        f"~{sizes['long_tokens']} ({tokens['long']}); embed {sizes['passages']} passages of "
        f"~{sizes['passage_tokens']} ({tokens['embed']}); latency: 1 query x "
        f"{sizes['latency_docs']} candidates, median of {sizes['latency_repeats']} queries.",
        f"Our defaults here: backend `{data['default_backend']}`, dtype "
        f"`{data['default_dtype']}`.",
        f"Forward cost: {flops / 1e9:.2f} GFLOP per token (non-embedding weights). Long "
        "rerank, prompt tokens/s: "
        + ", ".join(f"{label} {rate:.0f}" for label, rate in long_rates.items() if rate),
    ]
    if data.get("peak_tflops"):
        peak = data["peak_tflops"] * 1e12
        lines.append("Share of the bf16 peak on the long case: " + ", ".join(
            f"{label} {100 * rate * flops / peak:.1f}%"
            for label, rate in long_rates.items() if rate))
    lines += [f"Not run: {name} ({why})." for name, why in data["skipped"].items()]
    return lines


def _reference_spread(data: dict[str, Any]) -> list[str]:
    """How far apart (a)'s rerank scores lie: what a top-10 comparison can tell apart."""
    results = data["raw"].get("card", {}).get("reranker", {}).get("results", {})
    parts = []
    for workload in ("short", "long"):
        if workload in results and len(results[workload]["scores"]) > 1:
            scores = sorted(results[workload]["scores"], reverse=True)
            gaps = [a - b for a, b in zip(scores[:10], scores[1:11])]
            parts.append(f"{workload} {scores[-1]:.3f} to {scores[0]:.3f}, closest neighbours "
                         f"in the top-10 {min(gaps):.1e} apart")
    return [f"(a)'s rerank scores: {'; '.join(parts)}."] if parts else []


def _chart_title(data: dict[str, Any]) -> str:
    machine = data["machine"]
    where = machine["gpu"] or f"{machine['cores']}-core {machine['cpu']}"
    layers = data["shape"]["num_hidden_layers"]
    return f"qwen3-rag vs the model card code ({data['mode']} run, {layers} layers, {where})"


def render(data: dict[str, Any], output: Path) -> None:
    """Write ``benchmarks.md``, ``benchmarks.png`` and ``benchmarks.json`` into ``output``."""
    raw = data["raw"]
    sizes = data["workload"]["sizes"]
    counts = {"short": sizes["short_docs"], "long": sizes["long_docs"],
              "embed": sizes["passages"], "latency": sizes["latency_docs"]}
    rows = make_rows(raw, {n: SYSTEMS[n].label for n in raw}, counts, data["tokens"],
                     data["tolerances"])
    checks = target_checks(rows, data["default_backend"], data["default_tolerance"])
    ablations = [(s.technique, s.name, s.ablation_of) if s.adds_technique
                 else (s.technique, s.ablation_of, s.name)
                 for s in SYSTEMS.values() if s.technique]
    output.mkdir(parents=True, exist_ok=True)
    chart = output / "benchmarks.png"
    write_chart(chart, rows, _chart_title(data))
    write_markdown(output / "benchmarks.md", title_note=data["note"], machine=data["machine"],
                   settings=_settings(data, rows), rows=rows, checks=checks,
                   ablations=ablations, tokenization=data["tokenization"], method=METHOD,
                   chart_name=chart.name)
    (output / "benchmarks.json").write_text(json.dumps(data), encoding="utf-8")
    for target, measured, met in checks:
        print(f"{'ok ' if met else '-- ' if met is None else 'NO '} {target}: {measured}")
    print(f"bench: report written to {output / 'benchmarks.md'}")
