"""Tests for the analysis pipeline's pieces that do not need a fit."""
import json

import numpy as np
import pytest

from analysis.laws import forms
from analysis.report import law_fits
from analysis.table import observations
from analysis.report import pipeline
from analysis.report import document as report
from analysis.fitting import options as fit_options


def test_fit_law_skips_with_a_warning_when_runs_are_too_few():
  warnings = []
  conventions = dict(n="total", c="6nd")
  fitted, resampled, block = law_fits.fit_law(
      forms.single_variable("n"), dict(n=np.array([1e6, 1e7, 1e8])), np.array([3.0, 2.8, 2.7]),
      options=fit_options.FitOptions(), weights=np.ones(3), n_resamples=10, level=0.9, seed=0,
      conventions=conventions, warnings=warnings)
  assert fitted is None and resampled is None
  assert "needs more than 3" in block["skipped"] and block["conventions"] == conventions
  assert len(warnings) == 1 and "skipped" in warnings[0]


def test_convention_labels():
  assert pipeline.convention_label(dict(n="total", c="exact")) == "N total, C exact FLOPs"
  assert pipeline.convention_label(dict(n="non_embedding", c="6nd")) == (
      "N non-embedding, C = 6ND")


def _sweep_with_curves(tmp_path, sizes, horizons=(10, 40, 160)):
  """results.csv of runs from L = 1.69 + 406.4/N^0.34 + 410.7/D^0.28, with eval curves."""
  lines = ["run_id,seed,n_layers,d_model,n_params_total,n_params_non_embedding,tokens,"
           "flops_6nd,flops_exact,final_eval_loss,final_train_loss,status,wall_seconds,"
           "curve_path,compute_budget"]
  for size in sizes:
    for multiple in horizons:
      run_id = f"n{size:.0e}_x{multiple}"
      tokens = np.geomspace(size * 0.5, size * multiple, 25)
      loss = 1.69 + 406.4 / size ** 0.34 + 410.7 / tokens ** 0.28
      curve = tmp_path / f"{run_id}.jsonl"
      curve.write_text("".join(
          json.dumps(dict(kind="eval", tokens=float(t), eval_loss=float(v))) + "\n"
          for t, v in zip(tokens, loss)))
      lines.append(f"{run_id},0,2,64,{size * 1.2},{size},{tokens[-1]},"
                   f"{6 * size * tokens[-1]},{7 * size * tokens[-1]},{loss[-1]},{loss[-1]},"
                   f"completed,1,{curve.name},")
  (tmp_path / "results.csv").write_text("\n".join(lines) + "\n")
  return observations.Observations.from_results_csv(tmp_path / "results.csv")


def test_approach1_from_a_sweep_with_curves(tmp_path):
  table = _sweep_with_curves(tmp_path, np.geomspace(1e7, 3e9, 9))
  result, reason = pipeline.approach1_from_curves(table, table.arrays(), n_resamples=20,
                                                  level=0.9, seed=0)
  assert reason == ""
  assert result.a == pytest.approx(0.28 / (0.34 + 0.28), abs=0.03)
  exact, _ = pipeline.approach1_from_curves(table, table.arrays(c="exact"), n_resamples=0,
                                            level=0.9, seed=0)
  # 7 FLOPs per parameter-token instead of 6 shifts compute, not the exponent.
  assert exact.a == pytest.approx(result.a, abs=0.02)
  np.testing.assert_allclose(exact.n_opt * exact.d_opt * 7, exact.flops, rtol=1e-9)


def test_approach1_is_skipped_with_the_reason(tmp_path):
  table = _sweep_with_curves(tmp_path, np.geomspace(1e7, 3e9, 4))
  (tmp_path / "n1e+07_x10.jsonl").unlink()
  result, reason = pipeline.approach1_from_curves(table, table.arrays(), n_resamples=5,
                                                  level=0.9, seed=0)
  assert result is None and "1 curve file(s) missing" in reason
  no_curves = observations.Observations.from_columns(n_total=[1.0], d=[1.0], loss=[1.0])
  assert "no per-run eval curves" in pipeline.approach1_from_curves(
      no_curves, no_curves.arrays(), n_resamples=5, level=0.9, seed=0)[1]


@pytest.mark.slow
def test_build_from_a_sweep_with_curves_under_exact_flops(tmp_path):
  table = _sweep_with_curves(tmp_path, np.geomspace(1e7, 3e9, 8))
  flops = np.sort(table.flops_exact)
  # 18 runs to fit and 6 held out, the shapes the other report tests compile for.
  summary = report.build(table, tmp_path / "out", c_convention="exact", n_resamples=6,
                         holdout_flops=float(flops[18]), kaplan=False, single_variable=False)
  assert summary["conventions"] == dict(n="non_embedding", c="exact")
  assert summary["approach1"]["a"] == pytest.approx(0.28 / (0.34 + 0.28), abs=0.03)
  assert summary["extrapolation"]["n_train"] == 18
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
  assert pipeline.compare_conventions(
      observations.Observations.from_columns(n_total=[1.0], d=[1.0], loss=[1.0]),
      options=fit_options.FitOptions(), weights=np.ones(1)) == []
