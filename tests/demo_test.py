"""demo.py and configs/sweeps/demo.py: the demo ladder's design (expansion, validation, trunks,
held-out runs), its summary, its command line, and (slow) a corner of the ladder trained for
real, whose fitted E recovers the teacher language's exact floor."""
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
from configs.sweeps import demo as demo_config
from records import cli
from records import layout
from scaling import launch, runs
from training import validate

PROJECT_ROOT = pathlib.Path(__file__).resolve().parents[1]
# The slow test's corner of the demo ladder: its smallest, a middle and a large size at its three
# smallest budgets.
CORNER = "sizes=850+3000+12600,tokens=250e3+500e3+1e6"


@pytest.fixture(scope="module")
def planned() -> list[runs.PlannedRun]:
  return runs.plan(demo_config.get_config(), pathlib.Path("/nonexistent/demo"))


def test_every_run_is_a_valid_run_on_the_teacher_language(planned):
  assert len(planned) == 54 and len({run.run_id for run in planned}) == 54
  for run in planned:
    validate.validate_config(run.config, 1, 1)
    data = run.config.data
    assert (data.corpus, data.synthetic_kind, data.synthetic_order) == ("synthetic", "teacher", 1)
    # No run reads a token twice: the trunk and its cooldown fit in the training split.
    assert run.config.train.train_tokens <= 0.9 * data.synthetic_tokens


def test_nine_trunks_over_a_decade_of_n_each_with_five_cooldowns(planned):
  trunks = collections.defaultdict(list)
  for run in planned:
    if run.config.train.branch_from:
      trunks[run.spec.shape.non_embedding_params].append(run.spec.tokens)
  sizes = sorted(trunks)
  assert len(sizes) == 9 and sizes[-1] / sizes[0] > 20
  assert all(sorted(tokens) == [250_000, 500_000, 1_000_000, 2_000_000, 4_000_000]
             for tokens in (np.round(np.array(t), -4).astype(int).tolist()
                            for t in trunks.values()))


def test_the_held_out_runs_are_eight_at_four_times_the_training_compute(planned):
  sweep = demo_config.get_config()
  flops = np.array([run.spec.flops_6nd for run in planned if run.config.train.branch_from])
  train = flops < sweep.analysis.holdout_flops / sweep.analysis.holdout_gap
  held_out = flops >= sweep.analysis.holdout_flops
  assert held_out.sum() >= 8 and train.sum() >= 20
  assert flops[held_out].min() >= 4 * flops[train].max()


def test_learning_rate_falls_with_size_after_a_warmup_of_many_steps(planned):
  ordered = sorted(planned, key=lambda run: run.spec.shape.non_embedding_params)
  rates = [run.config.optimizer.peak_learning_rate for run in ordered]
  assert rates == sorted(rates, reverse=True) and rates[0] > 1.5 * rates[-1]
  for run in planned:
    steps = run.config.train.warmup_tokens / (run.config.train.batch_size
                                              * run.config.model.seq_len)
    assert steps >= 64


def test_variants():
  assert demo_config.get_config("sizes=850+3000").grid.sizes == (850, 3000)
  assert demo_config.get_config("tokens=1e6").grid.tokens == (1_000_000,)
  assert demo_config.get_config("embed_decay=1.0").base.data.synthetic_teacher_embed_decay == 1.0
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
  assert not any("calibrated" in line for line in lines)
  summary["calibration"] = {"held_out": {"n_record": 42, "coverage": 0.875,
                                         "mean_abs_relative_error": 0.0003}}
  assert ("  calibrated by the rollout record of the training runs alone (42 predictions): "
          "coverage 88%, mean |error| 0.03%") in demo.summary_lines(summary, pathlib.Path("r"))
  del summary["calibration"]
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
  """Nine branches of three sizes of the demo ladder, trained for real (one device each, as
  the demo trains them): every loss lies above the exact floor, and Approach 3's E (free,
  fitted by the report's recipe) lands within 1% of it."""
  monkeypatch.delenv("XLA_FLAGS", raising=False)
  sweep = demo_config.get_config(CORNER)
  sweep.base.data.update(synthetic_tokens=2_000_000, prepared_dir=str(tmp_path / "data"))
  sweep.base.train.eval_tokens = 32_768  # the validation split of 2M tokens holds 45k
  output = io.StringIO()
  assert launch.launch(sweep, tmp_path / "sweep", stream=output).finished, output.getvalue()
  table = observations.Observations.from_results_csv(tmp_path / "sweep" / layout.RESULTS_FILE)
  assert len(table) == 9
  floor = float(np.unique(table.loss_floor)[0])
  assert np.all(table.loss_floor == floor) and np.all(table.loss > floor)
  fitted = options.fit(options.FitOptions(), dict(n=table.n_non_embedding, d=table.d),
                       table.loss, np.ones(len(table)))
  assert abs(fitted.params["E"] - floor) <= 0.01 * floor, (fitted.params, floor)
