"""`SWEEP/results.csv`: one row per finished run, rebuilt from the run directories at any time.

A run is finished when its `result.json` has status completed or diverged (failed runs are in
`python -m scaling status`, not here). The columns and their units are records.results_csv's;
each row comes from the run's result.json (records.result) and, for what the run's config
does not say, its row of the run table in sweep.json.
"""
import pathlib
from typing import Any

from records import atomic
from records import layout
from records import result as result_lib
from records import results_csv
from records import status as status_lib

Column, Key = results_csv.Column, result_lib.Key
# Columns copied unchanged from result.json, by the key they are read from.
_FROM_RESULT = {
    Column.N_PARAMS_TOTAL: Key.N_PARAMS_TOTAL,
    Column.N_PARAMS_NON_EMBEDDING: Key.N_PARAMS_NON_EMBEDDING,
    Column.TOKENS: Key.TOKENS,
    Column.FLOPS_6ND: Key.FLOPS_6ND,
    Column.FLOPS_EXACT: Key.FLOPS_EXACT,
    Column.FINAL_EVAL_LOSS: Key.FINAL_EVAL_LOSS,
    Column.FINAL_TRAIN_LOSS: Key.FINAL_TRAIN_LOSS,
    Column.STATUS: Key.STATUS,
    Column.WALL_SECONDS: Key.WALL_SECONDS,
    Column.BITS_PER_BYTE: Key.BITS_PER_BYTE,
}


def result_row(run_dir: pathlib.Path, result: dict[str, Any],
               table_row: dict[str, Any] | None) -> dict[Column, Any]:
  """The results.csv row of one finished run from its result.json (and run-table row)."""
  config = result.get(Key.CONFIG) or {}
  model = config.get("model", {})
  optimizer = config.get("optimizer", {})
  train = config.get("train", {})
  table_row = table_row or {}
  row = {column: result.get(key) for column, key in _FROM_RESULT.items()}
  row.update({
      Column.RUN_ID: run_dir.name,
      Column.SEED: config.get("seed", table_row.get(Column.SEED)),
      Column.N_LAYERS: model.get("n_layers", table_row.get(Column.N_LAYERS)),
      Column.D_MODEL: model.get("d_model", table_row.get(Column.D_MODEL)),
      Column.CURVE_PATH: str((run_dir / layout.METRICS_FILE).resolve()),
      Column.COMPUTE_BUDGET: table_row.get(Column.COMPUTE_BUDGET),
      Column.PEAK_LEARNING_RATE: optimizer.get("peak_learning_rate",
                                               table_row.get(Column.PEAK_LEARNING_RATE)),
      Column.BATCH_SIZE: train.get("batch_size", table_row.get(Column.BATCH_SIZE)),
  })
  return row


def collect(sweep_dir: pathlib.Path) -> list[dict[Column, Any]]:
  """Rows for every finished run under `SWEEP/runs/`, sorted by run id."""
  sweep_dir = pathlib.Path(sweep_dir)
  table = {row["run_id"]: row for row in
           (atomic.read_json(sweep_dir / layout.SWEEP_FILE) or {"runs": []})["runs"]}
  rows = []
  for run_dir in sorted((sweep_dir / layout.RUNS_DIR).glob("*/")):
    result = result_lib.read_result(run_dir)
    if result is not None and result.get(Key.STATUS) in status_lib.FINISHED:
      rows.append(result_row(run_dir, result, table.get(run_dir.name)))
  return rows


def write_results(sweep_dir: pathlib.Path) -> pathlib.Path:
  """Rebuilds `SWEEP/results.csv` atomically; returns its path."""
  sweep_dir = pathlib.Path(sweep_dir)
  return results_csv.write_results(sweep_dir / layout.RESULTS_FILE, collect(sweep_dir))
