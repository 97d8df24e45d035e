"""Chroma collections of Qwen3 vectors and two-stage search: recall, then rerank."""
