"""The topics source (data/topics.py) against its exact floor: baselines and a few tiny runs.

  python benchmarks/known_floor.py

Prepares the topics corpus with the settings below in a temporary cache, then prints, on the
fixed validation set of `configs/tiny.py` (eval_tokens / seq_len windows), the Bayes floor, the
cross-entropy of the best unigram and bigram models (counts of the training split, add-1/2
smoothing: what a 0-context and a 1-context model can reach), and the final eval loss of three
`train.py` runs of increasing size and budget. Prints a markdown section; appends it nowhere.
"""
import datetime
import json
import os
import pathlib
import subprocess
import sys
import tempfile
import time

import numpy as np

from configs import tiny
from data import pipeline

import host  # benchmarks/host.py, beside this script

REPO = pathlib.Path(__file__).resolve().parents[1]
DATA = dict(corpus="synthetic", synthetic_kind="topics", synthetic_vocab=17, synthetic_topics=32,
            synthetic_topic_zipf=1.0, synthetic_order=2, synthetic_successors=3,
            synthetic_document_tokens=256.0, synthetic_tokens=2_000_000, val_fraction=0.05)
# (name, model overrides, train tokens)
RUNS = (("S", dict(d_model=32, n_layers=1, n_heads=2, n_kv_heads=2, d_ff=96), 262_144),
        ("M", dict(d_model=64, n_layers=2), 524_288),
        ("L", dict(d_model=96, n_layers=3, n_heads=4, n_kv_heads=2, d_ff=288), 1_048_576))


def _smoothed_cross_entropy(counts: np.ndarray, contexts: np.ndarray,
                            targets: np.ndarray) -> float:
  """nats/token of `targets` under the add-1/2 estimate of P(target | context) from `counts`."""
  table = (counts + 0.5) / (counts + 0.5).sum(-1, keepdims=True)
  return float(-np.log(table[contexts, targets]).mean())


def _baselines(prepared: pipeline.Prepared, seq_len: int, eval_tokens: int
               ) -> tuple[float, float]:
  """(unigram, bigram) cross-entropy of the validation windows' targets, nats/token."""
  vocab = prepared.manifest["vocab_size"]
  train = np.asarray(prepared.train_tokens, dtype=np.int64)
  bigrams = np.zeros((vocab, vocab))
  np.add.at(bigrams, (train[:-1], train[1:]), 1)
  windows = np.concatenate(pipeline.validation_batches(prepared, 1, seq_len, eval_tokens))
  contexts, targets = windows[:, :-1].ravel(), windows[:, 1:].ravel()
  unigram = _smoothed_cross_entropy(bigrams.sum(0)[None], np.zeros_like(targets), targets)
  return unigram, _smoothed_cross_entropy(bigrams, contexts, targets)


def _train(name: str, model: dict, tokens: int, cache: str, workdir: pathlib.Path) -> dict:
  """One train.py run of configs/tiny.py with the topics data; its result.json."""
  overrides = [f"--config.data.{key}={value}" for key, value in DATA.items()]
  overrides += [f"--config.model.{key}={value}" for key, value in model.items()]
  overrides += [f"--config.data.prepared_dir={cache}", f"--config.train.train_tokens={tokens}"]
  subprocess.run([sys.executable, str(REPO / "train.py"), "--config=configs/tiny.py",
                  f"--workdir={workdir / name}", *overrides], cwd=REPO, check=True,
                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
  return json.loads((workdir / name / "result.json").read_text())


def main() -> None:
  config = tiny.get_config()
  config.data.update(DATA)
  seq_len, eval_tokens = config.model.seq_len, config.train.eval_tokens
  with tempfile.TemporaryDirectory(prefix="known-floor-") as scratch:
    config.data.prepared_dir = cache = str(pathlib.Path(scratch) / "cache")
    start = time.perf_counter()
    prepared = pipeline.prepare(config.data, seq_len=seq_len, progress=None)
    prepare_seconds = time.perf_counter() - start
    start = time.perf_counter()
    floor = pipeline.validation_floor(prepared, seq_len, eval_tokens)
    floor_seconds = time.perf_counter() - start
    unigram, bigram = _baselines(prepared, seq_len, eval_tokens)
    rows = []
    for name, model, tokens in RUNS:
      result = _train(name, model, tokens, cache, pathlib.Path(scratch))
      rows.append(f"| {name} | {result['n_params_non_embedding']:,} | {tokens:,} "
                  f"| {result['final_eval_loss']:.4f} | {result['final_eval_loss'] - floor:+.4f} "
                  f"| {result['wall_seconds']:.0f} s |")
  settings = ", ".join(f"{key}={value}" for key, value in DATA.items() if key != "corpus")
  table = "\n".join(rows)
  section = f"""
## Known floor of the topics source ({datetime.date.today()})

Machine: {host.cpu_model()}, {os.cpu_count()} cores (shared; load average \
{os.getloadavg()[0]:.1f} at the end). Command: `python benchmarks/known_floor.py`.
Data: {settings}; {prepared.manifest['train_tokens']:,} train and \
{prepared.manifest['val_tokens']:,} validation tokens, prepared in {prepare_seconds:.1f} s.
Scored on the fixed validation set of configs/tiny.py: {eval_tokens // seq_len} windows of \
{seq_len} targets.

| predictor | nats/token |
|---|---|
| Bayes floor (exact; computed in {floor_seconds:.2f} s) | {floor:.4f} |
| unigram (train counts) | {unigram:.4f} |
| bigram (train counts) | {bigram:.4f} |
| ln(vocabulary - 1) | {np.log(prepared.manifest['vocab_size'] - 1):.4f} |

| run | N (non-embedding) | D (tokens) | eval loss | above the floor | wall |
|---|---|---|---|---|---|
{table}
"""
  print(section)


if __name__ == "__main__":
  main()
