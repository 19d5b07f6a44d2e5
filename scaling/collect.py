"""`SWEEP/results.csv`: one row per finished run, rebuilt from the run directories at any time.

A run is finished when its `result.json` has status 'completed' or 'diverged' (failed runs are
in `python -m scaling status`, not here). Units: parameters and tokens are counts, FLOPs are
training FLOPs (flops_6nd = 6 x n_params_non_embedding x tokens, Kaplan's convention;
flops_exact counts attention and the output head), losses are nats/token, wall time seconds.
`curve_path` is the run's `metrics.jsonl`, whose lines with "kind": "eval" hold the eval curve.
`compute_budget` is the IsoFLOP budget a run belongs to (empty for N x D grids).
`bits_per_byte` is the final eval loss in bits per UTF-8 byte of validation text (empty for
corpora without text; see export/compression.py). `peak_learning_rate` and `batch_size`
(sequences per optimizer step) are the values the run trained with: per-size hyperparameter
rules (`sweep.hparams`) set them per run.
"""
import csv
import io
import pathlib
from typing import Any

from records import atomic
from scaling import rundir

COLUMNS = ("run_id", "seed", "n_layers", "d_model", "n_params_total", "n_params_non_embedding",
           "tokens", "flops_6nd", "flops_exact", "final_eval_loss", "final_train_loss", "status",
           "wall_seconds", "curve_path", "compute_budget", "bits_per_byte", "peak_learning_rate",
           "batch_size")
RESULTS_FILE = "results.csv"
FINISHED = ("completed", "diverged")


def result_row(run_dir: pathlib.Path, result: dict[str, Any],
               table_row: dict[str, Any] | None) -> dict[str, Any]:
  """The results.csv row of one finished run from its result.json (and run-table row)."""
  config = result.get("config") or {}
  model = config.get("model", {})
  optimizer = config.get("optimizer", {})
  train = config.get("train", {})
  table_row = table_row or {}
  return dict(
      run_id=run_dir.name,
      seed=config.get("seed", table_row.get("seed")),
      n_layers=model.get("n_layers", table_row.get("n_layers")),
      d_model=model.get("d_model", table_row.get("d_model")),
      n_params_total=result.get("n_params_total"),
      n_params_non_embedding=result.get("n_params_non_embedding"),
      tokens=result.get("tokens"),
      flops_6nd=result.get("flops_6nd"),
      flops_exact=result.get("flops_exact"),
      final_eval_loss=result.get("final_eval_loss"),
      final_train_loss=result.get("final_train_loss"),
      status=result.get("status"),
      wall_seconds=result.get("wall_seconds"),
      curve_path=str((run_dir / rundir.METRICS_FILE).resolve()),
      compute_budget=table_row.get("compute_budget"),
      bits_per_byte=result.get("bits_per_byte"),
      peak_learning_rate=optimizer.get("peak_learning_rate",
                                       table_row.get("peak_learning_rate")),
      batch_size=train.get("batch_size", table_row.get("batch_size")),
  )


def collect(sweep_dir: pathlib.Path) -> list[dict[str, Any]]:
  """Rows for every finished run under `SWEEP/runs/`, sorted by run id."""
  sweep_dir = pathlib.Path(sweep_dir)
  table = {row["run_id"]: row for row in
           (rundir.read_json(sweep_dir / rundir.SWEEP_FILE) or {"runs": []})["runs"]}
  rows = []
  for run_dir in sorted((sweep_dir / rundir.RUNS_DIR).glob("*/")):
    result = rundir.read_json(run_dir / rundir.RESULT_FILE)
    if result is not None and result.get("status") in FINISHED:
      rows.append(result_row(run_dir, result, table.get(run_dir.name)))
  return rows


def write_results(sweep_dir: pathlib.Path) -> pathlib.Path:
  """Rebuilds `SWEEP/results.csv` atomically; returns its path."""
  sweep_dir = pathlib.Path(sweep_dir)
  buffer = io.StringIO()
  writer = csv.DictWriter(buffer, fieldnames=COLUMNS, lineterminator="\n")
  writer.writeheader()
  for row in collect(sweep_dir):
    writer.writerow({key: "" if value is None else value for key, value in row.items()})
  path = sweep_dir / RESULTS_FILE
  atomic.write_text_atomic(path, buffer.getvalue())
  return path
