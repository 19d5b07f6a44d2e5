"""Tests for analysis.fitting.bootstrap: resampling counts, the percentile rule, coverage,
Epoch's intervals."""

import numpy as np
import pytest

from analysis.fitting import bootstrap
from analysis.fitting import fit
from analysis.laws import catalogue
from analysis.laws import forms
from analysis.fitting import objectives

# Besiroglu et al. 2024, 95% bootstrap intervals on the 240 points (data_analysis.ipynb).
EPOCH_INTERVALS = dict(A=(285.2, 743.6), B=(1042.4, 5810.3), E=(1.769, 1.871),
                       alpha=(0.317, 0.373), beta=(0.331, 0.415))


def test_resample_counts_draw_every_point_count_times():
  counts = bootstrap.resample_counts(50, 400, seed=3)
  assert counts.shape == (400, 50)
  np.testing.assert_array_equal(counts.sum(axis=1), 50)
  # Each point is drawn Binomial(50, 1/50) times: mean 1, variance 49/50.
  assert counts.mean() == pytest.approx(1.0)
  assert counts.var() == pytest.approx(0.98, rel=0.05)
  np.testing.assert_array_equal(counts, bootstrap.resample_counts(50, 400, seed=3))


def test_resample_counts_by_group_move_groups_together():
  groups = np.array(["r1", "r1", "r2", "r3", "r3", "r3"])
  counts = bootstrap.resample_counts(6, 200, seed=0, groups=groups)
  np.testing.assert_array_equal(counts[:, 0], counts[:, 1])
  np.testing.assert_array_equal(counts[:, 3], counts[:, 5])
  group_draws = counts[:, [0, 2, 3]]
  np.testing.assert_array_equal(group_draws.sum(axis=1), 3)
  with pytest.raises(ValueError, match="groups has 2 labels"):
    bootstrap.resample_counts(6, 2, seed=0, groups=groups[:2])


def test_percentile_interval_and_level():
  samples = np.arange(1001, dtype=float)
  low, high = bootstrap.percentile_interval(samples, 0.9)
  assert (low, high) == pytest.approx((50.0, 950.0))
  assert bootstrap.percentile_interval(samples, 1.0) == pytest.approx((0.0, 1000.0))
  with pytest.raises(ValueError, match="level=95"):
    bootstrap.percentile_interval(samples, 95)
  with pytest.raises(ValueError, match="level=0"):
    bootstrap.percentile_interval(samples, 0)


def test_percentile_interval_drops_non_finite_samples_column_by_column():
  rng = np.random.default_rng(0)
  samples = rng.normal(size=(200, 3))
  samples[:40, 0] = np.nan
  samples[5, 1], samples[9, 1] = np.inf, -np.inf
  samples[:, 2] = np.nan
  low, high = bootstrap.percentile_interval(samples, 0.8)
  for column, kept in ((0, samples[40:, 0]), (1, np.delete(samples[:, 1], [5, 9]))):
    assert (low[column], high[column]) == pytest.approx(tuple(np.quantile(kept, [0.1, 0.9])))
  assert np.isnan(low[2]) and np.isnan(high[2])
  empty_low, empty_high = bootstrap.percentile_interval(np.zeros((0, 2)), 0.8)
  assert empty_low.shape == (2,) and np.isnan(empty_high).all()
  assert bootstrap.percentile_intervals(dict(x=samples[:, 0]), 0.8) == dict(
      x=(pytest.approx(low[0]), pytest.approx(high[0])))


def test_allocation_exponents():
  exponents = bootstrap.allocation_exponents(dict(alpha=np.array([0.34]), beta=np.array([0.28])))
  assert exponents["a"][0] == pytest.approx(0.28 / 0.62)
  assert exponents["b"][0] == pytest.approx(0.34 / 0.62)


def test_intervals_cover_synthetic_truth():
  law = dict(E=1.8, A=400.0, alpha=0.3)
  form = catalogue.single_variable("n")
  n = np.geomspace(1e7, 1e10, 40)
  rng = np.random.default_rng(5)
  loss = form.predict(law, n=n) * np.exp(0.004 * rng.standard_normal(n.size))
  result = bootstrap.bootstrap(form, dict(n=n), loss, n_resamples=64, level=0.95, seed=1)
  assert result.n_failed == 0 and result.n_resamples == 64
  assert result.samples["E"].shape == (64,)
  for name, value in law.items():
    low, high = result.ci[name]
    assert low < value < high, name
  point = dict(n=np.array([3e10]))
  low, high = bootstrap.percentile_interval(np.exp(form.log_predict_raw(result.raw, point)), 0.95)
  truth = form.predict(law, **point)
  assert low[0] < truth[0] < high[0]
  assert result.to_json()["ci"].keys() == {"E", "A", "alpha"}


def test_fixed_form_objective_bounds_and_warm_start():
  law = dict(E=1.8, A=400.0, alpha=0.3)
  form = forms.fix(catalogue.single_variable("n"), E=1.8)
  n = np.geomspace(1e7, 1e10, 30)
  rng = np.random.default_rng(7)
  loss = catalogue.single_variable("n").predict(law, n=n) * np.exp(
      0.004 * rng.standard_normal(n.size))
  squared = objectives.Objective("squared")
  result = bootstrap.bootstrap(form, dict(n=n), loss, n_resamples=16, seed=2, objective=squared)
  assert result.n_failed == 0 and result.raw.shape == (16, 2)
  assert result.samples.keys() == {"E", "A", "alpha"}
  np.testing.assert_array_equal(result.samples["E"], 1.8)
  fitted = fit.fit(form, dict(n=n), loss, objective=squared)
  assert result.ci["alpha"][0] < fitted.params["alpha"] < result.ci["alpha"][1]
  assert np.std(result.samples["alpha"]) < 0.01
  # Warm-started from a full fit's survivors, every refit finds the same optimum.
  warm = bootstrap.bootstrap(form, dict(n=n), loss, n_resamples=16, seed=2, objective=squared,
                             init_grid=fitted.survivors)
  np.testing.assert_allclose(warm.samples["alpha"], result.samples["alpha"], rtol=1e-6)
  # A bound below every resample's optimum holds every refit at the bound.
  bounded = bootstrap.bootstrap(form, dict(n=n), loss, n_resamples=16, seed=2, objective=squared,
                                bounds=dict(alpha=(0.0, 0.25)))
  assert bounded.n_failed == 0
  np.testing.assert_allclose(bounded.samples["alpha"], 0.25, rtol=1e-12)


def test_bad_arguments_raise():
  n = np.geomspace(1e7, 1e10, 10)
  loss = 2 + 100 * n**-0.3
  with pytest.raises(ValueError, match="n_resamples"):
    bootstrap.bootstrap(catalogue.single_variable("n"), dict(n=n), loss, n_resamples=0)
  with pytest.raises(ValueError, match="level"):
    bootstrap.bootstrap(catalogue.single_variable("n"), dict(n=n), loss, level=1.5)
  with pytest.raises(ValueError, match="non-finite"):
    bootstrap.bootstrap(catalogue.single_variable("n"), dict(n=n), np.full(10, np.nan))
  with pytest.raises(ValueError, match="must be an objectives.Objective"):
    bootstrap.bootstrap(catalogue.single_variable("n"), dict(n=n), loss, objective="floor")
  with pytest.raises(ValueError, match="'beta' is not a parameter"):
    bootstrap.bootstrap(catalogue.single_variable("n"), dict(n=n), loss, bounds=dict(beta=(0, 1)))


@pytest.mark.slow
def test_overlaps_epoch_intervals(epoch_chinchilla):
  result = bootstrap.bootstrap(catalogue.CHINCHILLA, dict(n=epoch_chinchilla["n"],
                                                     d=epoch_chinchilla["d"]),
                               epoch_chinchilla["loss"], n_resamples=200, seed=0)
  assert result.n_failed <= 2
  for name, (epoch_low, epoch_high) in EPOCH_INTERVALS.items():
    low, high = result.ci[name]
    assert low < epoch_high and epoch_low < high, (name, (low, high))
  # Epoch: a = 0.513 with bootstrap SE 0.020.
  assert result.ci["a"][0] < 0.513 < result.ci["a"][1]


def test_observation_weights_scale_each_resample_count():
  law = dict(E=1.8, A=400.0, alpha=0.3)
  form = catalogue.single_variable("n")
  n = np.geomspace(1e7, 1e10, 30)
  loss = form.predict(law, n=n) * np.exp(0.004 * np.random.default_rng(2).standard_normal(30))
  loss[-1] *= 1.5  # a wild point that only its weight keeps out of the fit
  options = dict(n_resamples=24, seed=3, objective=objectives.Objective(kind="squared"))
  plain = bootstrap.bootstrap(form, dict(n=n), loss, **options)
  doubled = bootstrap.bootstrap(form, dict(n=n), loss, weights=np.full(30, 2.0), **options)
  # The same optimum, reached to the optimizer's convergence tolerance: the doubled objective
  # rounds differently in float32, so a refit may stop a few 1e-5 away.
  np.testing.assert_allclose(doubled.raw, plain.raw, rtol=1e-4, atol=1e-8)
  weights = np.ones(30)
  weights[-1] = 0.0
  masked = bootstrap.bootstrap(form, dict(n=n), loss, weights=weights, **options)
  low, high = masked.ci["alpha"]
  assert low < law["alpha"] < high
  assert high - low < (plain.ci["alpha"][1] - plain.ci["alpha"][0]) / 2
  with pytest.raises(ValueError, match="weights"):
    bootstrap.bootstrap(form, dict(n=n), loss, weights=-weights, **options)


def test_block_bootstrap_covers_trunk_correlated_noise_where_the_point_bootstrap_does_not():
  """12 trunks of 4 points each, sharing a log-loss offset per trunk (sd 0.01) on top of
  independent noise (sd 0.001): over 30 replicates the trunk-block intervals of alpha cover the
  truth about 95% of the time; treating the 48 points as independent gives intervals half as
  wide that miss far more often."""
  law = dict(E=1.8, A=400.0, alpha=0.3)
  form = catalogue.single_variable("n")
  trunks, per_trunk = 12, 4
  trunk = np.repeat(np.arange(trunks), per_trunk)
  n = np.geomspace(1e7, 1e10, trunks)[trunk] * np.tile(np.linspace(1, 1.05, per_trunk), trunks)
  covered, width = {"block": [], "point": []}, {"block": [], "point": []}
  for replicate in range(30):
    rng = np.random.default_rng(100 + replicate)
    noise = 0.01 * rng.standard_normal(trunks)[trunk] + 0.001 * rng.standard_normal(n.size)
    loss = form.predict(law, n=n) * np.exp(noise)
    for kind, groups in (("block", trunk), ("point", None)):
      result = bootstrap.bootstrap(form, dict(n=n), loss, n_resamples=100, level=0.95,
                                   seed=replicate, groups=groups)
      low, high = result.ci["alpha"]
      covered[kind].append(low < law["alpha"] < high)
      width[kind].append(high - low)
  assert np.mean(covered["block"]) >= 0.85
  assert np.mean(covered["point"]) <= 0.8
  assert np.mean(width["block"]) > 1.5 * np.mean(width["point"])


def test_a_mixture_interval_inverts_the_weighted_distribution_of_its_components():
  first, second = np.arange(1000.0), 1000.0 + np.arange(1000.0)  # uniform on 0..999, 1000..1999
  # Equal weights: one distribution uniform on 0..1999; 2.5% of 2000 samples is sample 49.
  assert bootstrap.mixture_interval([first, second], [1.0, 1.0], 0.95) == (49.0, 1949.0)
  # 90/10: the low quantile falls in the first at 0.025 / 0.9 of it, the high in the second
  # at (0.975 - 0.9) / 0.1 of it.
  low, high = bootstrap.mixture_interval([first, second], [0.9, 0.1], 0.95)
  assert low == np.ceil(1000 * 0.025 / 0.9) - 1 and high == 1000 + np.ceil(1000 * 0.75) - 1
  # A component without weight or without a finite sample does not count.
  assert bootstrap.mixture_interval([first, [np.nan], second * 10], [1.0, 5.0, 0.0], 0.5) == (
      249.0, 749.0)
  assert all(np.isnan(bootstrap.mixture_interval([[np.inf]], [1.0], 0.95)))
