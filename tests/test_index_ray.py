"""``qwen3-rag index --ray`` on a real two-node Ray cluster on loopback, into a Chroma server.

The vectors must equal the in-process command's; an embedding actor SIGKILLed mid-run is
restarted by Ray and the run still ends with exactly the corpus; a second run embeds nothing.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pytest
from chroma_server import running_chroma_server
from local_ports import free_port

from qwen3_core.lexical import PassageStore, read_manifest
from qwen3_rag.cli import main
from qwen3_rag.retrieval.store import open_client

pytest.importorskip("ray", reason="the `ray` extra is not installed")
psutil = pytest.importorskip("psutil")

TRANSFORMERS = ["--backend", "transformers", "--dtype", "float32"]
CORPUS_SIZE = 400
BIN = Path(sys.executable).parent


def _start(command: list[str], log: Path) -> subprocess.Popen:
    # A session of its own: the whole process group is ended at teardown, nothing else.
    return subprocess.Popen(command, stdout=log.open("w"), stderr=subprocess.STDOUT,
                            start_new_session=True)


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)  # `ray start --block` drains, then ends its node
        try:
            process.wait(timeout=45)
        except subprocess.TimeoutExpired:
            pass
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    process.wait(timeout=30)


@pytest.fixture(scope="module", autouse=True)
def _no_ray_token():
    """Ray without token authentication for the cluster and every client of this module.

    A ``ray.init()`` on this machine may have left ``~/.ray/auth_token``; ``ray start`` then
    turns token authentication on while clients default to none, and nothing connects.
    """
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("RAY_AUTH_MODE", "disabled")
        yield


@pytest.fixture(scope="module")
def ray_cluster(tmp_path_factory, _no_ray_token):
    """A head node and a worker node (`ray start`) on 127.0.0.1; yields (address, pids)."""
    logs = tmp_path_factory.mktemp("ray-logs")
    # Short: Ray's unix sockets live under it and their paths have a length limit.
    temp_dir = tempfile.mkdtemp(prefix="r", dir="/tmp")
    port = free_port()
    address = f"127.0.0.1:{port}"
    common = ["--node-ip-address", "127.0.0.1", "--temp-dir", temp_dir,
              "--disable-usage-stats", "--block"]
    head = _start([str(BIN / "ray"), "start", "--head", "--port", str(port), "--num-cpus", "1",
                   "--include-dashboard", "false", *common], logs / "head.log")
    worker = None
    try:
        import ray

        deadline = time.monotonic() + 120
        while subprocess.run([str(BIN / "ray"), "status", "--address", address],
                             capture_output=True).returncode != 0:
            assert head.poll() is None, (logs / "head.log").read_text()
            assert time.monotonic() < deadline, "the Ray head did not start"
            time.sleep(1)
        worker = _start([str(BIN / "ray"), "start", "--address", address, "--num-cpus", "1",
                         *common], logs / "worker.log")
        ray.init(address=address)
        try:
            while sum(node["Alive"] for node in ray.nodes()) < 2:
                assert worker.poll() is None, (logs / "worker.log").read_text()
                assert time.monotonic() < deadline, "the Ray worker node did not join"
                time.sleep(1)
        finally:
            ray.shutdown()
        yield address, [head.pid, worker.pid]
    finally:
        if worker is not None:
            _stop(worker)
        _stop(head)
        shutil.rmtree(temp_dir, ignore_errors=True)


@pytest.fixture(scope="module")
def chroma_url(tmp_path_factory):
    """A Chroma server on a free loopback port."""
    with running_chroma_server(tmp_path_factory.mktemp("chroma-server"),
                               tmp_path_factory.mktemp("chroma-log") / "log") as url:
        yield url


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    path = tmp_path_factory.mktemp("corpus") / "corpus.jsonl"
    with path.open("w", encoding="utf-8") as out:
        for number in range(CORPUS_SIZE):
            words = " ".join(f"w{(number * 11 + k) % 97}" for k in range(10))
            out.write(json.dumps({"id": f"p{number}", "text": f"Passage {number}: {words}.",
                                  "n": number}) + "\n")
    return path


def _server_collection(url: str, name: str):
    found = open_client(chroma_url=url).get_collection(name).get(
        include=["embeddings", "metadatas"])
    return found["ids"], dict(zip(found["ids"], np.asarray(found["embeddings"]), strict=True)), \
        dict(zip(found["ids"], found["metadatas"], strict=True))


def _embedding_actors(worker_tree_roots):
    return [process for root in worker_tree_roots
            for process in psutil.Process(root).children(recursive=True)
            if "_EmbedBatches" in " ".join(_cmdline(process))]


def _cmdline(process) -> list[str]:
    try:
        return process.cmdline()
    except psutil.Error:
        return []


def test_ray_index_matches_in_process_and_survives_a_killed_actor(
        ray_cluster, chroma_url, corpus, tiny_models, tmp_path, capsys):
    address, node_pids = ray_cluster
    command = ["index", str(corpus), "--ray", address, "--chroma-url", chroma_url,
               "--collection", "on-ray", "--ray-actors", "2", "--batch-size", "16",
               "--lexical-dir", str(tmp_path / "lexical"),
               "--embedding-model", str(tiny_models.embedding), *TRANSFORMERS]
    run = subprocess.Popen([sys.executable, "-m", "qwen3_rag.cli", *command],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    client = open_client(chroma_url=chroma_url)
    killed = None
    deadline = time.monotonic() + 300
    while killed is None and run.poll() is None and time.monotonic() < deadline:
        stored = client.get_collection("on-ray").count() if "on-ray" in {
            c.name for c in client.list_collections()} else 0
        actors = _embedding_actors(node_pids)
        if stored >= CORPUS_SIZE // 6 and actors:
            killed = actors[0]
            killed.send_signal(signal.SIGKILL)
        time.sleep(0.1)
    out, err = run.communicate(timeout=300)
    assert killed is not None, f"no actor was killed mid-run: {err[-3000:]}"
    assert run.returncode == 0, err[-3000:]
    summary = re.search(r"([\d,]+) embedded, ([\d,]+) already stored", err)
    embedded, unchanged = (int(g.replace(",", "")) for g in summary.groups())
    assert embedded + unchanged == CORPUS_SIZE

    ids, vectors, metadatas = _server_collection(chroma_url, "on-ray")
    assert len(ids) == len(set(ids)) == CORPUS_SIZE
    assert set(ids) == {f"p{n}" for n in range(CORPUS_SIZE)}
    assert metadatas["p7"]["n"] == 7 and metadatas["p7"]["line"] == 8

    assert main(["index", str(corpus), "--chroma-dir", str(tmp_path / "local"), "--collection",
                 "in-process", "--embedding-model", str(tiny_models.embedding),
                 *TRANSFORMERS]) == 0
    local = open_client(tmp_path / "local").get_collection("in-process").get(
        include=["embeddings"])
    in_process = dict(zip(local["ids"], np.asarray(local["embeddings"]), strict=True))
    order = sorted(in_process)
    np.testing.assert_allclose(np.stack([vectors[i] for i in order]),
                               np.stack([in_process[i] for i in order]), atol=1e-5)

    capsys.readouterr()
    again = subprocess.run([sys.executable, "-m", "qwen3_rag.cli", *command],
                           capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stderr[-3000:]
    assert f"0 embedded, {CORPUS_SIZE:,} already stored" in again.stderr


def test_index_dataset_takes_a_ray_dataset_and_writes_parquet(ray_cluster, tiny_models,
                                                              tmp_path):
    import pyarrow.parquet as pq
    import ray

    from qwen3_core import Qwen3Embedder
    from qwen3_rag.indexing.ray_indexing import index_dataset

    rows = [{"id": f"r{n}", "text": f"Row number {n} of a dataset.", "lang": "en"}
            for n in range(40)]
    ray.init(address=ray_cluster[0])
    try:
        with pytest.raises(ValueError, match="needs columns 'id' and 'text'; it has 'body'"):
            index_dataset(ray.data.from_items([{"body": "no id"}]), embedding_model=str(
                tiny_models.embedding), parquet_dir=str(tmp_path / "never"))
        counts = index_dataset(ray.data.from_items(rows), embedding_model=str(
            tiny_models.embedding), parquet_dir=str(tmp_path / "out"), num_actors=2,
            batch_size=8, embedder_options={"backend": "transformers", "dtype": "float32"})
    finally:
        ray.shutdown()
    assert counts.embedded == len(rows)
    written = pq.read_table(tmp_path / "out").to_pylist()
    by_id = {row["id"]: row for row in written}
    assert sorted(by_id) == sorted(row["id"] for row in rows)
    assert all(by_id[row["id"]]["text"] == row["text"] and by_id[row["id"]]["lang"] == "en"
               for row in rows)
    with Qwen3Embedder(tiny_models.embedding, backend="transformers", dtype="float32") as emb:
        direct = emb.embed_documents([row["text"] for row in rows])
    np.testing.assert_allclose(np.stack([by_id[row["id"]]["vector"] for row in rows]), direct,
                               atol=1e-5)


@pytest.mark.parametrize("extra, message", [
    (["--ray"], "give --chroma-url URL (a Chroma server all nodes reach) or --parquet DIR"),
    (["--ray", "--chroma-dir", "db"], "--chroma-dir is one machine's database"),
    (["--parquet", "out"], "--parquet is written by Ray workers: add --ray"),
])
def test_ray_options_that_cannot_work_are_one_line_before_ray_starts(tmp_path, capsys, extra,
                                                                     message):
    corpus = tmp_path / "c.jsonl"
    corpus.write_text('{"id": "a", "text": "x"}\n', encoding="utf-8")
    assert main(["index", str(corpus), *extra]) == 1
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1, err


def test_ray_before_the_paths_is_caught(tmp_path, capsys):
    corpus = tmp_path / "c.jsonl"
    corpus.write_text('{"id": "a", "text": "x"}\n', encoding="utf-8")
    # argparse takes the corpus as --ray's address; the paths are then the rest.
    assert main(["index", "--ray", str(corpus), str(corpus), "--chroma-url",
                 "http://127.0.0.1:9"]) == 1
    assert "put --ray after the paths" in capsys.readouterr().err


def test_actors_get_the_server_url_and_key_read_here(monkeypatch):
    from qwen3_rag.cli import build_parser
    from qwen3_rag.indexing.ray_command import _embedder_options

    monkeypatch.setenv("VLLM_API_KEY", "from-env")
    args = build_parser().parse_args(["index", "c.jsonl", "--ray", "auto", "--chroma-url",
                                      "http://db:8000", "--embedding-base-url", "http://gpu:8001"])
    assert _embedder_options(args)["base_url"] == "http://gpu:8001"
    assert _embedder_options(args)["api_key"] == "from-env"
    args.api_key = "given"
    assert _embedder_options(args)["api_key"] == "given"
