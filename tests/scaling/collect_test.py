"""results.csv: columns, finished runs only, rebuilt from the run directories."""
import csv

from records import atomic
from records import results_csv
from scaling import collect


def _result(status, loss):
  return dict(status=status, final_eval_loss=loss, final_train_loss=3.0, n_params_total=120,
              n_params_embedding=20, n_params_non_embedding=100, tokens=1000, flops_6nd=6e5,
              flops_exact=7e5, wall_seconds=12.5,
              config={"seed": 4, "model": {"n_layers": 2, "d_model": 32}})


def test_rows_for_finished_runs_only(tmp_path):
  for name, status, loss in (("a", "completed", 2.5), ("b", "diverged", None),
                             ("c", "failed", None)):
    (tmp_path / "runs" / name).mkdir(parents=True)
    atomic.write_json_atomic(tmp_path / "runs" / name / "result.json", _result(status, loss))
  (tmp_path / "runs" / "d").mkdir()
  atomic.write_json_atomic(tmp_path / "sweep.json",
                           {"runs": [{"run_id": "a", "compute_budget": 1e9}]})
  path = collect.write_results(tmp_path)
  with open(path) as results:
    reader = csv.DictReader(results)
    assert tuple(reader.fieldnames) == results_csv.COLUMNS
    rows = list(reader)
  assert [row["run_id"] for row in rows] == ["a", "b"]
  first = rows[0]
  assert (first["seed"], first["n_layers"], first["d_model"]) == ("4", "2", "32")
  assert float(first["final_eval_loss"]) == 2.5 and first["status"] == "completed"
  assert float(first["compute_budget"]) == 1e9 and rows[1]["compute_budget"] == ""
  assert first["curve_path"] == str((tmp_path / "runs" / "a" / "metrics.jsonl").resolve())
  assert rows[1]["final_eval_loss"] == ""
  assert sorted(p.name for p in tmp_path.iterdir()) == ["results.csv", "runs", "sweep.json"]
