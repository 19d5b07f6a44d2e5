"""`SWEEP/results.csv`: one row per finished run, rebuilt from the run directories at any time.

A run is finished when its `result.json` has status completed or diverged (failed runs are in
`python -m scaling status`, not here). The columns and their units are records.results_csv's;
each row comes from the run's result.json (records.result) and, for what the run's config
does not say, its row of the run table in sweep.json.

A WSD trunk (schedule wsd_trunk) is not a point and has no row; its FLOPs go to its branches'
`flops_spent`: the segment of the trunk between two branch points is split evenly among the
branches that leave it at the segment's end (`branch_shares`).
"""
import collections
import pathlib
from typing import Any

from records import atomic
from records import layout
from records import result as result_lib
from records import results_csv
from records import status as status_lib

TRUNK_SCHEDULE = "wsd_trunk"

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
    Column.LOSS_FLOOR: Key.LOSS_FLOOR,
    Column.SCHEDULE: Key.SCHEDULE,
    Column.TRUNK_ID: Key.TRUNK_ID,
    Column.BRANCH_TOKENS: Key.BRANCH_TOKENS,
    Column.DECAY_TOKENS: Key.DECAY_TOKENS,
    Column.FLOPS_SPENT: Key.FLOPS_SPENT,
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


def branch_shares(runs_dir: pathlib.Path, rows: list[dict[Column, Any]],
                  table: dict[str, dict[str, Any]]) -> None:
  """Adds each branch row's share of its trunk to its flops_spent (FLOPs, exact, in place).

  The trunk's branch points come from its config.json; how many branches leave at a point from
  the run table (sweep.json), or from the rows when the table does not list the trunk's.
  """
  leaving = collections.Counter((row.get("trunk_id"), row.get("branch_tokens"))
                                for row in table.values() if row.get("trunk_id"))
  if not leaving:
    leaving = collections.Counter((row[Column.TRUNK_ID], row[Column.BRANCH_TOKENS])
                                  for row in rows if row.get(Column.TRUNK_ID))
  points: dict[str, list[int]] = {}
  for row in rows:
    trunk, point = row.get(Column.TRUNK_ID), row.get(Column.BRANCH_TOKENS)
    if not trunk:
      continue
    if trunk not in points:
      config = atomic.read_json(runs_dir / trunk / layout.CONFIG_FILE) or {}
      points[trunk] = sorted(config.get("train", {}).get("branch_point_tokens", [point]))
    previous = max((p for p in points[trunk] if p < point), default=0)
    per_token = row[Column.FLOPS_EXACT] / row[Column.TOKENS]
    share = per_token * (point - previous) / max(leaving[(trunk, point)], 1)
    row[Column.FLOPS_SPENT] = (row.get(Column.FLOPS_SPENT) or 0.0) + share


def downstream_scores(run_dir: pathlib.Path) -> dict[str, float]:
  """{task: score} from the run's downstream.json (`python -m scaling evaluate`); {} without."""
  record = atomic.read_json(run_dir / layout.DOWNSTREAM_FILE) or {}
  return {task: block["score"] for task, block in record.get("tasks", {}).items()}


def collect(sweep_dir: pathlib.Path) -> list[dict[Column, Any]]:
  """Rows for every finished run under `SWEEP/runs/` but trunks, sorted by run id; a run's
  downstream task scores are in its row under the task names."""
  sweep_dir = pathlib.Path(sweep_dir)
  table = {row["run_id"]: row for row in
           (atomic.read_json(sweep_dir / layout.SWEEP_FILE) or {"runs": []})["runs"]}
  rows = []
  for run_dir in sorted((sweep_dir / layout.RUNS_DIR).glob("*/")):
    result = result_lib.read_result(run_dir)
    if (result is not None and result.get(Key.STATUS) in status_lib.FINISHED
        and result.get(Key.SCHEDULE) != TRUNK_SCHEDULE):
      rows.append(dict(result_row(run_dir, result, table.get(run_dir.name)),
                       **downstream_scores(run_dir)))
  branch_shares(sweep_dir / layout.RUNS_DIR, rows, table)
  return rows


def write_results(sweep_dir: pathlib.Path) -> pathlib.Path:
  """Rebuilds `SWEEP/results.csv` atomically (with a column per downstream task any run was
  evaluated on, in name order); returns its path."""
  sweep_dir = pathlib.Path(sweep_dir)
  rows = collect(sweep_dir)
  tasks = sorted({key for row in rows for key in row if key not in results_csv.COLUMNS})
  return results_csv.write_results(sweep_dir / layout.RESULTS_FILE, rows, tasks)
