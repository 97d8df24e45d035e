#!/usr/bin/env bash
# What a person sees: `qwen3-rag demo` in a real terminal (tmux) at 80 and 200 columns, saved
# as docs/demo-<width>-columns.txt. Tiny random models (the rankings mean nothing), the
# transformers backend, a fresh cache. Run from the repository root after `make install`.
set -euo pipefail
root=$(pwd)
scratch=$(mktemp -d)
trap 'tmux kill-session -t qwen3-demo 2>/dev/null || true; rm -rf "$scratch"' EXIT
"$root/.venv/bin/python" -c "from qwen3_core.testing.tiny_models import build_tiny_models as b; b('$scratch/models')" >/dev/null 2>&1
for width in 80 200; do
  # The demo is the session's own command: the screen shows its output only.
  tmux new-session -d -s qwen3-demo -x "$width" -y 300 \
    "QWEN3_RAG_CACHE_DIR=$scratch/cache-$width $root/.venv/bin/qwen3-rag demo --no-interactive \
     --backend transformers --embedding-model $scratch/models/embedding \
     --reranker-model $scratch/models/reranker; echo '[demo finished]'; sleep 600"
  for _ in $(seq 1 150); do
    sleep 2
    if tmux capture-pane -p -t qwen3-demo | grep -q '^\[demo finished\]'; then break; fi
  done
  tmux capture-pane -p -t qwen3-demo -S - | sed -e '/^\[demo finished\]/,$d' \
    | sed -e "s#$scratch#/tmp/...#g" > "$root/docs/demo-$width-columns.txt"
  tmux kill-session -t qwen3-demo
done
