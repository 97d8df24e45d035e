"""``qwen3-rag eval`` against real ``qwen3-rag serve`` servers guarded by an API key: the same
report as the models in-process, and a wrong key is one clear line."""

from __future__ import annotations

import json

import pytest
from test_eval_cli import QUERIES, TRANSFORMERS, _run, beir  # noqa: F401 - beir is a fixture
from vllm_servers import API_KEY


def _metrics(report: dict) -> list[dict]:
    return [system["per_query"] for system in report["systems"]]


def _arguments(beir, tmp_path, name: str, *models: str) -> list[str]:  # noqa: F811
    return [str(beir), *models, "--chroma-dir", str(tmp_path / name), "--k", "5", "--json"]


def test_eval_through_servers_matches_in_process(tiny_models, servers, beir, tmp_path,  # noqa: F811
                                                 monkeypatch):
    in_process = _run(_arguments(beir, tmp_path, "local",
                                 "--embedding-model", str(tiny_models.embedding),
                                 "--reranker-model", str(tiny_models.reranker), *TRANSFORMERS),
                      tmp_path)
    assert in_process.returncode == 0, in_process.stderr
    # The key travels in the environment variable vLLM's server reads, not on the command line.
    monkeypatch.setenv("VLLM_API_KEY", API_KEY)
    remote = _run(_arguments(beir, tmp_path, "remote",
                             "--embedding-model", str(tiny_models.embedding),
                             "--embedding-base-url", servers["embedding"].url,
                             "--reranker-model", str(tiny_models.reranker),
                             "--reranker-base-url", servers["reranker"].url, "--dtype", "float32"),
                  tmp_path)
    assert remote.returncode == 0, remote.stderr
    local_report, remote_report = json.loads(in_process.stdout), json.loads(remote.stdout)
    assert [s["stage"] for s in remote_report["systems"]] == [1, 2]
    # float32 on both sides: the same rankings, so the same metrics for every query.
    for local, served in zip(_metrics(local_report), _metrics(remote_report), strict=True):
        assert set(served) == set(QUERIES)
        for query_id, values in local.items():
            assert served[query_id] == pytest.approx(values, abs=1e-9)


def test_a_wrong_key_is_one_line(tiny_models, servers, beir, tmp_path):  # noqa: F811
    result = _run(_arguments(beir, tmp_path, "wrong-key",
                             "--embedding-model", str(tiny_models.embedding),
                             "--embedding-base-url", servers["embedding"].url,
                             "--reranker-model", str(tiny_models.reranker),
                             "--reranker-base-url", servers["reranker"].url,
                             "--api-key", "not-the-key"),
                  tmp_path)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert "Check api_key: it must match the server's --api-key" in result.stderr
