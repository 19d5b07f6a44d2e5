"""records.results_csv: the columns, the writer and the reader of a sweep's results.csv."""
import pytest

from records import results_csv

Column = results_csv.Column


def test_columns_in_order_each_with_a_unit_and_a_kind():
  assert [str(column) for column in results_csv.COLUMNS] == [
      "run_id", "seed", "n_layers", "d_model", "n_params_total", "n_params_non_embedding",
      "tokens", "flops_6nd", "flops_exact", "final_eval_loss", "final_train_loss", "status",
      "wall_seconds", "curve_path", "compute_budget", "bits_per_byte", "peak_learning_rate",
      "batch_size", "schedule", "trunk_id", "branch_tokens", "decay_tokens", "flops_spent",
      "loss_floor"]
  for column in results_csv.COLUMNS:
    assert column.unit and column.kind in ("text", "integer", "number")
    assert str(column) in results_csv.__doc__
  assert set(results_csv.REQUIRED) <= set(results_csv.COLUMNS)


def test_every_value_reads_back_as_written(tmp_path):
  rows = [{Column.RUN_ID: "r1", Column.SEED: 3, Column.TOKENS: 123456789012,
           Column.FINAL_EVAL_LOSS: 0.1 + 0.2, Column.FLOPS_EXACT: 6.02e23,
           Column.STATUS: "completed", Column.CURVE_PATH: "/x/metrics.jsonl"},
          {Column.RUN_ID: "r2", Column.FINAL_EVAL_LOSS: None, Column.STATUS: "diverged"}]
  path = results_csv.write_results(tmp_path / "results.csv", rows)
  assert path.read_text().splitlines()[0] == ",".join(results_csv.COLUMNS)
  table = results_csv.read_results(path)
  assert table.lines == [2, 3]
  for column in results_csv.COLUMNS:
    assert table.values(column) == [row.get(column) for row in rows], column
  assert type(table.values(Column.TOKENS)[0]) is int


def test_a_key_that_is_not_a_column_is_refused(tmp_path):
  with pytest.raises(ValueError, match="speed"):
    results_csv.write_results(tmp_path / "results.csv", [{"run_id": "a", "speed": 1}])
  assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("text, read, message", [
    ("run_id,loss\nr1,3\n", results_csv.read_results, r"lacks columns \['n_params_total'"),
    ("a;b\n1;2\n", results_csv.read_csv, "looks semicolon-separated"),
    ("a,b\n", results_csv.read_csv, "has no data rows"),
])
def test_unreadable_tables_are_named_with_the_fix(tmp_path, text, read, message):
  path = tmp_path / "results.csv"
  path.write_text(text)
  with pytest.raises(ValueError, match=message):
    read(path)
  with pytest.raises(ValueError, match="no such file"):
    read(tmp_path / "absent.csv")


def test_a_cell_of_the_wrong_kind_is_named_by_line_and_column(tmp_path):
  path = tmp_path / "t.csv"
  path.write_text("tokens,seed\n1e3,1\n2.5e3,x\n")
  table = results_csv.read_csv(path)
  assert table.values(Column.TOKENS) == [1000, 2500]
  with pytest.raises(ValueError, match=r"line 3, column 'seed': 'x' is not a number"):
    table.values(Column.SEED)
  path.write_text("tokens\n10.5\n")
  with pytest.raises(ValueError, match=r"line 2, column 'tokens': '10.5' is not a whole"):
    results_csv.read_csv(path).values(Column.TOKENS)
