"""Tests for the analysis pipeline: preparing the runs, running the steps, the whole build."""
import dataclasses

import numpy as np
import pytest

from analysis.fitting import options as fit_options
from analysis.report import document as report
from analysis.report import pipeline
from analysis.report import steps
from analysis.report import step_types
from analysis.table import observations


@pytest.fixture
def data() -> step_types.Prepared:
  """Eight runs from L = 1.69 + 406.4/N^0.34 + 410.7/D^0.28, prepared under N total, C = 6ND,
  with one warning as if from cleaning."""
  n = np.geomspace(1e7, 1e9, 8)
  d = 20 * n[::-1]
  table = observations.Observations.from_columns(
      n_total=n, d=d, loss=1.69 + 406.4 / n ** 0.34 + 410.7 / d ** 0.28)
  prepared = pipeline.prepare(table, step_types.Settings(), n_convention="total", c_convention="6nd")
  return dataclasses.replace(prepared, warnings=("from cleaning",))


def test_prepare_averages_seeds_and_refuses_too_few_runs():
  n = np.repeat(np.geomspace(1e7, 1e9, 6), 2)
  loss = 1.69 + 406.4 / n ** 0.34 + np.tile([0.0, 0.02], 6)
  table = observations.Observations.from_columns(n_total=n, d=20 * n, loss=loss,
                                                 seed=np.tile([0, 1], 6))
  data = pipeline.prepare(table, step_types.Settings(), n_convention="total", c_convention="6nd")
  assert len(data.clean) == 6 and data.n_runs == 12
  np.testing.assert_allclose(data.runs["loss"], 1.69 + 406.4 / n[::2] ** 0.34 + 0.01)
  np.testing.assert_allclose(data.runs["c"], 6 * n[::2] * 20 * n[::2])
  assert data.warnings[-1].startswith("averaged 12 runs into 6 points over repeated seeds")
  few = observations.Observations.from_columns(n_total=n[::2][:5], d=20 * n[::2][:5],
                                               loss=loss[::2][:5])
  with pytest.raises(ValueError, match="5 usable runs after cleaning"):
    pipeline.prepare(few, step_types.Settings(), n_convention="total", c_convention="6nd")
  with pytest.raises(ValueError, match="level=1.5"):
    pipeline.prepare(table, step_types.Settings(level=1.5), n_convention="total", c_convention="6nd")
  with pytest.raises(ValueError, match="holdout_gap=0.5: use a factor >= 1"):
    pipeline.prepare(table, step_types.Settings(holdout_gap=0.5), n_convention="total",
                     c_convention="6nd")
  with pytest.raises(ValueError, match="holdout_flops=-1.0: use a positive compute"):
    pipeline.prepare(table, step_types.Settings(holdout_flops=-1.0), n_convention="total",
                     c_convention="6nd")


def test_run_guards_side_steps_and_keeps_every_warning_in_order(data):
  def first(data, settings, done):
    return step_types.Outcome(1, dict(value=1), ["first says"])

  def failing(data, settings, done):
    raise FloatingPointError("overflow")

  def last(data, settings, done):
    return step_types.Outcome(done["first"].result + 1, dict(seen=sorted(done)), ["last says"])

  sequence = (step_types.Step("first", first),
              step_types.Step("failing", failing, label="the failing step"),
              step_types.Step("off", first, enabled=lambda settings: settings.kaplan),
              step_types.Step("listed", failing, label="listed", on_failure=lambda reason, data: []),
              step_types.Step("last", last, label="the last step"))
  done, warnings = pipeline.run(sequence, data, step_types.Settings(kaplan=False))
  assert list(done) == ["first", "failing", "listed", "last"]
  reason = "failed (FloatingPointError: overflow)"
  assert done["failing"].result is None
  assert done["failing"].block == dict(skipped=reason, conventions=dict(n="total", c="6nd"))
  assert done["listed"].block == []
  assert done["last"] == (2, dict(seen=["failing", "first", "listed"]), ["last says"])
  assert warnings == ["from cleaning", "first says",
                      f"the failing step: {reason}; the rest of the report does not use it",
                      f"listed: {reason}; the rest of the report does not use it", "last says"]
  assert "off" in pipeline.run(sequence[2:3], data, step_types.Settings())[0]


def test_a_failing_analysis_step_fails_the_analysis(data):
  def failing(data, settings, done):
    raise FloatingPointError("overflow")

  with pytest.raises(FloatingPointError, match="overflow"):
    pipeline.run((step_types.Step("approach3", failing),), data, step_types.Settings())


def test_the_summary_head_describes_the_data(data):
  head = pipeline.description(data, step_types.Settings())
  assert head["conventions"] == dict(n="total", c="6nd")
  assert head["data"] == dict(source=data.source, n_runs=8, n_used=8, one_parameter_count=True,
                              seeds_per_point=dict(max=1, pooled_log_sd=None),
                              branching=None)
  assert head["fit_options"] == fit_options.FitOptions().to_json()


@pytest.mark.slow
def test_build_from_a_sweep_with_curves_under_exact_flops(tmp_path, sweep_with_curves):
  table = sweep_with_curves(np.geomspace(1e7, 3e9, 8))
  flops = np.sort(table.flops_exact)
  # 18 runs to fit and 6 held out, the shapes the other report tests compile for.
  summary = report.build(table, tmp_path / "out", c_convention="exact", n_resamples=6,
                         holdout_flops=float(flops[18]), kaplan=False, single_variable=False)
  assert list(summary)[:4] == ["conventions", "data", "fit_options", "warnings"]
  assert list(summary)[4:] == [step.name for step in steps.STEPS if step.name != "kaplan_nd"
                               ] + ["figures"]
  assert summary["conventions"] == dict(n="non_embedding", c="exact")
  assert summary["approach1"]["a"] == pytest.approx(0.28 / (0.34 + 0.28), abs=0.03)
  assert summary["extrapolation"]["n_train"] == 18
  heldout = table.run_id[table.flops_exact >= flops[18]]
  assert sorted(run["run_id"] for run in summary["extrapolation"]["runs"]) == sorted(heldout)
  assert summary["approach3"]["params"]["alpha"] == pytest.approx(0.34, rel=1e-2)
  rows = summary["convention_comparison"]
  assert [(row["conventions"]["n"], row["conventions"]["c"]) for row in rows] == [
      ("non_embedding", "6nd"), ("non_embedding", "exact"), ("total", "6nd"), ("total", "exact")]
  non_embedding, total = rows[0]["approach3"]["params"], rows[2]["approach3"]["params"]
  # n_total = 1.2 n_non_embedding: the same law with A scaled by 1.2^alpha.
  assert total["alpha"] == pytest.approx(non_embedding["alpha"], rel=1e-3)
  assert total["A"] == pytest.approx(non_embedding["A"] * 1.2 ** non_embedding["alpha"],
                                     rel=1e-2)
  text = (tmp_path / "out" / "report.md").read_text()
  assert "N non-embedding, C exact FLOPs" in text and "N total, C = 6ND" in text
  assert "Approach 1 (envelope) | 0.4" in text


def test_the_known_floor_sits_beside_e(data):
  n, d = (grid.ravel() for grid in np.meshgrid(np.geomspace(1e7, 1e9, 4),
                                                np.geomspace(2e8, 2e11, 4)))
  loss = 1.69 + 406.4 / n ** 0.34 + 410.7 / d ** 0.28
  known = observations.Observations.from_columns(n_total=n, d=d, loss=loss,
                                                 loss_floor=np.full(16, 1.69))
  settings = step_types.Settings(n_resamples=8)
  prepared = pipeline.prepare(known, settings, n_convention="total", c_convention="6nd")
  assert prepared.known_floor == 1.69 and data.known_floor is None
  outcome = steps._approach3(prepared, settings, {})
  truth = outcome.block["known_floor"]
  e, (low, high) = outcome.block["params"]["E"], outcome.block["ci"]["E"]
  assert truth == dict(floor=1.69, E=e, ci=[low, high], level=0.95, miss=pytest.approx(e - 1.69),
                       relative_miss=pytest.approx((e - 1.69) / 1.69),
                       covered=low <= 1.69 <= high)
  assert abs(truth["relative_miss"]) < 0.01
  lines = report._known_floor_lines(outcome.block)
  assert lines[1].startswith("**The truth beside the fit.** This corpus's validation floor is "
                             "known exactly: 1.69 nats/token.")
  assert "covers it." in lines[1] or "does **not** cover it." in lines[1]
  assert report._known_floor_lines({}) == []
  mixed = dataclasses.replace(known, loss_floor=np.linspace(1.6, 1.7, 16))
  mixed_data = pipeline.prepare(mixed, settings, n_convention="total", c_convention="6nd")
  assert mixed_data.known_floor is None
  assert mixed_data.warnings[-1].startswith("no known floor beside E: the runs record different")
