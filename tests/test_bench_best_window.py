"""``bench/best_window.py`` runs end to end on the tiny model and reports both modes; no speed
is checked (the numbers in docs/long-documents.md come from its default run)."""

from __future__ import annotations

from bench.best_window import main


def test_the_benchmark_reports_truncation_and_best_window(tiny_models, capsys):
    code = main(["--tiny", "--models-dir", str(tiny_models.reranker.parent), "--repeats", "1",
                 "--documents", "2", "--doc-tokens", "300", "--max-length", "192",
                 "--overlap", "0"])
    assert code == 0
    rows = [line for line in capsys.readouterr().out.splitlines()
            if line.startswith(("| truncate", "| best_window"))]
    assert len(rows) == 3
    assert rows[0].startswith("| truncate | - | 2 (1.0 per document) | 384 |")
    # Best-window reads a 300-token document in several windows of 192-token prompts.
    assert all(int(row.split("|")[3].split()[0]) > 2 for row in rows[1:])
