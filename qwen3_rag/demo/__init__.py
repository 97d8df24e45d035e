"""``qwen3-rag demo``: two-stage search over a bilingual sample corpus."""
