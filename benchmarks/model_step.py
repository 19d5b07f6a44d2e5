"""Benchmark of the model alone: forward + backward FLOP rate against the matmul peak, and compile
time against depth (the layers are scanned, so it should stay flat).

  python benchmarks/model_step.py [--sizes=128x2,256x4,512x4] [--dtypes=float32,bfloat16] \
      >> BENCHMARKS.md

Prints a markdown section: the machine (CPU model, cores), date and versions, then for each
d_model x n_layers size and compute dtype the time of one jitted value-and-grad of the mean
next-token cross-entropy (no optimizer), tokens/s, model FLOP/s (counting.flops_per_token
'exact_no_embedding', i.e. 3 x the appendix-F forward count without the embedding lookup) and
its fraction of the fp32 matmul peak measured in the same process (a jitted 2048^3 matmul, best
of several runs). The model: vocab 8192, seq_len 256, batch 8, head size 64, d_ff 8/3 d_model
rounded to 64, tied embeddings. The second table compiles d_model 256 at several depths.
"""
import datetime
from importlib import metadata
import os
import platform
import sys
import time

import jax
import jax.numpy as jnp
import optax
from absl import app
from absl import flags
from flax import nnx

from model import ModelConfig, Transformer, counting

import host  # benchmarks/host.py, beside this script

_SIZES = flags.DEFINE_list("sizes", ["128x2", "256x4", "512x4"], "d_model x n_layers to time")
_DTYPES = flags.DEFINE_list("dtypes", ["float32", "bfloat16"], "compute dtypes to time")
_DEPTHS = flags.DEFINE_list("depths", ["2", "8", "32"], "n_layers for the compile-time table")
_REPEATS = flags.DEFINE_integer("repeats", 5, "timed steps per configuration (best is kept)")
_BATCH, _SEQ_LEN, _VOCAB = 8, 256, 8192


def _best_seconds(run, repeats: int) -> float:
  best = float("inf")
  for _ in range(repeats):
    start = time.perf_counter()
    jax.block_until_ready(run())
    best = min(best, time.perf_counter() - start)
  return best


def _matmul_peak_flops() -> float:
  """FLOP/s of a jitted fp32 2048 x 2048 x 2048 matmul, best of ten runs."""
  size = 2048
  lhs = jnp.ones((size, size), jnp.float32)
  rhs = jnp.ones((size, size), jnp.float32)
  matmul = jax.jit(jnp.matmul)
  jax.block_until_ready(matmul(lhs, rhs))
  return 2 * size**3 / _best_seconds(lambda: matmul(lhs, rhs), 10)


def _config(d_model: int, n_layers: int, dtype: str) -> ModelConfig:
  return ModelConfig(vocab_size=_VOCAB, d_model=d_model, n_layers=n_layers,
                     n_heads=d_model // 64, n_kv_heads=d_model // 64,
                     d_ff=max(64, round(8 * d_model / 3 / 64) * 64), seq_len=_SEQ_LEN,
                     dtype=dtype)


def _step(config: ModelConfig):
  """A jitted value-and-grad of the mean next-token loss (nats/token), and its arguments."""
  graphdef, params = nnx.split(Transformer(config, rngs=nnx.Rngs(params=0)))
  tokens = jax.random.randint(jax.random.key(0), (_BATCH, _SEQ_LEN + 1), 0, _VOCAB)

  def loss(params, tokens):
    logits = nnx.merge(graphdef, params)(tokens[:, :-1])
    return optax.softmax_cross_entropy_with_integer_labels(logits, tokens[:, 1:]).mean()

  return jax.jit(jax.value_and_grad(loss)), (params, tokens)


def _throughput_rows(peak: float) -> list[str]:
  rows = []
  for size in _SIZES.value:
    d_model, n_layers = (int(part) for part in size.split("x"))
    for dtype in _DTYPES.value:
      config = _config(d_model, n_layers, dtype)
      step, args = _step(config)
      start = time.perf_counter()
      jax.block_until_ready(step(*args))
      compile_seconds = time.perf_counter() - start
      seconds = _best_seconds(lambda: step(*args), _REPEATS.value)
      tokens_per_second = _BATCH * _SEQ_LEN / seconds
      flops = counting.flops_per_token(config)["exact_no_embedding"] * tokens_per_second
      non_embedding = counting.param_counts(config)["non_embedding"]
      rows.append(f"| {d_model} x {n_layers} | {non_embedding:,} | {dtype} "
                  f"| {seconds * 1e3:.0f} ms | {tokens_per_second:,.0f} | {flops / 1e9:.1f} "
                  f"| {flops / peak:.0%} | {compile_seconds:.1f} s |")
  return rows


def _compile_rows() -> list[str]:
  rows = []
  for depth in _DEPTHS.value:
    step, args = _step(_config(256, int(depth), "float32"))
    start = time.perf_counter()
    step.lower(*args).compile()
    rows.append(f"| 256 x {depth} | {time.perf_counter() - start:.1f} s |")
  return rows


def main(argv: list[str]) -> None:
  del argv
  peak_before = _matmul_peak_flops()
  throughput = _throughput_rows(peak_before)
  peak_after = _matmul_peak_flops()
  versions = ", ".join(f"{name} {metadata.version(name)}" for name in ("jax", "flax", "optax"))
  lines = [
      f"## Model forward + backward ({datetime.date.today().isoformat()})", "",
      f"Machine: {host.cpu_model()}, {os.cpu_count()} cores, {jax.local_device_count()} device(s) "
      f"of {jax.devices()[0].platform}. Python {platform.python_version()}, {versions}. "
      f"Command: `python {' '.join(sys.argv)}`.",
      f"fp32 matmul peak (2048^3, best of 10): {peak_before / 1e9:.1f} GFLOP/s before, "
      f"{peak_after / 1e9:.1f} GFLOP/s after the table; MFU uses the first.", "",
      "| d_model x n_layers | non-embedding params | dtype | step | tokens/s | model GFLOP/s "
      "| MFU | compile |",
      "|---|---|---|---|---|---|---|---|",
      *throughput, "",
      "Compile time of the same step against depth (scanned layers):", "",
      "| d_model x n_layers | compile |", "|---|---|",
      *_compile_rows(), "",
  ]
  print("\n".join(lines))


if __name__ == "__main__":
  app.run(main)
