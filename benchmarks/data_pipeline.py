"""Benchmark of the data package: `prepare` on the embedded corpus and input-pipeline batches/s.

  python benchmarks/data_pipeline.py [--sentencepiece_vocab=4096] >> BENCHMARKS.md

Prints a markdown section: the machine (CPU model, cores), date and versions, then
- `prepare` of the standard-library corpus with the byte tokenizer into a fresh directory
  (wall seconds including hashing, tokens/s) and the second, no-op call;
- optionally the same with SentencePiece, with 1 and with all encoding processes;
- the train iterator's batches/s and tokens/s at each batch shape, after a warm-up, read in the
  main process with grain's prefetch threads (worker_count=0, the default).
"""
import datetime
from importlib import metadata
import os
import platform
import sys
import tempfile
import time

from absl import app
from absl import flags

from configs import base
from data import pipeline

import host  # benchmarks/host.py, beside this script

_SHAPES = flags.DEFINE_list("shapes", ["32x128", "16x256", "64x512"],
                            "batch x seq_len shapes to time")
_BATCHES = flags.DEFINE_integer("batches", 2000, "batches timed per shape")
_SENTENCEPIECE_VOCAB = flags.DEFINE_integer("sentencepiece_vocab", 0,
                                            "also time SentencePiece preparation (0: skip)")


def _time_prepare(data_config, workers: int) -> tuple[pipeline.Prepared, float]:
  start = time.perf_counter()
  prepared = pipeline.prepare(data_config, workers=workers, progress=None)
  return prepared, time.perf_counter() - start


def _prepare_rows(cache: str) -> list[str]:
  rows = []
  data_config = base.get_config().data
  data_config.prepared_dir = os.path.join(cache, "byte")
  prepared, seconds = _time_prepare(data_config, workers=1)
  tokens = prepared.manifest["train_tokens"] + prepared.manifest["val_tokens"]
  rows.append(f"| prepare stdlib, byte, 1 process | {seconds:.2f} s | {tokens / seconds:,.0f} "
              f"tokens/s ({tokens:,} tokens) |")
  _, again = _time_prepare(data_config, workers=1)
  rows.append(f"| second prepare (no-op: hash check) | {again:.2f} s | |")
  if _SENTENCEPIECE_VOCAB.value:
    for workers in (1, os.cpu_count() or 1):
      data_config.update(dict(tokenizer="sentencepiece",
                              tokenizer_vocab_size=_SENTENCEPIECE_VOCAB.value,
                              prepared_dir=os.path.join(cache, f"sp{workers}")))
      prepared, seconds = _time_prepare(data_config, workers=workers)
      tokens = prepared.manifest["train_tokens"] + prepared.manifest["val_tokens"]
      rows.append(f"| prepare stdlib, sentencepiece {_SENTENCEPIECE_VOCAB.value}, {workers} "
                  f"process(es), incl. training | {seconds:.2f} s | {tokens / seconds:,.0f} "
                  f"tokens/s ({tokens:,} tokens) |")
  return rows


def _pipeline_rows(prepared: pipeline.Prepared) -> list[str]:
  rows = []
  for shape in _SHAPES.value:
    batch_size, seq_len = (int(part) for part in shape.split("x"))
    iterator = pipeline.train_iterator(prepared, global_batch_size=batch_size, seq_len=seq_len,
                                       seed=0)
    for _ in range(50):
      next(iterator)
    start = time.perf_counter()
    checksum = 0
    for _ in range(_BATCHES.value):
      checksum += int(next(iterator)[0, 0])
    seconds = time.perf_counter() - start
    rate = _BATCHES.value / seconds
    rows.append(f"| train_iterator {batch_size} x {seq_len} | {rate:,.0f} batches/s | "
                f"{rate * batch_size * seq_len / 1e6:.1f} M tokens/s |")
  start = time.perf_counter()
  batches = pipeline.validation_batches(prepared, batch_size=16, seq_len=128, eval_tokens=65_536)
  seconds = time.perf_counter() - start
  rows.append(f"| validation_batches 16 x 128, 65,536 tokens ({len(batches)} batches) | "
              f"{1e3 * seconds:.1f} ms | |")
  return rows


def main(argv: list[str]) -> None:
  del argv
  with tempfile.TemporaryDirectory() as cache:
    rows = _prepare_rows(cache)
    data_config = base.get_config().data
    data_config.prepared_dir = os.path.join(cache, "byte")
    rows += _pipeline_rows(pipeline.prepare(data_config, progress=None))
  print(f"\n## Data pipeline ({datetime.date.today().isoformat()})\n")
  versions = ", ".join(f"{name} {metadata.version(name)}"
                       for name in ("grain", "numpy", "sentencepiece"))
  print(f"Machine: {host.cpu_model()}, {os.cpu_count()} cores (shared, noisy). Python "
        f"{platform.python_version()}, {versions}. Command: `python {' '.join(sys.argv)}`.\n")
  print("| what | time or rate | throughput |\n|---|---|---|")
  print("\n".join(rows))


if __name__ == "__main__":
  app.run(main)
