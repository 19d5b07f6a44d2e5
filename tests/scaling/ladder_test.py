"""Tests for scaling/ladder.py: trunks and branches from a grid, their FLOPs against the closed
form, bad ladders, the launcher's wait on branch points, their release, and results.csv's
attribution of trunk FLOPs."""
import io
import json
import pathlib

import pytest

from configs.sweeps import ladder_tiny
from records import layout
from records import results_csv
from scaling import collect, ladder, launch, runs
from training import branch

Column = results_csv.Column


def _planned(tmp_path, **grid_fields) -> list[runs.PlannedRun]:
  sweep = ladder_tiny.get_config()
  sweep.grid.update(**grid_fields)
  return runs.plan(sweep, tmp_path)


def test_one_trunk_per_size_and_one_branch_per_budget(tmp_path):
  planned = _planned(tmp_path)
  trunks = [run for run in planned if run.spec.is_trunk]
  branches = [run for run in planned if run.trunk_id]
  assert len(trunks) == 2 and len(branches) == 6 and planned[:2] == trunks
  by_id = {run.run_id: run for run in planned}
  for run in branches:
    trunk = by_id[run.trunk_id]
    config, trunk_config = run.config, trunk.config
    assert config.train.branch_from == f"../{trunk.run_id}"
    assert config.optimizer.schedule == "wsd" and trunk_config.optimizer.schedule == "constant"
    assert branch.mismatched_fields(config, trunk_config) == []
    point = run.branch_point()
    assert point.trunk_dir == trunk.run_dir
    assert point.tokens == run.spec.branch_tokens
    assert point.tokens in trunk_config.train.branch_point_tokens
    tokens_per_step = config.train.batch_size * config.model.seq_len
    steps = config.train.train_tokens // tokens_per_step
    assert point.tokens == (steps - round(0.2 * steps)) * tokens_per_step
  for trunk in trunks:
    points = trunk.config.train.branch_point_tokens
    assert trunk.config.train.train_tokens == max(points)
    assert len(points) == 3


def test_flops_with_and_without_branching_match_the_closed_form(tmp_path):
  planned = _planned(tmp_path)
  savings = ladder.savings([run.spec for run in planned])
  per_token = {run.run_id: run.spec.flops_exact / run.spec.tokens for run in planned}
  branches = [run for run in planned if run.trunk_id]
  independent = sum(run.spec.flops_exact for run in branches)
  planned_flops = (sum(run.spec.flops_exact for run in planned if run.spec.is_trunk)
                   + sum(per_token[run.run_id] * (run.spec.tokens - run.spec.branch_tokens)
                         for run in branches))
  assert savings.independent_flops == pytest.approx(independent, rel=1e-12)
  assert savings.planned_flops == pytest.approx(planned_flops, rel=1e-12)
  # Budgets 2, 4 and 8 tokens per parameter, decay 0.2: (0.8 x 8 + 0.2 x 14) / 14 (to steps).
  assert savings.ratio == pytest.approx((0.8 * 8 + 0.2 * 14) / 14, abs=0.01)
  table = io.StringIO()
  launch.dry_run(ladder_tiny.get_config(), tmp_path, max_parallel=2,
                 throughput=launch.estimate.Throughput(flops_per_second=1e9, overhead_seconds=0.0,
                                                       source="given"),
                 stream=table)
  text = table.getvalue()
  assert text.count(" trunk ") == 2 and text.count(" branch@") == 6
  assert f"({savings.ratio:.2f}x)" in text.splitlines()[-1]
  assert not (tmp_path / layout.RUNS_DIR).exists()  # a dry run writes no run


@pytest.mark.parametrize("fields, message", [
    (dict(decay_fraction=0.6), r"sweep.grid.decay_fraction=0.6 must be in \(0, 0.5\]"),
    (dict(decay_fraction=0.0), r"sweep.grid.decay_fraction=0.0 must be in \(0, 0.5\]"),
    (dict(decay_shape="cosine"), "sweep.grid.decay_shape='cosine' is unknown"),
    (dict(tokens_per_param=(0.1, 8.0)), "shorter than the warmup"),
])
def test_bad_ladders_are_refused_in_one_line(tmp_path, fields, message):
  with pytest.raises(ValueError, match=message) as error:
    _planned(tmp_path, **fields)
  assert "\n" not in str(error.value)


def test_isoflop_sizes_snap_onto_the_ladder(tmp_path):
  sweep = ladder_tiny.get_config()
  sweep.grid.update(kind="isoflop", compute_budgets=(2.5e10, 5e10), sizes_per_budget=3,
                    size_span=2.0, ladder_sizes=(10_000, 20_000), sizes=(), tokens_per_param=())
  planned = runs.plan(sweep, tmp_path)
  trunks = [run for run in planned if run.spec.is_trunk]
  assert {run.spec.shape.label for run in trunks} == {"n10p3k", "n20p6k"}
  assert all(run.trunk_id for run in planned if not run.spec.is_trunk)
  assert len({run.spec.shape.label for run in planned}) == 2


def _finish(run_dir: pathlib.Path, result: dict) -> None:
  run_dir.mkdir(parents=True, exist_ok=True)
  (run_dir / layout.RESULT_FILE).write_text(json.dumps(result))


def test_branches_wait_for_their_point_and_points_are_released(tmp_path):
  planned = _planned(tmp_path)
  runs.materialize(planned, tmp_path, "ladder_tiny")
  ready = ladder.ready_check(planned, stale_seconds=30.0)
  trunk = planned[0]
  mine = [run for run in planned if run.trunk_id == trunk.run_id]
  assert ready(trunk.run_dir) and not any(ready(run.run_dir) for run in mine)
  first = mine[0].branch_point()
  (first.checkpoint_dir / str(first.step)).mkdir(parents=True)
  assert [ready(run.run_dir) for run in mine] == [True, False, False]
  _finish(trunk.run_dir, dict(status="failed", error="injected"))
  assert [ready(run.run_dir) for run in mine] == [True, False, False]  # it may be retried
  _finish(trunk.run_dir, dict(status="completed"))
  assert all(ready(run.run_dir) for run in mine)  # started, then refused: failed, not stuck

  for run in mine:
    point = run.branch_point()
    (point.checkpoint_dir / str(point.step)).mkdir(parents=True, exist_ok=True)
  _finish(mine[0].run_dir, dict(status="completed"))
  _finish(mine[1].run_dir, dict(status="diverged"))
  released = ladder.release_branch_points(planned, stale_seconds=30.0)
  assert released == [run.branch_point().checkpoint_dir / str(run.branch_point().step)
                      for run in mine[:2]]
  assert sorted(path.name for path in first.checkpoint_dir.iterdir()) == [
      str(mine[2].branch_point().step)]


def test_results_csv_counts_every_trunk_once(tmp_path):
  planned = _planned(tmp_path)
  runs.materialize(planned, tmp_path, "ladder_tiny")
  for run in planned:
    per_token = run.spec.flops_exact / run.spec.tokens
    _finish(run.run_dir, dict(
        status="completed", final_eval_loss=3.0, n_params_total=run.spec.shape.total_params,
        n_params_non_embedding=run.spec.shape.non_embedding_params, tokens=run.spec.tokens,
        flops_exact=run.spec.flops_exact, flops_6nd=run.spec.flops_6nd,
        schedule="wsd_trunk" if run.spec.is_trunk else "wsd_branch",
        trunk_id=run.trunk_id, branch_tokens=run.spec.branch_tokens,
        flops_spent=per_token * (run.spec.tokens - run.spec.branch_tokens),
        config=runs.config_json(run.config)))
  table = results_csv.read_results(collect.write_results(tmp_path))
  rows = [dict(zip(results_csv.COLUMNS, values))
          for values in zip(*(table.values(column) for column in results_csv.COLUMNS))]
  assert len(rows) == 6 and {row[Column.SCHEDULE] for row in rows} == {"wsd_branch"}
  savings = ladder.savings([run.spec for run in planned])
  assert sum(row[Column.FLOPS_SPENT] for row in rows) == pytest.approx(savings.planned_flops,
                                                                         rel=1e-12)
  assert sum(row[Column.FLOPS_EXACT] for row in rows) == pytest.approx(
      savings.independent_flops, rel=1e-12)
  # The earliest branch of a trunk pays the trunk up to its point, plus its own decay.
  earliest = min((row for row in rows if row[Column.TRUNK_ID] == planned[0].run_id),
                 key=lambda row: row[Column.BRANCH_TOKENS])
  per_token = earliest[Column.FLOPS_EXACT] / earliest[Column.TOKENS]
  assert earliest[Column.FLOPS_SPENT] == pytest.approx(per_token * earliest[Column.TOKENS])
