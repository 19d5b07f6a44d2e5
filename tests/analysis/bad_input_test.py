"""Bad input and faults in `analysis fit`: every data error is one line naming the field and the
fix, nothing is dropped silently, a degenerate fit is a warning box, and a failed analysis leaves
no output that looks current."""
import json
import subprocess
import sys

import numpy as np
import pytest

from analysis.laws import catalogue
from analysis.report import law_fits
from analysis.table import observations
from analysis.approaches import optimal
from analysis.report import plots
from analysis.report import document as report
from analysis.fitting import options as fit_options
from records import cli

LAW = dict(E=1.69, A=406.4, B=410.7, alpha=0.34, beta=0.28)
RESULTS_HEADER = ("run_id,seed,n_params_total,n_params_non_embedding,tokens,flops_exact,"
                  "final_eval_loss,status,peak_learning_rate")


def _chinchilla(n, d, **changes):
  law = dict(LAW, **changes)
  return law["E"] + law["A"] / n ** law["alpha"] + law["B"] / d ** law["beta"]


def _run_cli(*args: str) -> subprocess.CompletedProcess:
  return subprocess.run([sys.executable, "-m", "analysis", *args, "--compilation_cache="],
                        capture_output=True, text=True, timeout=300)


def test_a_coefficient_fitted_to_zero_predicts_without_its_term():
  n, d = np.array([1e8, 1e9]), np.array([2e9, 2e10])
  params = dict(LAW, E=0.0)
  np.testing.assert_allclose(catalogue.CHINCHILLA.predict(params, n=n, d=d),
                             _chinchilla(n, d, E=0.0), rtol=1e-12)
  kaplan = dict(N_c=8.8e13, D_c=0.0, alpha_N=0.076, alpha_D=0.095)
  np.testing.assert_allclose(catalogue.KAPLAN_ND.predict(kaplan, n=n, d=d),
                             (8.8e13 / n) ** 0.076, rtol=1e-12)
  with pytest.raises(ValueError, match="E=-1.0 must be >= 0"):
    catalogue.CHINCHILLA.predict(dict(LAW, E=-1.0), n=n, d=d)


def test_a_number_with_a_unit_suffix_names_line_column_and_fix(tmp_path):
  path = tmp_path / "runs.csv"
  path.write_text("params,tokens,loss\n1e8,2e9,3.1\n125M,2.5e9,3.0\n")
  with pytest.raises(ValueError, match=r"line 3, column 'params': '125M' is not a number; "
                                       r"write numbers without unit suffixes, e\.g\. 125e6"):
    observations.Observations.from_csv(path, dict(n="params", d="tokens", loss="loss"))
  path.write_text("params,tokens,loss\n1e8,2e9,\"3,1\"\n")
  with pytest.raises(ValueError, match=r"line 2, column 'loss'.*'\.' as the decimal point"):
    observations.Observations.from_csv(path, dict(n="params", d="tokens", loss="loss"))


def test_a_semicolon_separated_csv_names_the_fix(tmp_path):
  path = tmp_path / "runs.csv"
  path.write_text("params;tokens;loss\n1e8;2e9;3,1\n")
  with pytest.raises(ValueError, match="looks semicolon-separated; convert it to commas"):
    observations.Observations.from_csv(path, dict(n="params", d="tokens", loss="loss"))


def test_a_results_csv_mixing_two_configs_is_an_error_until_one_is_selected(tmp_path):
  path = tmp_path / "results.csv"
  # A sweep relaunched with another peak LR: the same N, D and seed, other losses.
  rows = [f"r{i}-{lr},0,{n:.0f},{n:.0f},{20 * n:.0f},{120 * n * n:.0f},"
          f"{_chinchilla(n, 20 * n) + offset:.4f},completed,{lr}"
          for lr, offset in (("0.003", 0.0), ("0.001", 0.05))
          for i, n in enumerate((1e7, 1e8, 1e9))]
  path.write_text("\n".join([RESULTS_HEADER, *rows]) + "\n")
  table = observations.Observations.from_results_csv(path)
  with pytest.raises(ValueError, match=r"runs r0-0.003 and r0-0.001 have the same N, D and seed "
                                       r"but losses .* keep one with --where=COLUMN:VALUE"):
    table.clean()
  kept, warnings = observations.Observations.from_results_csv(
      path, where=dict(peak_learning_rate="0.001")).clean()
  assert list(kept.run_id) == ["r0-0.001", "r1-0.001", "r2-0.001"] and warnings == []


def test_identical_repeated_rows_are_merged_with_a_notice(tmp_path):
  path = tmp_path / "runs.csv"
  path.write_text("params,tokens,loss\n1e8,2e9,3.1\n1e8,2e9,3.1\n1e9,2e10,2.9\n")
  kept, warnings = observations.Observations.from_csv(
      path, dict(n="params", d="tokens", loss="loss")).clean()
  assert list(kept.run_id) == ["line 2", "line 4"]
  assert warnings == ["merged 1 duplicate row(s) into the identical earlier row (same run id "
                      "or same N, D and seed, and the same loss): line 3"]


def test_allocation_rows_not_to_be_read_as_measurements_are_boxed_and_marked():
  flops = np.array([1e21, 1e22])
  # Resamples that all settled at a smaller alpha: the percentile interval misses the estimate.
  samples = {name: np.full(50, value) for name, value in LAW.items()}
  samples["alpha"] = np.linspace(0.20, 0.22, 50)
  allocation = optimal.from_chinchilla(LAW, flops, source="Approach 3 (this fit)",
                                       convention="N total", samples=samples, identifiable=False)
  rows = allocation.rows()
  assert not any(row["n_covered"] or row["d_covered"] for row in rows)
  assert not any(row["n_low"] <= row["n_opt"] <= row["n_high"] for row in rows)
  clean = optimal.from_chinchilla(LAW, flops, source="clean", convention="N total").rows()
  assert all(row["identifiable"] and row["n_covered"] for row in clean)
  text = "\n".join(report._allocation_section(dict(optimal_allocation=dict(
      closed_form_assumes="C = 6ND", rows=clean + rows))))
  lines = text.splitlines()
  boxed = [line for line in lines if "Approach 3 (this fit) |" in line]
  assert len(boxed) == 2 and all(line.startswith("> |") for line in boxed)
  assert all("excludes the estimate" in line for line in boxed)
  assert any(line.startswith("| clean |") for line in lines)
  assert "> **Warning: these allocations are not measurements.**" in text
  assert "its fit is not identifiable" in text and "N_opt lies outside its own 95%" in text


def test_a_failed_analysis_leaves_no_earlier_outputs(tmp_path):
  for name in ("fits.json", "report.md", "law_fit.png", "notes.txt"):
    (tmp_path / name).write_text("from an earlier analysis")
  too_few = observations.Observations.from_columns(n_total=[1e8, 1e9, 1e10], d=[2e9, 2e10, 2e11],
                                                   loss=[3.0, 2.8, 2.6])
  with pytest.raises(ValueError, match="3 usable runs after cleaning"):
    report.build(too_few, tmp_path, n_resamples=2)
  assert sorted(path.name for path in tmp_path.iterdir()) == ["notes.txt"]


def _plain_17_runs():
  """17 runs of the Chinchilla law without a floor (E = 0) and 1% noise: E fits to exactly 0."""
  rng = np.random.default_rng(1)
  n = np.geomspace(1e7, 1e9, 17)
  d = 20 * n * np.geomspace(0.3, 3, 17)[rng.permutation(17)]
  return n, d, _chinchilla(n, d, E=0.0) * np.exp(rng.normal(0, 0.01, 17))


def _same_n_runs():
  d = np.geomspace(1e9, 1e11, 8)
  return np.full(8, 1e8), d, _chinchilla(1e8, d)


def _six_runs():
  n = np.geomspace(1e7, 1e9, 6)
  return n, 20 * n, _chinchilla(n, 20 * n) * np.exp(np.random.default_rng(2).normal(0, 0.01, 6))


@pytest.mark.slow
@pytest.mark.parametrize("make", [_plain_17_runs, _same_n_runs, _six_runs])
def test_any_table_of_six_or_more_runs_gets_a_report_with_warning_boxes(tmp_path, make):
  n, d, loss = make()
  table = observations.Observations.from_columns(n_total=n, d=d, loss=loss, source=make.__name__)
  # One rollout threshold (each costs a compilation per law), between the fifth and sixth
  # largest C = 6ND: the 17 runs give 12 to fit and 5 to predict, fewer runs none to fit.
  flops = np.sort(6 * n * d)
  threshold = float(np.sqrt(flops[-6] * flops[-5]))
  summary = report.build(table, tmp_path, n_resamples=20, fit_options=fit_options.FitOptions(
      rollout_resamples=10, rollout_thresholds=(threshold,)))
  fits = json.loads((tmp_path / "fits.json").read_text())
  assert not fits["approach3"]["identifiable"]
  assert fits["approach3"]["params"] == summary["approach3"]["params"]
  text = (tmp_path / "report.md").read_text()
  assert "> **Warning: the chinchilla fit is not identifiable" in text
  allocation = text.split("## Compute-optimal allocation")[1].split("\n## ")[0]
  rows = [line for line in allocation.splitlines() if "Approach 3 (this fit) |" in line]
  assert rows and all(line.startswith("> |") for line in rows)
  for row in fits["optimal_allocation"]["rows"]:
    inside = row["n_low"] is None or row["n_low"] <= row["n_opt"] <= row["n_high"]
    assert inside == row["n_covered"]
  assert not any("failed (" in warning for warning in fits["warnings"])


@pytest.mark.slow
def test_a_failing_side_step_degrades_the_report(tmp_path, monkeypatch):
  fit_law = law_fits.fit_law

  def failing_kaplan(form, *args, **kwargs):
    if form is catalogue.KAPLAN_ND:
      raise FloatingPointError("kaplan_nd: overflow")
    return fit_law(form, *args, **kwargs)

  def failing_figure(*args, **kwargs):
    raise RuntimeError("no display")

  monkeypatch.setattr(law_fits, "fit_law", failing_kaplan)
  monkeypatch.setattr(plots, "residuals", failing_figure)
  n, d, loss = _six_runs()
  table = observations.Observations.from_columns(n_total=n, d=d, loss=loss)
  summary = report.build(table, tmp_path, n_resamples=20, single_variable=False,
                         fit_options=fit_options.FitOptions(rollout_resamples=10))
  assert summary["kaplan_nd"]["skipped"] == "failed (FloatingPointError: kaplan_nd: overflow)"
  assert "residuals" not in summary["figures"] and "law_fit" in summary["figures"]
  assert not (tmp_path / "residuals.png").exists()
  text = (tmp_path / "report.md").read_text()
  assert "- kaplan_nd fit: failed (FloatingPointError: kaplan_nd: overflow)" in text
  assert "- figure residuals: failed (RuntimeError: no display)" in text
  assert "Skipped: failed (FloatingPointError" in text


@pytest.mark.entry
def test_cli_data_errors_are_one_line_without_the_flag_help(tmp_path):
  path = tmp_path / "runs.csv"
  path.write_text("params,tokens,loss\n125M,2.5e9,3.0\n")
  out = tmp_path / "out"
  out.mkdir()
  (out / "fits.json").write_text("{}")
  completed = _run_cli("fit", f"--data={path}", "--columns=n:params,d:tokens,loss:loss",
                       f"--out={out}")
  assert completed.returncode == cli.EXIT_USAGE and not (out / "fits.json").exists()
  assert completed.stderr.splitlines()[-1] == (
      f"error: {path}, line 2, column 'params': '125M' is not a number; write numbers without "
      "unit suffixes, e.g. 125e6 for 125M")
  assert "--bootstrap" not in completed.stderr and "Traceback" not in completed.stderr
  path.write_text("params,tokens,loss\n1e8,2.5e9,3.0\n")
  completed = _run_cli("suggest", f"--data={path}", "--columns=n:params,d:tokens,loss:loss")
  assert completed.returncode == cli.EXIT_USAGE
  assert completed.stderr.splitlines()[-1] == (
      "error: suggest needs --target_flops=C and --budget_flops=B (FLOPs)")
  assert "--bootstrap" not in completed.stderr
