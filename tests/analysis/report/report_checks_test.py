"""End-to-end tests of the report's trust sections: identifiability boxes, rollout, residual
diagnostics, compute-optimal loss intervals and repeated seeds (through `report.build`)."""
import csv
import json

import numpy as np
import pytest

from analysis.laws import catalogue
from analysis.table import observations
from analysis.report import document as report
from analysis.report import pipeline
from analysis.report import report_checks
from analysis.fitting import options as fit_options
from analysis.trust import calibration

LAW = dict(E=1.69, A=406.4, B=410.7, alpha=0.34, beta=0.28)
# One law, three compilations: Approach 3, its bootstrap and the rollout's bootstrap.
QUICK = dict(kaplan=False, single_variable=False, n_resamples=20,
             table_flops=[1e21, 1e22])


def _table(sizes, tokens_per_parameter, law, noise, seeds=1):
  """Every size x tokens-per-parameter pair, `seeds` runs each, loss from `law` with noise."""
  rng = np.random.default_rng(0)
  n, d, loss, seed, run_id = [], [], [], [], []
  for size in sizes:
    for ratio in tokens_per_parameter:
      for s in range(seeds):
        n.append(size)
        d.append(size * ratio)
        loss.append(float(catalogue.CHINCHILLA.predict(law, n=np.array([size]),
                                                   d=np.array([size * ratio]))[0])
                    * np.exp(noise * rng.standard_normal()))
        seed.append(s)
        run_id.append(f"n{size:.3g}-r{ratio:.3g}-s{s}")
  return observations.Observations.from_columns(n_total=n, d=d, loss=loss, seed=seed,
                                                run_id=run_id, source="synthetic")


@pytest.mark.slow
def test_well_posed_sweep_gets_rollout_diagnostics_and_intervals(tmp_path):
  table = _table(np.geomspace(1e7, 3e9, 6), np.geomspace(2, 100, 5), LAW, 0.004, seeds=2)
  summary = report.build(table, tmp_path, **QUICK, fit_options=fit_options.FitOptions(
      rollout_forms=("chinchilla", "single_variable_n"), rollout_resamples=20))
  fits = json.loads((tmp_path / "fits.json").read_text())
  assert fits["data"]["n_used"] == 30 and fits["data"]["seeds_per_point"]["max"] == 2
  assert 0.001 < fits["data"]["seeds_per_point"]["pooled_log_sd"] < 0.01
  assert any("averaged 60 runs into 30 points" in w for w in fits["warnings"])
  block = fits["approach3"]
  assert isinstance(block["identifiable"], bool) and isinstance(block["warnings"], list)
  assert block["criterion"]["kind"] == "huber"
  # E is bounded by the smallest loss fitted: the seed-averaged losses, two seeds per point.
  assert block["bounds"]["E"] == [0.0, pytest.approx(table.loss.reshape(30, 2).mean(1).min())]
  assert summary["approach3"]["params"] == block["params"]
  assert fits["residual_diagnostics"]["r_squared"] > 0.99
  rows = fits["compute_optimal_loss"]["rows"]
  assert [row["flops"] for row in rows] == [1e21, 1e22]
  for row in rows:
    assert row["run_low"] <= row["mean_low"] < row["loss"] < row["mean_high"] <= row["run_high"]
    truth = catalogue.CHINCHILLA.predict(LAW, n=np.array([row["n_opt"]]),
                                         d=np.array([row["d_opt"]]))
    assert row["run_low"] < truth[0] < row["run_high"]
  rollout = fits["rollout"]
  assert [entry["label"] for entry in rollout["table"]] == ["chinchilla/huber",
                                                            "single_variable_n/huber"]
  assert rollout["recommendation"]["best"] == "chinchilla/huber"
  chosen = rollout["selection"]
  assert chosen["baseline"] == "chinchilla/huber" and chosen["best_single"] == "chinchilla/huber"
  assert chosen["scores"]["chosen"] == pytest.approx(chosen["scores"]["chinchilla/huber"])
  calibrated = fits["calibration"]
  assert calibrated["label"] == "chinchilla/huber" and calibrated["n_record"] == sum(
      row["label"] == "chinchilla/huber" for row in rollout["rows"])
  assert fits["compute_optimal_loss"]["headline"] == "calibrated"
  for row in rows:
    assert (row["calibrated_high"] / row["calibrated_low"]
            >= row["run_high"] / row["run_low"] * (1 - 1e-12))
    assert row["calibrated_low"] < row["calibrated_loss"] < row["calibrated_high"]
  text = (tmp_path / "report.md").read_text()
  for heading in ("## Fit settings", "## Residual diagnostics", "## Model selection on held-out",
                  "## Predicted loss at the compute-optimal point", "**Recommendation:**",
                  "## Intervals calibrated by the held-out record",
                  "**Headline interval: calibrated**", "**Chosen out of sample**"):
    assert heading in text
  for name in ("residual_panels", "rollout_errors", "rollout_final_split"):
    assert (tmp_path / f"{name}.png").stat().st_size > 1000 and f"]({name}.png)" in text


@pytest.mark.slow
def test_runs_far_from_the_floor_are_reported_in_a_warning_box(tmp_path):
  table = _table(np.geomspace(2e4, 1e6, 5), np.geomspace(0.05, 0.8, 4), dict(LAW, E=3.0), 0.01)
  report.build(table, tmp_path, **QUICK, fit_options=fit_options.FitOptions(
      rollout_forms=("chinchilla",), rollout_resamples=10))
  fits = json.loads((tmp_path / "fits.json").read_text())
  assert fits["approach3"]["identifiable"] is False
  reasons = fits["approach3"]["identifiability"]["warnings"]
  assert any(line.startswith("every run is far from the loss floor") for line in reasons)
  assert set(reasons) <= set(fits["approach3"]["warnings"])
  assert any("chinchilla: NOT identifiable" in w for w in fits["warnings"])
  lines = (tmp_path / "report.md").read_text().split("\n")
  section = lines[lines.index("## Approach 3: L(N, D) = E + A/N^alpha + B/D^beta") + 2:]
  section = section[:section.index("")]
  assert section[0].startswith("> **Warning: the chinchilla fit is not identifiable")
  assert all(line.startswith(">") for line in section)
  assert any(line.startswith("> | E |") for line in section)
  assert not any(line.startswith("| E |") for line in lines)


def test_fit_options_reject_a_law_other_than_chinchilla_for_approach_3():
  assert fit_options.FitOptions(law="chinchilla[E=1.69]").approach3_form().param_names == (
      "A", "B", "alpha", "beta")
  with pytest.raises(ValueError, match="--law='overtraining': Approach 3 needs Chinchilla"):
    fit_options.FitOptions(law="overtraining").approach3_form()


@pytest.mark.slow
@pytest.mark.parametrize("loss_column", ["loss_openlm", "loss_c4_val"])
def test_gadre_rollout_reports_the_largest_runs(tmp_path, shared_data, loss_column):
  """Gadre et al. 2024, c4_original: fitted below 1e9 parameters, the 1.4B and 6.9B runs held
  out, for the Chinchilla and the equal-exponent over-training forms."""
  path = shared_data / "gadre2024_overtraining" / "models_flat.csv"
  table = observations.Observations.from_csv(
      path, dict(n="params", d="tokens", loss=loss_column, run_id="name"),
      where=dict(dataset="c4_original"))
  assert len(table) == 34
  report.build(table, tmp_path, kaplan=False, single_variable=False, n_resamples=20,
               fit_options=fit_options.FitOptions(rollout_split="n", rollout_resamples=50))
  rollout = json.loads((tmp_path / "fits.json").read_text())["rollout"]
  with open(path) as handle:
    large = {row["name"] for row in csv.DictReader(handle)
             if row["dataset"] == "c4_original" and float(row["params"]) > 1e9}
  assert len(large) == 3
  split = [row for row in rollout["rows"] if row["threshold"] > 1e9 and row["threshold"] < 2e9]
  for label in ("chinchilla/huber", "overtraining/huber"):
    held_out = {row["run"]: row for row in split if row["label"] == label}
    assert set(held_out) == large
    for row in held_out.values():
      assert abs(row["relative_error"]) < 0.15 and isinstance(row["covered"], bool)
  text = (tmp_path / "report.md").read_text()
  for name in large:
    assert f"| {name} |" in text


def test_settings_section_says_how_many_points_came_from_how_many_trunks():
  clean = observations.Observations.from_columns(
      n_total=[10.0, 10.0, 20.0], d=[100.0, 200.0, 100.0], loss=[3.0, 2.9, 2.8],
      flops_exact=[6e3, 1.2e4, 1.2e4], trunk_id=["t0", "t0", "t1"],
      flops_spent=[6e3, 2.4e3, 1.2e4])
  branching = pipeline.branching(clean)
  assert branching == dict(points=3, trunks=2, flops_spent=2.04e4, flops_from_scratch=3e4,
                           ratio=pytest.approx(0.68))
  summary = dict(fit_options=dict(objective=dict(description="Huber"), bounded=True, law="c",
                                  weighting="uniform"),
                 data=dict(seeds_per_point=dict(max=1, pooled_log_sd=None),
                           branching=branching))
  text = "\n".join(report_checks.settings_section(summary))
  assert "3 points are cooldown branches of 2 WSD trunks" in text and "0.68x" in text
  assert pipeline.branching(observations.Observations.from_columns(
      n_total=[10.0], d=[100.0], loss=[3.0])) is None


def test_calibration_section_gives_the_record_and_its_out_of_sample_check():
  rows = [dict(predicted=3.0, actual=3.0 * np.exp(0.02 * x), low=2.99, high=3.01,
               split_distance=x, threshold=t) for x, t in ((0.2, 1.0), (0.5, 1.0), (0.4, 2.0))]
  found = calibration.calibrate(rows, 0.5)
  block = dict(found.to_json(), label="chinchilla/huber", split_by="n",
               out_of_sample=dict(n=4, bootstrap_coverage=0.25, calibrated_coverage=1.0))
  text = "\n".join(report_checks.calibration_section(dict(calibration=block)))
  assert "`chinchilla/huber` (distance: decades of N" in text and found.describe() in text
  assert "covered 25% by the bootstrap intervals and 100% by the calibrated ones" in text
  skipped = report_checks.calibration_section(dict(calibration=dict(skipped="no rollout")))
  assert skipped[-1] == "Skipped: no rollout"
