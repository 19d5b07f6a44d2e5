"""Tests for the compute-optimal solver and the allocations built on it: Chinchilla's closed form
(Hoffmann et al. 2022, Eq. 4), a scipy search, published allocations and bootstrap intervals."""
import numpy as np
import pytest
from scipy import optimize

from analysis.approaches import optimal
from analysis.laws import catalogue
from analysis.laws import forms
from analysis.laws import powerlaw
from analysis.laws import published

PARAMS = dict(E=1.8172, A=477.8, B=2143.0, alpha=0.3473, beta=0.3672)
FLOPS = np.geomspace(1e15, 1e27, 13)


def _closed_form(params, flops):
  """Hoffmann et al. 2022, Eq. 4 under C = 6ND: N_opt = G (C/6)^a, D_opt = G^-1 (C/6)^b."""
  alpha, beta = np.asarray(params["alpha"]), np.asarray(params["beta"])
  scale = (alpha * np.asarray(params["A"]) / (beta * np.asarray(params["B"]))) ** (
      1 / (alpha + beta))
  compute = np.asarray(flops) / 6
  return scale * compute ** (beta / (alpha + beta)), compute ** (alpha / (alpha + beta)) / scale


def _chinchilla(params, n, d):
  return params["E"] + params["A"] / n ** params["alpha"] + params["B"] / d ** params["beta"]


@pytest.mark.parametrize("params", [PARAMS, dict(PARAMS, E=0.0),
                                    published.LAWS["hoffmann2022_approach3_rounded"].params,
                                    published.LAWS["besiroglu2024"].params])
def test_the_solver_is_the_chinchilla_closed_form(params):
  n_opt, d_opt, loss = optimal.optimal_point(catalogue.CHINCHILLA, params, FLOPS)
  n_closed, d_closed = _closed_form(params, FLOPS)
  np.testing.assert_allclose(n_opt, n_closed, rtol=1e-12)
  np.testing.assert_allclose(d_opt, d_closed, rtol=1e-12)
  np.testing.assert_allclose(6 * n_opt * d_opt, FLOPS, rtol=1e-14)
  np.testing.assert_allclose(loss, _chinchilla(params, n_closed, d_closed), rtol=1e-14)


def test_the_solver_takes_a_batch_of_bootstrap_rows_each_at_its_own_optimum():
  rng = np.random.default_rng(0)
  samples = {name: value * np.exp(rng.normal(0, 0.05, 64)) for name, value in PARAMS.items()}
  n_opt, d_opt, _ = optimal.optimal_raw(catalogue.CHINCHILLA,
                                        catalogue.CHINCHILLA.raw_samples(samples), FLOPS)
  assert n_opt.shape == d_opt.shape == (64, FLOPS.size)
  n_closed, d_closed = _closed_form({k: v[:, None] for k, v in samples.items()}, FLOPS[None])
  np.testing.assert_allclose(n_opt, n_closed, rtol=1e-12)
  np.testing.assert_allclose(d_opt, d_closed, rtol=1e-12)


def test_derived_and_over_training_forms_match_the_equal_exponent_closed_form():
  """L(C, M) = E + (a M^eta + b M^-eta) C^-eta is Chinchilla with alpha = beta = 2 eta."""
  equal = dict(PARAMS, alpha=0.3, beta=0.3)
  eta = equal["alpha"] / 2
  over = dict(E=equal["E"], a=equal["A"] * 6**eta, b=equal["B"] * 6**eta, eta=eta)
  n_closed, d_closed = _closed_form(equal, FLOPS)
  for form, params in ((catalogue.OVERTRAINING, over),
                       (forms.tie(catalogue.CHINCHILLA, "beta", "alpha"), equal)):
    n_opt, d_opt, loss = optimal.optimal_point(form, params, FLOPS)
    np.testing.assert_allclose(n_opt, n_closed, rtol=1e-12, err_msg=form.name)
    np.testing.assert_allclose(d_opt, d_closed, rtol=1e-12, err_msg=form.name)
    np.testing.assert_allclose(loss, _chinchilla(equal, n_closed, d_closed), rtol=1e-13)


def test_the_solver_matches_a_scipy_search_for_kaplans_law():
  law = dict(N_c=6.4e13, D_c=1.8e13, alpha_N=0.076, alpha_D=0.103)

  def loss(log_n, flops):
    n = np.exp(log_n)
    return ((law["N_c"] / n) ** (law["alpha_N"] / law["alpha_D"])
            + law["D_c"] * 6 * n / flops) ** law["alpha_D"]

  flops = np.array([1e18, 1e21, 1e24])
  n_opt, _, loss_opt = optimal.optimal_point(catalogue.KAPLAN_ND, law, flops)
  for i, budget in enumerate(flops):
    result = optimize.minimize_scalar(loss, bounds=(np.log(1e3), np.log(1e16)), args=(budget,),
                                      method="bounded", options=dict(xatol=1e-12))
    assert n_opt[i] == pytest.approx(np.exp(result.x), rel=1e-5)
    assert loss_opt[i] == pytest.approx(result.fun, rel=1e-12)


def test_an_optimum_beyond_the_range_is_reported_at_its_end():
  params = dict(PARAMS, alpha=0.34, beta=0.01)
  n_opt, d_opt, _ = optimal.optimal_point(catalogue.CHINCHILLA, params, np.array([1e20]))
  assert d_opt[0] / n_opt[0] == pytest.approx(optimal.TOKENS_PER_PARAMETER_RANGE[1], rel=1e-12)
  assert _closed_form(params, 1e20)[1] / _closed_form(params, 1e20)[0] > 1e12


def test_compute_forms_have_no_allocation_and_others_are_refused():
  form = catalogue.single_variable("c")
  params = dict(E=1.7, A=3e3, alpha=0.15)
  flops = np.array([1e20, 1e22])
  n_opt, d_opt, loss = optimal.optimal_point(form, params, flops)
  assert np.isnan(n_opt).all() and np.isnan(d_opt).all()
  np.testing.assert_allclose(loss, form.predict(params, c=flops), rtol=1e-12)
  with pytest.raises(ValueError, match="compute-optimal"):
    optimal.optimal_point(catalogue.single_variable("n"), params, flops)
  with pytest.raises(ValueError, match="flops"):
    optimal.optimal_point(catalogue.CHINCHILLA, PARAMS, np.array([0.0]))


def test_hoffmann_allocation_at_gopher_budget():
  law = published.LAWS["hoffmann2022_approach3_rounded"]
  allocation = optimal.from_published(law, np.array([5.76e23]))
  # Approach 3 favours smaller models than Chinchilla's 70B at Gopher's budget.
  assert 2e10 < allocation.n_opt[0] < 5e10
  assert allocation.tokens_per_parameter[0] == pytest.approx(
      allocation.d_opt[0] / allocation.n_opt[0])


def test_exponent_only_laws_give_no_allocation_and_kaplan_uses_pf_days():
  assert optimal.from_published(published.LAWS["hoffmann2022_approach2"], np.ones(1)) is None
  kaplan = optimal.from_published(published.LAWS["kaplan2020_compute"],
                                  np.array([published.PETAFLOP_DAY]))
  assert kaplan.n_opt[0] == pytest.approx(1.3e9)


def test_bootstrap_intervals_are_percentiles_of_each_samples_optimum():
  rng = np.random.default_rng(0)
  samples = {k: v * np.exp(rng.normal(0, 0.02, 400)) for k, v in PARAMS.items()}
  samples["alpha"][7] = np.nan  # a resample without an optimum is left out
  flops = np.array([1e20, 1e22])
  allocation = optimal.from_chinchilla(PARAMS, flops, source="test", convention="N total",
                                       samples=samples, level=0.9)
  keep = np.isfinite(samples["alpha"])
  n_closed, d_closed = _closed_form({k: v[keep, None] for k, v in samples.items()}, flops[None])
  for interval, closed in ((allocation.n_interval, n_closed), (allocation.d_interval, d_closed),
                           (allocation.ratio_interval, d_closed / n_closed)):
    np.testing.assert_allclose(interval, np.quantile(closed, [0.05, 0.95], axis=0), rtol=1e-10)
  assert np.all(allocation.n_interval[0] < allocation.n_opt)
  assert np.all(allocation.n_opt < allocation.n_interval[1])
  rows = allocation.rows()
  assert len(rows) == 2 and rows[1]["flops"] == 1e22 and rows[0]["level"] == 0.9
  assert rows[0]["tokens_per_parameter_low"] < rows[0]["tokens_per_parameter"]
  assert rows[0]["tokens_per_parameter"] < rows[0]["tokens_per_parameter_high"]


def test_power_law_allocation_and_interval():
  n_law = powerlaw.PowerLaw(0.1, 0.5, 5)
  d_law = powerlaw.PowerLaw(1 / 0.6, 0.5, 5)
  samples = dict(a=np.array([0.49, 0.5, 0.51]), b=np.array([0.51, 0.5, 0.49]),
                 n_coefficient=np.full(3, 0.1), d_coefficient=np.full(3, 1 / 0.6))
  allocation = optimal.from_power_laws(n_law, d_law, np.array([1e20]), source="approach 2",
                                       convention="N total, C 6nd", samples=samples, level=1.0)
  assert allocation.n_opt[0] == pytest.approx(0.1 * 1e10)
  np.testing.assert_allclose(allocation.n_interval[:, 0], [0.1 * 1e20 ** 0.49,
                                                           0.1 * 1e20 ** 0.51])
