"""Tests for analysis.table.checkpoints and analysis.table.published_curves: the Hitchhiker
filter on constructed curves, whole-curve bootstrap blocks and weights, a sweep's curves, and
the loaders of the shared data."""
import collections
import csv
import json

import numpy as np
import pytest

from analysis.fitting import bootstrap
from analysis.table import checkpoints
from analysis.table import published_curves
from analysis.table import seeds
from records import results_csv

Column = results_csv.Column


def _two_curves() -> checkpoints.CheckpointTable:
  """Curve 'long' of N = 1e8: 20 checkpoints, every 5% of its 2e9 tokens; curve 'short' of the
  same N ends at 5e8 tokens, where 'long' has a checkpoint at fraction 0.25."""
  long_tokens = np.arange(1, 21) * 1e8
  short_tokens = np.array([2.5e8, 5e8])
  tokens = np.concatenate([long_tokens, short_tokens])
  return checkpoints.CheckpointTable.from_columns(
      curve=["long"] * 20 + ["short"] * 2, n_total=np.full(22, 1e8), d=tokens,
      loss=3.0 + 1e9 / tokens, fraction=np.concatenate([long_tokens / 2e9, short_tokens / 5e8]))


def test_hitchhiker_drops_the_first_tenth_of_each_curve_and_prefers_ended_schedules():
  table = _two_curves()
  kept = table.select("hitchhiker")
  long_kept = kept.d[kept.trunk_id == "long"]
  # 1e8 tokens is 5% of 'long' (dropped); 2e8 (10%) on are kept, but at 5e8 tokens the end of
  # 'short' replaces the checkpoint of 'long' a quarter through its schedule.
  np.testing.assert_array_equal(long_kept, np.delete(np.arange(2, 21) * 1e8, 3))
  np.testing.assert_array_equal(kept.d[kept.trunk_id == "short"], [2.5e8, 5e8])
  assert len(set(kept.run_id)) == len(kept) and kept.clean()[1] == []
  np.testing.assert_array_equal(table.targets("hitchhiker"), np.isin(kept.d, [2e9, 5e8]))
  finals = table.select("final")
  assert finals.d.tolist() == [2e9, 5e8] and finals.run_id.tolist() == ["long@2000000000",
                                                                         "short@500000000"]


def test_curves_are_bootstrap_blocks_and_weigh_the_same():
  kept = _two_curves().select("hitchhiker")
  weights = seeds.observation_weights("per_curve", groups=seeds.aggregate(kept))
  totals = {curve: weights[kept.trunk_id == curve].sum() for curve in ("long", "short")}
  assert totals["long"] == pytest.approx(totals["short"])
  assert weights.mean() == pytest.approx(1.0)
  counts = bootstrap.resample_counts(len(kept), 400, seed=1, groups=kept.bootstrap_blocks())
  long = kept.trunk_id == "long"
  # Points of one curve move together: each resample draws each curve 0, 1 or 2 times, with
  # probabilities 1/4, 1/2, 1/4 (2 draws with replacement from 2 curves).
  assert np.all(counts[:, long] == counts[:, [np.flatnonzero(long)[0]]])
  draws = counts[:, np.flatnonzero(long)[0]]
  np.testing.assert_array_equal(draws + counts[:, np.flatnonzero(~long)[0]], 2)
  frequencies = np.bincount(draws, minlength=3) / draws.size
  np.testing.assert_allclose(frequencies, [0.25, 0.5, 0.25], atol=0.06)


def test_bad_tables_are_refused():
  with pytest.raises(ValueError, match=r"fractions must lie in \(0, 1\]"):
    checkpoints.CheckpointTable.from_columns(curve=["a"], n_total=[1e8], d=[1e9], loss=[3.0],
                                             fraction=[1.2])
  with pytest.raises(ValueError, match=r"curves \['a'\] have no final checkpoint"):
    checkpoints.CheckpointTable.from_columns(curve=["a"], n_total=[1e8], d=[1e9], loss=[3.0],
                                             fraction=[0.5])
  with pytest.raises(ValueError, match="recipe 'cosine' is unknown"):
    _two_curves().select("cosine")


def test_a_sweep_gives_each_run_its_curve_and_each_wsd_branch_one_post_decay_point(tmp_path):
  curve = tmp_path / "cosine_run.jsonl"
  with open(curve, "w") as handle:
    for tokens, loss in ((1e6, 5.0), (2e6, 4.5), (4e6, 4.0)):
      handle.write(json.dumps(dict(kind="eval", tokens=tokens, eval_loss=loss)) + "\n")
  common = {Column.N_PARAMS_TOTAL: 2e6, Column.N_PARAMS_NON_EMBEDDING: 1e6,
            Column.STATUS: "completed", Column.SEED: 0}
  rows = [dict(common, **{Column.RUN_ID: "cosine_run", Column.TOKENS: 4e6,
                          Column.FINAL_EVAL_LOSS: 4.0, Column.SCHEDULE: "cosine",
                          Column.CURVE_PATH: curve.name}),
          dict(common, **{Column.RUN_ID: "branch_a", Column.TOKENS: 2e6,
                          Column.FINAL_EVAL_LOSS: 4.2, Column.SCHEDULE: "wsd_branch",
                          Column.TRUNK_ID: "trunk", Column.CURVE_PATH: "branch_a.jsonl"}),
          dict(common, **{Column.RUN_ID: "branch_b", Column.TOKENS: 8e6,
                          Column.FINAL_EVAL_LOSS: 3.9, Column.SCHEDULE: "wsd_branch",
                          Column.TRUNK_ID: "trunk", Column.CURVE_PATH: "branch_b.jsonl"})]
  path = results_csv.write_results(tmp_path / "results.csv", rows)
  table = checkpoints.from_sweep(path)
  assert table.curves().tolist() == ["cosine_run"] * 3 + ["trunk"] * 2
  np.testing.assert_array_equal(table.fraction, [0.25, 0.5, 1.0, 1.0, 1.0])
  np.testing.assert_array_equal(table.observations.loss, [5.0, 4.5, 4.0, 4.2, 3.9])
  assert table.select("final").run_id.tolist() == ["cosine_run@4000000", "trunk@2000000",
                                                   "trunk@8000000"]
  assert table.select("final").bootstrap_blocks().tolist() == ["cosine_run", "trunk", "trunk"]


def _misfitting_rows(shared_data) -> list[dict]:
  with open(shared_data / published_curves.MISFITTING_FILE) as handle:
    return list(csv.DictReader(handle))


def test_misfitting2025_keeps_the_best_learning_rate_of_each_size_and_budget(shared_data):
  table = published_curves.misfitting2025(shared_data)
  rows = _misfitting_rows(shared_data)
  sizes = {row["model"] for row in rows}
  assert len(rows) == 4852 and len(sizes) == 11
  curves = table.curves()
  assert collections.Counter(curves[table.final]) == collections.Counter(set(curves))
  best = collections.defaultdict(lambda: np.inf)  # the lowest final loss over every LR
  for row in rows:
    if float(row["portion_steps_elapsed"]) == 1:
      key = (float(row["N"]), float(row["D"]))
      best[key] = min(best[key], float(row["loss"]))
  finals = table.select("final")
  assert len(finals) == len(set(curves)) == 80
  size_and_budget = {tuple(label.split("/")[i] for i in (0, 2)) for label in set(curves)}
  assert len(size_and_budget) == 80 and {size for size, _ in size_and_budget} == sizes
  for n, d, loss in zip(finals.n_total, finals.d, finals.loss):
    assert loss == best[(n, d)]
  for curve in set(curves):
    d = table.observations.d[curves == curve]
    assert len(set(d)) == d.size  # no ambiguous curve is kept
  one_lr = published_curves.misfitting2025(shared_data, peak_lr=0.002)
  assert all("/lr=0.002/" in label for label in one_lr.curves())
  with pytest.raises(ValueError, match="no curve has peak_lr=0.003"):
    published_curves.misfitting2025(shared_data, peak_lr=0.003)


def test_olmo_ladder_curves_end_at_their_budgets(shared_data):
  table = published_curves.load("olmo_ladder", shared_data)
  finals = table.select("final")
  assert len(finals) == 25 and len(set(table.curves())) == 25
  for label, n, d in zip(finals.trunk_id, finals.n_non_embedding, finals.d):
    size, multiple = label.split("-")
    assert n == published_curves.OLMO_PARAMS[size]
    assert d == pytest.approx(float(multiple[:-2]) * 20 * n, rel=5e-3)  # to a batch
  assert np.all(np.diff(table.observations.d[table.curves() == "1B-5xC"]) > 0)
  with pytest.raises(ValueError, match="has no checkpoint loader"):
    published_curves.load("pythia", shared_data)


@pytest.mark.parametrize("name", list(published_curves.LOADERS))
def test_a_folder_without_the_dataset_is_one_clear_error(tmp_path, name):
  with pytest.raises(ValueError, match=f"{tmp_path}/.*(no such file|no <size>-<k>xC.csv)"):
    published_curves.load(name, tmp_path)


def test_a_curve_splits_by_its_last_checkpoint():
  split = np.array([1.0, 4.0, 2.0, 8.0, 3.0])
  tokens = np.array([10, 40, 20, 80, 30])
  curves = np.array(["a", "a", "b", "b", "c"])
  by_curve, last = checkpoints.curve_split(split, tokens, curves)
  np.testing.assert_array_equal(by_curve, [4.0, 4.0, 8.0, 8.0, 3.0])
  np.testing.assert_array_equal(last, [False, True, False, True, True])
  with pytest.raises(ValueError, match="curves has 2 labels for 5 runs"):
    checkpoints.curve_split(split, tokens, curves[:2])
