"""demo.py: the demo sweep's design (expansion, validation, IsoFLOP rule, held-out budget), its
summary, its command line, and (slow) a corner of the known-floor ladder trained for real, whose
fitted E recovers the teacher language's exact floor."""
import collections
import io
import pathlib
import subprocess
import sys

import numpy as np
import pytest

import demo
from analysis.fitting import options
from analysis.table import observations
from analysis.trust import extrapolate
from analysis.approaches import isoflop
from configs.sweeps import demo as demo_config
from configs.sweeps import teacher_ladder
from records import cli
from records import layout
from scaling import launch, runs
from training import validate

PROJECT_ROOT = pathlib.Path(__file__).resolve().parents[1]
# The slow test's corner of teacher_ladder: its smallest, a middle and a large size at three
# budgets.
CORNER = "sizes=1500+6000+25000,tokens=500e3+1e6+2e6"


@pytest.fixture(scope="module")
def planned() -> list[runs.PlannedRun]:
  return runs.plan(demo_config.get_config(), pathlib.Path("/nonexistent/demo"))


def _by_budget(planned) -> dict[float, list[runs.PlannedRun]]:
  groups = collections.defaultdict(list)
  for run in planned:
    groups[run.spec.compute_budget].append(run)
  return dict(sorted(groups.items()))


def test_every_run_is_a_valid_byte_level_stdlib_run(planned):
  assert len(planned) == 12
  assert len({run.run_id for run in planned}) == 12
  for run in planned:
    validate.validate_config(run.config, 1, 1)
    assert (run.config.data.corpus, run.config.data.tokenizer) == ("stdlib", "byte")
    assert run.config.train.train_tokens % (run.config.train.batch_size
                                            * run.config.model.seq_len) == 0


def test_at_least_three_isoflop_budgets_of_distinct_sizes_on_their_budget(planned):
  groups = _by_budget(planned)
  assert len(groups) >= 3
  for budget, members in groups.items():
    sizes = [run.spec.shape.non_embedding_params for run in members]
    assert len(set(sizes)) >= 4
    flops = np.array([run.spec.flops_6nd for run in members])
    np.testing.assert_allclose(flops, budget, rtol=0.02)


def test_each_budget_spans_the_tokens_per_parameter_of_the_measured_optimum(planned):
  """The probes' best runs sat at 230-930 tokens per parameter; every budget brackets them."""
  for members in _by_budget(planned).values():
    ratios = [run.spec.tokens / run.spec.shape.non_embedding_params for run in members]
    assert min(ratios) < 30 and max(ratios) > 1000


def test_the_analysis_finds_the_budgets_and_holds_out_the_largest(planned):
  flops = np.array([run.spec.flops_6nd for run in planned])
  labels, budgets = isoflop.group_budgets(flops)
  np.testing.assert_allclose(budgets, demo_config.COMPUTE_BUDGETS, rtol=0.02)
  assert np.bincount(labels).tolist() == [4, 4, 4]
  threshold = extrapolate.default_threshold(flops)
  held_out = [run for run in planned if run.spec.flops_6nd >= threshold]
  assert {run.spec.compute_budget for run in held_out} == {max(demo_config.COMPUTE_BUDGETS)}
  assert len(held_out) == 4


def test_learning_rate_falls_with_size(planned):
  ordered = sorted(planned, key=lambda run: run.spec.shape.non_embedding_params)
  rates = [run.config.optimizer.peak_learning_rate for run in ordered]
  assert rates == sorted(rates, reverse=True)
  assert rates[0] > 2 * rates[-1]


def test_variants():
  assert demo_config.get_config("budgets=1").grid.compute_budgets == (5e10,)
  assert demo_config.get_config("scale=0.5").grid.compute_budgets == (2.5e10, 7.5e10, 2.25e11)
  with pytest.raises(ValueError, match="unknown"):
    demo_config.get_config("size=3")


def test_summary_lines():
  summary = {
      "approach3": {"params": {"E": 0.5, "A": 80.0, "alpha": 0.4}, "level": 0.95,
                    "n_resamples": 300, "ci": {"alpha": [0.3, 0.55]}, "a": 0.6, "b": 0.4},
      "approach2": {"a": 0.31, "b": 0.69, "ci": {"a": [0.2, 0.4], "b": [0.6, 0.8]}},
      "approach1": {"skipped": "no curves"},
      "extrapolation": {"n_train": 10, "n_heldout": 1, "threshold_flops": 4.4e11,
                        "train_max_flops": 1.1e11, "compute_ratio": 4.0,
                        "mean_abs_relative_error": 0.0123, "max_abs_relative_error": 0.0123,
                        "prediction_interval_coverage": 1.0,
                        "runs": [{"run_id": "n9k-8m-x", "actual": 1.8, "predicted": 1.822,
                                  "relative_error": 0.0122}]},
      "warnings": ["E at its bound"],
  }
  lines = demo.summary_lines(summary, pathlib.Path("out/report"))
  text = "\n".join(lines)
  assert "(95% bootstrap intervals, 300 resamples)" in lines[0]
  assert "  alpha  0.4 [0.3, 0.55]" in lines
  assert "  E      0.5" in lines
  assert "  implied allocation: N_opt ~ C^0.6, D_opt ~ C^0.4" in lines
  assert "Approach 2 (IsoFLOP parabolas): N_opt ~ C^0.31 [0.2, 0.4], D_opt ~ C^0.69 [0.6, 0.8]" \
      in lines
  assert "Approach 1 (loss envelope): skipped (no curves)" in lines
  assert "mean |error| 1.23%" in text and "coverage 100%" in text
  assert "fit on 10 runs up to 1.1e+11 FLOPs, predict 1 at 4x that compute or more" in text
  assert "  n9k-8m-x: actual 1.8000, predicted 1.8220 (+1.22%)" in lines
  assert "warning: E at its bound" in lines
  assert lines[-1] == "report: out/report/report.md"
  assert not any("identifiable" in line or "rollout" in line for line in lines)
  summary["approach3"].update(identifiable=False,
                              identifiability={"warnings": ["E fitted to ~0"]})
  summary["rollout"] = {"recommendation": {"statement": "chinchilla/huber: best at 2 of 2"}}
  lines = demo.summary_lines(summary, pathlib.Path("out/report"))
  assert "  NOT identifiable: these numbers are not measurements; reasons:" in lines
  assert "    - E fitted to ~0" in lines
  assert "rollout on held-out runs: chinchilla/huber: best at 2 of 2" in lines


@pytest.mark.entry
def test_command_line_refuses_a_missing_workdir_in_one_line():
  done = subprocess.run([sys.executable, "demo.py"], cwd=PROJECT_ROOT, capture_output=True,
                        text=True, timeout=120, check=False)
  assert done.returncode == cli.EXIT_USAGE
  assert done.stderr == "error: --workdir=DIR is required, e.g. --workdir=demo_out\n"


@pytest.mark.entry
def test_command_line_refuses_a_missing_sweep_file_in_one_line(tmp_path):
  done = subprocess.run([sys.executable, "demo.py", f"--workdir={tmp_path / 'out'}",
                         "--sweep=configs/sweeps/missing.py"], cwd=PROJECT_ROOT,
                        capture_output=True, text=True, timeout=120, check=False)
  assert done.returncode == cli.EXIT_USAGE
  assert done.stderr.startswith("error: --sweep: ") and done.stderr.count("\n") == 1
  assert "configs/sweeps/missing.py" in done.stderr and not (tmp_path / "out").exists()


def test_summary_lines_put_the_known_floor_beside_e():
  summary = {"approach3": {"params": {"E": 2.6156}, "level": 0.95, "n_resamples": 300,
                           "ci": {"E": [2.58, 2.63]},
                           "known_floor": {"floor": 2.6114, "miss": 0.0042,
                                           "relative_miss": 0.0016, "covered": True}}}
  lines = demo.summary_lines(summary, pathlib.Path("out/report"))
  assert ("  known floor 2.611: E misses it by +0.0042 nats/token (+0.16%); E's interval covers "
          "it") in lines
  summary["approach3"]["known_floor"]["covered"] = False
  assert "does not cover it" in "\n".join(demo.summary_lines(summary, pathlib.Path("r")))


@pytest.mark.slow
def test_a_corner_of_the_grid_recovers_the_exact_floor(tmp_path, monkeypatch):
  """Nine branches of three sizes of `teacher_ladder`, trained for real (one device each, as
  the demo trains them): every loss lies above the exact floor, and Approach 3's E (free,
  fitted by the report's recipe) lands within 1% of it (this machine: -0.12%)."""
  monkeypatch.delenv("XLA_FLAGS", raising=False)
  sweep = teacher_ladder.get_config(CORNER)
  sweep.base.data.update(synthetic_tokens=4_000_000, prepared_dir=str(tmp_path / "data"))
  output = io.StringIO()
  assert launch.launch(sweep, tmp_path / "sweep", stream=output).finished, output.getvalue()
  table = observations.Observations.from_results_csv(tmp_path / "sweep" / layout.RESULTS_FILE)
  assert len(table) == 9
  floor = float(np.unique(table.loss_floor)[0])
  assert np.all(table.loss_floor == floor) and np.all(table.loss > floor)
  fitted = options.fit(options.FitOptions(), dict(n=table.n_non_embedding, d=table.d),
                       table.loss, np.ones(len(table)))
  assert abs(fitted.params["E"] - floor) <= 0.01 * floor, (fitted.params, floor)
