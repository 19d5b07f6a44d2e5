"""Tests for the tidy observations table."""
import json

import numpy as np
import pytest

from analysis.table import observations
from analysis.table import seeds


RESULTS_HEADER = ("run_id,seed,n_layers,d_model,n_params_total,n_params_non_embedding,tokens,"
                  "flops_6nd,flops_exact,final_eval_loss,final_train_loss,status,wall_seconds,"
                  "curve_path,compute_budget\n")


def _write_results(path, rows):
  path.write_text(RESULTS_HEADER + "".join(",".join(map(str, row)) + "\n" for row in rows))


def test_from_results_csv_reads_both_conventions(tmp_path):
  _write_results(tmp_path / "results.csv", [
      ("r1", 0, 2, 64, 1500, 1000, 20000, 1.2e8, 1.5e8, 3.1, 3.0, "completed", 5, "r1/m.jsonl",
       1e8),
      ("r2", 0, 2, 64, 3000, 2000, 40000, 4.8e8, 5.5e8, 2.9, 2.8, "completed", 9, "", ""),
  ])
  table = observations.Observations.from_results_csv(tmp_path / "results.csv")
  assert len(table) == 2
  non_embedding = table.arrays(n="non_embedding", c="6nd")
  np.testing.assert_allclose(non_embedding["n"], [1000, 2000])
  np.testing.assert_allclose(non_embedding["c"], [6 * 1000 * 20000, 6 * 2000 * 40000])
  total = table.arrays(n="total", c="exact")
  np.testing.assert_allclose(total["n"], [1500, 3000])
  np.testing.assert_allclose(total["c"], [1.5e8, 5.5e8])
  np.testing.assert_allclose(table.arrays(n="total")["c"], [6 * 1500 * 20000, 6 * 3000 * 40000])
  assert table.curve_path[0] == str(tmp_path / "r1" / "m.jsonl")
  assert table.curve_path[1] == ""
  np.testing.assert_array_equal(table.budget, [1e8, np.nan])


def test_from_results_csv_names_missing_columns(tmp_path):
  (tmp_path / "results.csv").write_text("run_id,loss\nr1,3.0\n")
  with pytest.raises(ValueError, match="lacks columns"):
    observations.Observations.from_results_csv(tmp_path / "results.csv")


def test_from_csv_derives_tokens_from_flops(tmp_path):
  (tmp_path / "data.csv").write_text("size,flop,L\n1e6,6e12,3.0\n2e6,6e12,2.9\n")
  table = observations.Observations.from_csv(tmp_path / "data.csv",
                                             dict(n="size", c="flop", loss="L"))
  np.testing.assert_allclose(table.d, [1e6, 5e5])
  arrays = table.arrays(n="total")
  np.testing.assert_allclose(arrays["c"], [6e12, 6e12])
  np.testing.assert_allclose(arrays["loss"], [3.0, 2.9])
  with pytest.raises(ValueError, match="exact"):
    table.arrays(c="exact")


def test_from_csv_with_tokens_and_budget(tmp_path):
  (tmp_path / "data.csv").write_text("n,tok,loss,b\n10,100,2.0,6e3\n20,50,2.1,6e3\n")
  table = observations.Observations.from_csv(
      tmp_path / "data.csv", observations.parse_columns("n:n,d:tok,loss:loss,budget:b"))
  np.testing.assert_allclose(table.flops_6nd, [6000, 6000])
  np.testing.assert_allclose(table.budget, [6e3, 6e3])


@pytest.mark.parametrize("columns, message", [
    (dict(n="n", loss="loss"), "d:COL"),
    (dict(n="n", d="d", loss="loss", speed="x"), "unknown fields"),
    (dict(n="n", d="nope", loss="loss"), "not in the CSV header"),
    (dict(n_total="n", d="d", loss="loss"), "n_non_embedding"),
])
def test_from_csv_rejects_bad_mappings(tmp_path, columns, message):
  (tmp_path / "data.csv").write_text("n,d,loss\n10,100,2.0\n")
  with pytest.raises(ValueError, match=message):
    observations.Observations.from_csv(tmp_path / "data.csv", columns)


def test_parse_columns_rejects_items_without_colon():
  assert observations.parse_columns("n:a,loss:b") == dict(n="a", loss="b")
  with pytest.raises(ValueError, match="field:COLUMN"):
    observations.parse_columns("n=a")


def test_clean_excludes_bad_rows_with_one_line_per_reason():
  table = observations.Observations.from_columns(
      run_id=["ok", "nan", "neg", "div", "dup", "ok2", "zero_d"],
      n_total=[1e6, 1e6, 2e6, 3e6, 1e6, 4e6, 5e6],
      d=[1e7, 2e7, 2e7, 2e7, 1e7, 2e7, 0],
      loss=[3.0, np.nan, -1.0, 2.5, 3.0, 2.4, 2.0],
      status=["completed", "completed", "completed", "diverged", "completed", "completed",
              "completed"])
  kept, warnings = table.clean()
  assert list(kept.run_id) == ["ok", "ok2"]
  text = "\n".join(warnings)
  assert len(warnings) == 5
  for expected in ("non-finite loss: nan", "non-positive loss: neg", "diverged", "div",
                   "merged 1 duplicate row(s)", "dup", "zero_d"):
    assert expected in text


def test_clean_keeps_seeds_of_one_config_and_clean_data_untouched():
  table = observations.Observations.from_columns(
      n_total=[1e6, 1e6], d=[1e7, 1e7], loss=[3.0, 3.02], seed=[0, 1])
  kept, warnings = table.clean()
  assert len(kept) == 2 and warnings == []


def test_drop_highest_matches_epoch_rule():
  loss = np.array([2.0, 5.0, 3.0, 4.0, 2.5])
  table = observations.Observations.from_columns(n_total=np.ones(5), d=np.ones(5), loss=loss)
  dropped = table.drop_highest(2)
  np.testing.assert_array_equal(dropped.loss, loss[loss < np.sort(loss)[-2]])
  assert table.drop_highest(0) is table
  with pytest.raises(ValueError, match="drop_highest"):
    table.drop_highest(-1)


def test_arrays_rejects_unknown_conventions():
  table = observations.Observations.from_columns(n_total=[1.0], d=[1.0], loss=[1.0])
  with pytest.raises(ValueError, match="n convention"):
    table.arrays(n="embedding")
  with pytest.raises(ValueError, match="c convention"):
    table.arrays(c="6n")


def test_load_curve_reads_eval_lines_in_token_order(tmp_path):
  lines = [dict(kind="train", tokens=10, loss=9.0, eval_loss=9.9),
           dict(kind="eval", tokens=200, eval_loss=2.5), dict(tokens=100, eval_loss=3.0),
           dict(step=5, tokens=300, train_loss=2.0)]
  path = tmp_path / "metrics.jsonl"
  path.write_text("\n".join(json.dumps(line) for line in lines) + "\n")
  tokens, loss = observations.load_curve(path)
  np.testing.assert_array_equal(tokens, [100, 200])
  np.testing.assert_array_equal(loss, [3.0, 2.5])


def test_from_csv_where_keeps_matching_rows(tmp_path):
  (tmp_path / "data.csv").write_text(
      "n,d,loss,dataset\n1e6,2e7,3.1,a\n2e6,4e7,2.9,b\n4e6,8e7,2.7,a\n")
  table = observations.Observations.from_csv(
      tmp_path / "data.csv", observations.parse_columns("n:n,d:d,loss:loss"),
      where=observations.parse_where("dataset:a"))
  np.testing.assert_array_equal(table.n_total, [1e6, 4e6])
  np.testing.assert_array_equal(table.loss, [3.1, 2.7])
  with pytest.raises(ValueError, match="no row matches"):
    observations.Observations.from_csv(tmp_path / "data.csv",
                                       observations.parse_columns("n:n,d:d,loss:loss"),
                                       where={"dataset": "c"})
  with pytest.raises(ValueError, match=r"\['split'\] not in the CSV header"):
    observations.Observations.from_csv(tmp_path / "data.csv",
                                       observations.parse_columns("n:n,d:d,loss:loss"),
                                       where={"split": "a"})
  with pytest.raises(ValueError, match="--where item 'dataset': expected COLUMN:VALUE"):
    observations.parse_where("dataset")


def test_trunks_are_bootstrap_blocks_and_seed_groups_join_them():
  table = observations.Observations.from_columns(
      n_total=[10.0, 10.0, 20.0, 10.0], d=[100.0, 200.0, 100.0, 100.0],
      loss=[3.0, 2.9, 2.8, 3.1], run_id=["a", "b", "c", "d"], seed=[0, 0, 0, 1],
      trunk_id=["t0", "t0", "", "t1"], flops_spent=[1.0, 2.0, 6.0, 1.5])
  assert table.bootstrap_blocks().tolist() == ["t0", "t0", "run:c", "t1"]
  grouped = seeds.aggregate(table).observations
  assert grouped.trunk_id.tolist() == ["t0+t1", "t0", ""]
  assert grouped.flops_spent.tolist() == [2.5, 2.0, 6.0]
  plain = observations.Observations.from_columns(n_total=[10.0], d=[100.0], loss=[3.0])
  assert plain.bootstrap_blocks() is None and np.isnan(plain.flops_spent[0])
