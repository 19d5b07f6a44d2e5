"""End-to-end tests of the fit report: the library `build` and the `python -m analysis` CLI."""
import json
import subprocess
import sys

from absl import flags
from absl.testing import flagsaver
import pytest

from analysis import __main__ as cli
from analysis.table import observations
from analysis.report import document as report
FIGURES = ("loss_vs_compute", "isoflop_profiles", "law_fit", "optimal_size", "residuals",
           "extrapolation")


@pytest.fixture(scope="module")
def runs_csv(tmp_path_factory, isoflop_csv):
  """A small IsoFLOP table (4 budgets x 6 sizes) plus two bad rows, paper-style names."""
  return isoflop_csv(tmp_path_factory.mktemp("data") / "runs.csv",
                     ["bad-1,1e9,1e20,nan", "bad-2,2e9,1e20,-1.0"])


@pytest.mark.slow
def test_build_writes_fits_figures_and_report(tmp_path, runs_csv):
  table = observations.Observations.from_csv(runs_csv,
                                             dict(n="params", c="flop", loss="final_loss"))
  # Kaplan and single-variable laws are left out here: each law adds two compilations.
  summary = report.build(table, tmp_path, n_resamples=6, table_flops=[1e22, 1e23],
                         kaplan=False, single_variable=False)
  fits = json.loads((tmp_path / "fits.json").read_text())
  assert set(fits["approach3"]["params"]) == {"E", "A", "B", "alpha", "beta"}
  assert set(fits["approach3"]["ci"]) >= {"E", "A", "B", "alpha", "beta"}
  assert fits["approach3"]["converged"]
  assert fits["approach3"]["params"]["alpha"] == pytest.approx(0.35, abs=0.1)  # the law's alpha
  for block in ("approach3", "approach1", "approach2", "optimal_allocation", "extrapolation"):
    assert fits[block]["conventions"] == dict(n="non_embedding", c="6nd")
  assert "kaplan_nd" not in fits and fits["single_variable"] == {}
  assert "no per-run eval curves" in fits["approach1"]["skipped"]
  assert fits["approach2"]["a"] == pytest.approx(0.5, abs=0.08)
  assert {row["flops"] for row in fits["optimal_allocation"]["rows"]} == {1e22, 1e23}
  assert fits["extrapolation"]["n_heldout"] == 6
  assert fits["extrapolation"]["mean_abs_relative_error"] < 0.02
  assert any("non-finite loss" in w for w in fits["warnings"])
  assert any("non-positive loss" in w for w in fits["warnings"])
  text = (tmp_path / "report.md").read_text()
  for name in FIGURES:
    assert (tmp_path / f"{name}.png").stat().st_size > 1000
    assert f"]({name}.png)" in text
  assert "non-finite loss" in text and "N non-embedding, C = 6ND" in text
  assert summary["approach3"]["params"] == fits["approach3"]["params"]


@pytest.mark.slow
def test_cli_fit_on_a_mapped_csv(tmp_path, runs_csv, capsys):
  out = tmp_path / "cli_out"
  # No persistent compilation cache: the setting would outlive this test's folder.
  argv = ["analysis", "fit", f"--data={runs_csv}", "--columns=n:params,c:flop,loss:final_loss",
          f"--out={out}", "--bootstrap=6", "--n_convention=total", "--holdout_flops=5e20",
          "--nokaplan", "--nosingle_variable", "--parabola_window=1",
          "--compilation_cache="]
  with flagsaver.flagsaver():
    flags.FLAGS.unparse_flags()
    cli.main(flags.FLAGS(argv))
  fits = json.loads((out / "fits.json").read_text())
  assert fits["approach2"]["window"] == 1
  assert set(fits["approach3"]["ci"]) >= {"E", "A", "B", "alpha", "beta"}
  assert fits["conventions"] == dict(n="total", c="6nd")
  assert fits["extrapolation"]["threshold_flops"] == 5e20
  assert (out / "report.md").is_file() and (out / "law_fit.png").is_file()
  assert "approach 3: E=" in capsys.readouterr().out


@pytest.mark.entry
def test_cli_names_the_missing_input(tmp_path):
  completed = subprocess.run(
      [sys.executable, "-m", "analysis", "fit", f"--out={tmp_path}", "--compilation_cache="],
      capture_output=True, text=True, timeout=120)
  assert completed.returncode != 0
  assert "--data" in completed.stderr and "--results" in completed.stderr


def test_cli_turns_bad_options_into_one_line_usage_errors(tmp_path, runs_csv):
  base = ["analysis", "fit", f"--data={runs_csv}", "--columns=n:params,c:flop,loss:final_loss",
          f"--out={tmp_path}", "--compilation_cache="]
  cases = (("--weights=inverse_seed_variance", "at least one group with >= 2 seeds"),
           ("--law=overtraining", r"Approach 3 needs Chinchilla's L\(N, D\)"),
           ("--where=dataset:c4", r"columns \['dataset'\] not in the CSV header"))
  for option, message in cases:
    with flagsaver.flagsaver():
      flags.FLAGS.unparse_flags()
      with pytest.raises(ValueError, match=message):
        cli.main(flags.FLAGS(base + [option]))
