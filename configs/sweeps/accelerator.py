"""Shared set-up of the accelerator presets (single GPU, TPU slices): an IsoFLOP sweep on a user
corpus with a SentencePiece tokenizer, bf16 compute with fp32 parameters, and per-size learning
rates. The preset files set the hardware-specific fields (mesh, batch, budgets, sizes).
"""
import ml_collections

from configs import base as run_base
from configs.sweeps import base


def isoflop_sweep(*, name: str, corpus: str, compute_budgets: tuple[float, ...],
                  size_span: float, batch_size: int, seq_len: int,
                  mesh: dict[str, int]) -> ml_collections.ConfigDict:
  """An IsoFLOP sweep of 5 sizes per budget around the Chinchilla optimum (20 tokens/param).

  `corpus` is a directory or glob of .txt / .jsonl / .parquet files ('' fails at data
  preparation with a message saying to set it).
  """
  sweep = base.get_config()
  sweep.name = name
  run = run_base.get_config()
  run.model.update(vocab_size=32_768, seq_len=seq_len, dtype="bfloat16", param_dtype="float32",
                   tie_embeddings=False)
  run.data.update(corpus="files", path=corpus, tokenizer="sentencepiece",
                  tokenizer_vocab_size=32_000, val_fraction=0.005, worker_count=4)
  run.train.update(batch_size=batch_size, eval_tokens=4 * 1024 * 1024, log_every_steps=100)
  run.optimizer.update(schedule="cosine", weight_decay=0.1, b2=0.95)
  run.mesh.update(mesh)
  sweep.base = run
  sweep.grid.update(kind="isoflop", compute_budgets=compute_budgets, sizes_per_budget=5,
                    size_span=size_span, optimal_tokens_per_param=20.0, flop_convention="6nd",
                    size_tolerance=0.15, shape_rule=dict(head_dim=64, aspect_ratio=64.0))
  # Peak learning rate falls as N^(-1/3): 1e-3 at 100M non-embedding parameters.
  sweep.hparams.learning_rate.update(rule="power_law", reference_params=1e8,
                                     reference_value=1e-3, exponent=-1.0 / 3.0)
  sweep.schedule.update(warmup_fraction=0.02, evals_per_run=20, checkpoints_per_run=10)
  sweep.launch.update(max_parallel=1, max_retries=3, lease_stale_seconds=600.0,
                      heartbeat_seconds=30.0)
  return sweep
