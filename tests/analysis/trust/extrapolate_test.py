"""Tests for held-out extrapolation (uses the Approach-3 fit and bootstrap)."""
import numpy as np
import pytest

from analysis.trust import extrapolate
from analysis.laws import catalogue
from analysis.fitting import objectives
from analysis.fitting import options as fit_options


def test_default_threshold_holds_out_the_largest_budget(isoflop_runs):
  c = isoflop_runs(1e18)["c"]
  assert extrapolate.default_threshold(c) == pytest.approx(1e21)
  assert extrapolate.default_threshold(c[c < 2e19]) is None


@pytest.mark.slow
def test_small_error_and_intervals_cover_the_truth(isoflop_runs):
  n, d, c, loss = (isoflop_runs(1e18)[k] for k in ("n", "d", "c", "loss"))
  result = extrapolate.extrapolate(fit_options.FitOptions(), dict(n=n, d=d), loss, c, 5e20,
                                   n_resamples=6, level=0.95)
  assert result.n_train == 18 and len(result.actual) == 6
  np.testing.assert_array_equal(result.heldout_index, np.arange(18, 24))
  assert np.mean(np.abs(result.relative_error)) < 0.01
  assert np.mean(result.covered) >= 0.5
  assert np.all(result.prediction_interval[0] < result.prediction_interval[1])
  summary = result.to_json()
  assert summary["n_heldout"] == 6 and len(summary["runs"]) == 6
  assert summary["prediction_interval_coverage"] == pytest.approx(np.mean(result.covered))


def test_predict_samples_matches_the_form_one_sample_at_a_time(isoflop_runs):
  runs = isoflop_runs(1e18)
  n, d = runs["n"], runs["d"]
  samples = {name: np.array([value, value * 1.1]) for name, value in runs["law"].items()}
  predictions = extrapolate.predict_samples(catalogue.CHINCHILLA, samples, dict(n=n, d=d))
  for row in range(2):
    params = {name: values[row] for name, values in samples.items()}
    np.testing.assert_allclose(predictions[row], catalogue.CHINCHILLA.predict(params, n=n, d=d),
                               rtol=1e-12)


@pytest.mark.parametrize("threshold, message", [(1e22, "no run at or above"),
                                                (1e18, "raise it")])
def test_unusable_thresholds_are_errors(threshold, message, isoflop_runs):
  n, d, c, loss = (isoflop_runs(1e18)[k] for k in ("n", "d", "c", "loss"))
  with pytest.raises(ValueError, match=message):
    extrapolate.extrapolate(fit_options.FitOptions(), dict(n=n, d=d), loss, c, threshold,
                            n_resamples=5)


def test_objective_bounds_and_weights_reach_the_fit(isoflop_runs):
  runs = isoflop_runs(1e18)
  n, d, c, loss, true = (runs[k] for k in ("n", "d", "c", "loss", "law"))
  weights = np.ones(len(loss))
  weights[0] = 0.0
  options = fit_options.FitOptions(law=f"chinchilla[E={true['E']}]",
                                   objective=objectives.Objective(kind="squared"))
  result = extrapolate.extrapolate(options, dict(n=n, d=d), loss, c, 5e20, n_resamples=4,
                                   weights=weights)
  block = result.fit.to_json()
  assert block["criterion"]["kind"] == "squared"
  assert result.fit.params["E"] == true["E"]
  assert block["bounds"]["alpha"] == [0.0, 3.0]
  assert block["diagnostics"]["n_points"] == result.n_train - 1


def test_a_gap_leaves_the_runs_between_out_of_both_sides(isoflop_runs):
  """Budgets 1e18..1e21 a decade apart: threshold 1e21 with gap 50 fits the 1e18 and 1e19
  budgets (C < 2e19) and predicts only the 1e21 budget, at 100x the largest training C."""
  n, d, c, loss = (isoflop_runs(1e18)[k] for k in ("n", "d", "c", "loss"))
  result = extrapolate.extrapolate(fit_options.FitOptions(), dict(n=n, d=d), loss, c, 1e21,
                                   gap=50.0, n_resamples=4)
  assert result.n_train == 12
  np.testing.assert_array_equal(result.heldout_index, np.arange(18, 24))
  summary = result.to_json()
  assert summary["train_max_flops"] == pytest.approx(1e19)
  assert summary["heldout_min_flops"] == pytest.approx(1e21)
  assert summary["compute_ratio"] == pytest.approx(100.0)
  assert summary["gap"] == 50.0
  with pytest.raises(ValueError, match="holdout_gap=0.5"):
    extrapolate.extrapolate(fit_options.FitOptions(), dict(n=n, d=d), loss, c, 1e21, gap=0.5,
                            n_resamples=4)


def test_no_checkpoint_of_a_curve_with_a_held_out_row_is_fitted(
    isoflop_runs):
  """Each run of four budgets (1e18..1e21) also has a checkpoint at half its tokens. Threshold
  1e21: by points, the 1e21 runs' halves (5e20 FLOPs) would train the fit that predicts their
  own finals; by curves, those curves leave the fit whole."""
  runs = isoflop_runs(1e18)
  n, d, c = (np.concatenate([runs[k], runs[k] * scale]) for k, scale in
             (("n", 1.0), ("d", 0.5), ("c", 0.5)))
  loss = catalogue.CHINCHILLA.predict(runs["law"], n=n, d=d)
  curves = np.concatenate([np.arange(24), np.arange(24)]).astype(str)
  options = fit_options.FitOptions()
  by_points = extrapolate.extrapolate(options, dict(n=n, d=d), loss, c, 1e21, n_resamples=4)
  by_curves = extrapolate.extrapolate(options, dict(n=n, d=d), loss, c, 1e21, n_resamples=4,
                                      curves=curves)
  assert by_points.n_train == 18 + 24 and by_curves.n_train == 18 + 18
  np.testing.assert_array_equal(by_curves.heldout_index, np.arange(18, 24))
  np.testing.assert_array_equal(by_points.heldout_index, np.arange(18, 24))
  assert by_curves.train_max_flops == pytest.approx(1e20)
