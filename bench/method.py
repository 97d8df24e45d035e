"""The report's fixed text: how the benchmark measures and what each technique is."""

from __future__ import annotations

__all__ = ["METHOD"]

METHOD = """
## How it is measured

- **Same inputs, same run.** Every system scores the same seeded synthetic texts, generated to
  the token lengths the issue names with the benchmark model's tokenizer. The model has random
  weights (Qwen3-0.6B's exact shape, so the work per token is the real model's); its rankings
  mean nothing, but agreement between systems is meaningful. The weights are drawn with Qwen3's
  own initializer range (0.02) and stored in bf16, as the official checkpoints are; (a) and
  every float32 row compute with them upcast to float32.
- **One process per system and model.** `bench/worker.py` loads one system's reranker or
  embedding model in a fresh process, warms it up with one call as large as the measured ones
  on other inputs (a different query, 64 short and 16 long other candidates), then times one
  call per workload. A smaller warm-up left one-time costs of the first full-size batch (vLLM's
  first step of its full token budget took three times a later one) inside the first measured
  call. Fresh processes make the peak memory a property of the system alone and keep one large
  model in memory at a time.
- **Start-up is separate.** Loading the model (for vLLM: starting the engine, including its
  torch.compile warm-up) is reported as start-up time, never inside the per-call timings.
- **Latency** is one query against 20 candidates, the median of one call per query over several
  queries, each new to the engine so no repeat finds its prompts already cached.
- **Peak RSS** is the largest resident set size sampled every 20 ms over the process and its
  children (vLLM runs its engine in a child process), from before loading to the end; shared
  library pages are counted once per process.
- **Agreement** is with (a): the largest absolute difference of any score (rerank P(yes); for
  embeddings the cosine similarity of each passage to a query) and whether the ordered top-10 is
  identical. Targets: within 0.05 in bf16, 1e-5 in float32.

## The systems

- **(a) model card code**: the Qwen3 model cards' transformers code as users copy it
  (`bench/model_card.py`): float32, left-padded batches of 16, the full-vocabulary logits at
  every position of every prompt (the reranker then reads two values at the last one).
- **(b) ours, transformers**: `Qwen3Reranker(..., backend="transformers")`. Length-sorted,
  right-padded batches cut to a token budget; only the `no`/`yes` rows of the output layer at the
  last real position; the KV cache of the prompt prefix all candidates of a query share computed
  once and reused; bf16 where the CPU computes it natively (`dtype="auto"`).
- **(c) ours, vLLM**: `backend="vllm"`, the project's defaults: prefix caching with 32-token
  blocks on CPU, bf16 where native, the reranker loaded as a two-logit classifier, and on CPUs
  with fewer than 8 cores no core held back for vLLM's scheduler.
- **(d) sentence-transformers**: `SentenceTransformer` with Qwen3-Embedding's modules
  (left padding, last-token pooling, normalisation) and `CrossEncoder` on the causal reranker
  (yes/no logit score at the last position), float32, batches of 16.

## Techniques

- **Scoring only the yes/no rows**: the card's code asks the model for the full-vocabulary
  logits (151,669 rows) at every position; the row "(a) with logits of the last position only"
  shows what skipping all but the last position saves. Our engines go one step further and
  compute two rows at one position, a negligible cost.
- **Shared-prefix reuse**: every candidate of one query starts with the same system prompt,
  instruction and query. transformers: its KV cache is computed once; vLLM: prefix caching,
  with a block size (32) small enough that most of the prefix falls in whole blocks.
- **Length-sorted token-budget batching**: candidates sorted by length into batches of at most
  a fixed number of padded tokens, so little compute goes to padding.
- **bf16** on CPUs with AVX-512 BF16 / AMX (`dtype="auto"`), float32 elsewhere.
- **No repeated tokenisation of the fixed prompt parts**: the prefix and suffix are tokenised
  once per engine; each call tokenises only the instruction, query and document.
- **All cores compute (vLLM on small CPUs)**: on x86 CPUs vLLM binds its model to all cores
  but one, which it keeps for its scheduler process; with 2 cores that halves the compute. Below
  8 cores we start vLLM with `VLLM_CPU_NUM_OF_RESERVED_CPU=0` unless the user set it; the row
  "(c) with vLLM's own CPU binding" shows what vLLM's default would cost here.
- **Engine start-up**: vLLM compiles its model graph on first start (`enforce_eager=True`
  skips that); the row "(c) with enforce_eager=True" shows the start-up saved and the per-call
  cost.

## Running it

```bash
python -m bench.run              # full measurement (28 layers, all systems and ablations)
python -m bench.run --quick      # 2 layers, main systems only
python -m bench.run --smoke --output /tmp/bench   # seconds, tiny model, no vLLM (CI)
```

The chart needs matplotlib (`pip install 'qwen3-rag[bench]'`). The random-weight models
(about 2.4 GB each at the real shape) are built once under `~/.cache/qwen3-rag/bench`.
"""
