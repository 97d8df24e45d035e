"""``qwen3-rag ui``: a web page to rerank passages and search a collection (Gradio)."""
