"""Corpora into collections: reading, cutting, crash-safe and Ray indexing, ``qwen3-rag index``."""
