"""Every Python block of the README and of docs/ runs as printed, on the tiny models.

The models come from ``qwen3-rag models --tiny DIR`` and its ``export`` lines, as the README
tells a reader without network access to do. The blocks of one page run in order in one
namespace (a page reads as one script), every page in one process, so wrappers with equal
settings share their engines across pages. The backend is whatever ``auto`` picks here, as for
a reader who copies a block. A block that reads where a service is from the environment
(``SERVICES``) runs in a process of its own, whose environment points at real ones started for
it: ``qwen3-rag serve`` servers, or a Chroma server and a Parquet folder for Ray on this
machine; only those blocks wait for them. A block that cannot run on a test machine starts with
``# Not run by the docs test: <reason>`` (at most ``MAX_SKIPPED``, each saying why).
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import subprocess
import sys
import time
import traceback
from dataclasses import asdict, dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
SKIP_MARK = "# Not run by the docs test:"
#: How many blocks may be marked as not run, in all: none today (serving and Ray blocks run
#: against services the test starts, see ``SERVICES``).
MAX_SKIPPED = 0
#: The fixture that runs the blocks reading any of these environment variables (where a
#: service is), with them set.
SERVICES = {
    "server_results": ("QWEN3_EMBEDDING_URL", "QWEN3_RERANKER_URL", "QWEN3_RERANKER_URLS"),
    "ray_results": ("CHROMA_URL", "PASSAGES_PATH"),
}
_FENCE = re.compile(r"^(?P<indent>[ \t]*)(?P<fence>```+|~~~+)[ \t]*(?P<info>[^\n`]*)$")


@dataclass(frozen=True)
class Block:
    """One fenced Python block: where it is and what it says."""

    page: str
    line: int
    source: str

    @property
    def name(self) -> str:
        return f"{self.page}:{self.line}"

    @property
    def skip_reason(self) -> str | None:
        first = self.source.lstrip().splitlines()[0] if self.source.strip() else ""
        if first.startswith(SKIP_MARK):
            return first[len(SKIP_MARK):].strip()
        return None

    @property
    def runner(self) -> str:
        """The fixture that runs this block: one of ``SERVICES``, else ``results``."""
        return next((fixture for fixture, names in SERVICES.items()
                     if any(name in self.source for name in names)), "results")


def collect(path: Path) -> list[Block]:
    """The ``python`` blocks of one Markdown page, fences possibly indented (inside lists)."""
    blocks = []
    lines = path.read_text(encoding="utf-8").splitlines()
    page = path.relative_to(ROOT).as_posix()
    number = 0
    while number < len(lines):
        opening = _FENCE.match(lines[number])
        number += 1
        if not opening:
            continue
        indent, fence = opening["indent"], opening["fence"]
        language = opening["info"].strip().split(" ")[0].lower() if opening["info"] else ""
        start, body = number, []
        while number < len(lines) and not lines[number].strip().startswith(fence):
            line = lines[number]
            body.append(line[len(indent):] if line.startswith(indent) else line.lstrip())
            number += 1
        number += 1
        if language in ("python", "py"):
            blocks.append(Block(page, start, "\n".join(body) + "\n"))
    return blocks


BLOCKS = [block for page in PAGES for block in collect(page)]


# -- the runner: one process, a namespace per page ---------------------------------------------

def run_blocks(spec_path: str, results_path: str) -> None:
    """Run the blocks listed in ``spec_path`` (JSON) and write one result per block."""
    blocks = [Block(**item) for item in json.loads(Path(spec_path).read_text())]
    work = Path(results_path).parent / "pages"
    namespaces = []  # kept to the end, so engines stay up for the next pages
    results: dict[str, dict] = {}
    failed_pages: set[str] = set()
    for block in blocks:
        if block.page in failed_pages:
            results[block.name] = {"ok": False, "seconds": 0.0, "output": "",
                                   "error": "not run: an earlier block of this page failed"}
            continue
        if not namespaces or namespaces[-1][0] != block.page:
            directory = work / block.page.replace("/", "_")
            directory.mkdir(parents=True, exist_ok=True)
            os.chdir(directory)
            namespaces.append((block.page, {"__name__": "__main__"}))
        namespace = namespaces[-1][1]
        output = io.StringIO()
        start = time.perf_counter()
        error = None
        try:
            code = compile(block.source, block.name, "exec")
            with contextlib.redirect_stdout(output):
                exec(code, namespace)  # noqa: S102 - running the documentation is the point
        except BaseException:  # noqa: BLE001 - reported, the next pages still run
            error = traceback.format_exc()
            failed_pages.add(block.page)
        results[block.name] = {"ok": error is None, "seconds": time.perf_counter() - start,
                               "output": output.getvalue(), "error": error}
        Path(results_path).write_text(json.dumps(results))
    print("\n".join(f"{name}: {'ok' if r['ok'] else 'FAILED'} in {r['seconds']:.1f} s"
                    for name, r in results.items()), file=sys.stderr)


# -- the tests ---------------------------------------------------------------------------------

def _tiny_model_exports(root: Path) -> dict[str, str]:
    """Run ``qwen3-rag models --tiny ROOT`` and read its ``export`` lines, as a reader would."""
    from qwen3_rag.cli import main

    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        assert main(["models", "--tiny", str(root)]) == 0
    exports = dict(re.findall(r"^export (\w+)=(\S+)$", printed.getvalue(), re.MULTILINE))
    assert set(exports) == {"QWEN3_EMBEDDING_MODEL", "QWEN3_RERANKER_MODEL",
                            "QWEN3_VL_EMBEDDING_MODEL", "QWEN3_VL_RERANKER_MODEL"}, \
        printed.getvalue()
    return exports


def test_models_tiny_prints_paths_and_export_lines(tiny_models):
    exports = _tiny_model_exports(tiny_models.embedding.parent)
    assert Path(exports["QWEN3_EMBEDDING_MODEL"]) == tiny_models.embedding.resolve()
    assert Path(exports["QWEN3_RERANKER_MODEL"]) == tiny_models.reranker.resolve()
    root = tiny_models.embedding.parent.resolve()
    assert Path(exports["QWEN3_VL_EMBEDDING_MODEL"]) == root / "vl-embedding"
    assert Path(exports["QWEN3_VL_RERANKER_MODEL"]) == root / "vl-reranker"


def test_the_pages_have_python_blocks_and_few_are_not_run():
    assert len([b for b in BLOCKS if b.page == "README.md"]) >= 2
    skipped = [block for block in BLOCKS if block.skip_reason is not None]
    assert all(block.skip_reason for block in skipped), "say why a block is not run"
    assert len(skipped) <= MAX_SKIPPED, [block.name for block in skipped]


def _runnable(runner: str) -> list[Block]:
    return [b for b in BLOCKS if b.skip_reason is None and b.runner == runner]


def _run_in_a_process(blocks: list[Block], work: Path, env: dict[str, str]) -> dict[str, dict]:
    """Run ``blocks`` with :func:`run_blocks` in a fresh Python; ``{block name: result}``."""
    spec, out = work / "blocks.json", work / "results.json"
    spec.write_text(json.dumps([asdict(b) for b in blocks]))
    env = {**os.environ, **env, "HF_HUB_OFFLINE": "1",
           "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    command = [sys.executable, "-c",
               f"import sys; sys.path.insert(0, {str(ROOT / 'tests')!r}); "
               "import test_docs_examples as t; t.run_blocks(sys.argv[1], sys.argv[2])",
               str(spec), str(out)]
    process = subprocess.run(command, env=env, cwd=work, capture_output=True, text=True,
                             timeout=1800)
    found = json.loads(out.read_text()) if out.exists() else {}
    found["__stderr__"] = process.stderr[-4000:]
    return found


@pytest.fixture(scope="module")
def results(tiny_models, tmp_path_factory):
    """Run every runnable block that needs no server once, in one process."""
    return _run_in_a_process(
        _runnable("results"),
        tmp_path_factory.mktemp("docs-examples"), _tiny_model_exports(tiny_models.embedding.parent))


@pytest.fixture(scope="module")
def server_results(tiny_models, servers, tmp_path_factory):
    """Run the blocks that use ``qwen3-rag serve`` servers, pointed at the session's.

    They serve the tiny models under their paths, so ``QWEN3_*_MODEL`` are also the served
    model names that the SDK examples send.
    """
    from vllm_servers import API_KEY

    reranker = servers["reranker"].url
    return _run_in_a_process(
        _runnable("server_results"),
        tmp_path_factory.mktemp("docs-examples-servers"),
        {**_tiny_model_exports(tiny_models.embedding.parent),
         "QWEN3_EMBEDDING_URL": servers["embedding"].url, "QWEN3_RERANKER_URL": reranker,
         "QWEN3_RERANKER_URLS": reranker, "VLLM_API_KEY": API_KEY,
         "LITELLM_LOCAL_MODEL_COST_MAP": "True"})  # LiteLLM: no network here


@pytest.fixture(scope="module")
def ray_results(tiny_models, tmp_path_factory):
    """Run the Ray blocks: a Ray of their own on this machine, a Chroma server, a Parquet folder."""
    pytest.importorskip("ray", reason="the `ray` extra is not installed")
    import pyarrow as pa
    import pyarrow.parquet as pq
    from chroma_server import running_chroma_server

    work = tmp_path_factory.mktemp("docs-examples-ray")
    (work / "passages").mkdir()
    pq.write_table(pa.table({"id": [f"p{n}" for n in range(20)],
                             "text": [f"Passage {n}: glaciers carve valleys." for n in range(20)]}),
                   work / "passages" / "part-0.parquet")
    with running_chroma_server(work / "chroma", work / "chroma.log") as chroma_url:
        # RAY_ADDRESS=local: a Ray of its own, never a cluster another test left running here.
        yield _run_in_a_process(
            _runnable("ray_results"), work,
            {**_tiny_model_exports(tiny_models.embedding.parent), "CHROMA_URL": chroma_url,
             "PASSAGES_PATH": str(work / "passages"), "RAY_ADDRESS": "local",
             # Else Ray writes ~/.ray/auth_token, and every later `ray start` here (the Ray
             # tests' cluster) demands a token its clients do not send.
             "RAY_AUTH_MODE": "disabled"})


# Starts in-process engines (vLLM where it runs), so `make test-fast` leaves it out.
@pytest.mark.vllm
@pytest.mark.parametrize("block", BLOCKS, ids=[block.name for block in BLOCKS])
def test_block_runs_as_printed(block, request):
    if block.skip_reason is not None:
        pytest.skip(f"marked in the page: {block.skip_reason}")
    # Only the blocks that use a service wait for it (vLLM servers start slowly).
    results = request.getfixturevalue(block.runner)
    result = results.get(block.name)
    assert result is not None, f"{block.name} never ran; the runner said:\n{results['__stderr__']}"
    assert result["ok"], f"{block.name} failed:\n{result['error']}\nprinted:\n{result['output']}"
