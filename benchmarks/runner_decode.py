"""Decoding speed of the standalone numpy runner: KV cache against full recomputation.

  python benchmarks/runner_decode.py [--new_tokens=192] [--prompt_tokens=8]

For each model shape (random float32 weights, byte vocabulary, seq_len 256), greedy-decodes
`new_tokens` tokens after a prompt, once with the runner's key/value cache (one position per
new token) and once recomputing the whole sequence for every token, and prints a markdown table
of tokens/s and their ratio, measured in one process.
"""
import argparse
import os
import platform
import time

from export import runner  # first: it sets the BLAS thread count before numpy loads
import numpy as np  # noqa: E402  # pylint: disable=wrong-import-position

import host  # noqa: E402  # benchmarks/host.py, beside this script

SHAPES = ((64, 2, 4, 192), (128, 4, 4, 384), (256, 4, 8, 768))  # d_model, n_layers, heads, d_ff


def _model(d_model: int, n_layers: int, n_heads: int, d_ff: int) -> runner.Model:
  config = dict(vocab_size=264, d_model=d_model, n_layers=n_layers, n_heads=n_heads,
                n_kv_heads=n_heads // 2, d_ff=d_ff, seq_len=256, rope_theta=10_000.0,
                norm_eps=1e-6, tie_embeddings=True)
  rng = np.random.default_rng(0)
  tensors = {name: rng.normal(0, 0.05, shape).astype(np.float32)
             for name, shape in runner.tensor_shapes(config).items()}
  return runner.Model(config, tensors)


def _recompute(model: runner.Model, prompt: list[int], new_tokens: int) -> list[int]:
  sequence = list(prompt)
  for _ in range(new_tokens):
    model.reset()
    sequence.append(int(np.argmax(model.forward(np.asarray(sequence))[-1])))
  return sequence[len(prompt):]


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--new_tokens", type=int, default=192)
  parser.add_argument("--prompt_tokens", type=int, default=8)
  arguments = parser.parse_args()
  print(f"Machine: {host.cpu_model()}; Python {platform.python_version()}, numpy {np.__version__}, "
        f"OPENBLAS_NUM_THREADS={os.environ['OPENBLAS_NUM_THREADS']}; "
        f"{time.strftime('%Y-%m-%d')}. {arguments.new_tokens} greedy tokens after a "
        f"{arguments.prompt_tokens}-token prompt.\n")
  print("| d_model, layers, heads, d_ff | KV cache (tokens/s) | recompute (tokens/s) | ratio |")
  print("|---|---|---|---|")
  prompt = list(range(1, arguments.prompt_tokens + 1))
  for shape in SHAPES:
    model = _model(*shape)
    started = time.perf_counter()
    cached = runner.generate(model, prompt, arguments.new_tokens)
    cached_rate = arguments.new_tokens / (time.perf_counter() - started)
    started = time.perf_counter()
    recomputed = _recompute(model, prompt, arguments.new_tokens)
    recompute_rate = arguments.new_tokens / (time.perf_counter() - started)
    if cached != recomputed:
      raise RuntimeError(f"shape {shape}: cached and recomputed greedy decodes differ")
    print(f"| {', '.join(map(str, shape))} | {cached_rate:,.0f} | {recompute_rate:,.0f} | "
          f"{cached_rate / recompute_rate:.1f}x |")


if __name__ == "__main__":
  main()
