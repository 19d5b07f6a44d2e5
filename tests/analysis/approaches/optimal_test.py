"""Tests for compute-optimal allocation."""
import numpy as np
import pytest
from scipy import optimize

from analysis.approaches import optimal
from analysis.laws import powerlaw
from analysis.laws import published
PARAMS = dict(E=1.8172, A=477.8, B=2143.0, alpha=0.3473, beta=0.3672)


def _law(n, d, params=PARAMS):
  return params["E"] + params["A"] / n ** params["alpha"] + params["B"] / d ** params["beta"]


@pytest.mark.parametrize("flops", [1e18, 5.76e23, 1e26])
def test_closed_form_matches_brute_force_minimisation(flops):
  result = optimize.minimize_scalar(lambda log_n: _law(np.exp(log_n), flops / (6 * np.exp(log_n))),
                                    bounds=(np.log(1e5), np.log(1e14)), method="bounded",
                                    options=dict(xatol=1e-10))
  n_opt, d_opt = optimal.chinchilla_allocation(PARAMS, np.array([flops]))
  assert n_opt[0] == pytest.approx(np.exp(result.x), rel=1e-4)
  assert 6 * n_opt[0] * d_opt[0] == pytest.approx(flops, rel=1e-12)


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


def test_bootstrap_intervals_bracket_the_point_estimate():
  rng = np.random.default_rng(0)
  samples = {k: v * np.exp(rng.normal(0, 0.02, 400)) for k, v in PARAMS.items()}
  flops = np.array([1e20, 1e22])
  allocation = optimal.from_chinchilla(PARAMS, flops, source="test", convention="N total",
                                       samples=samples, level=0.9)
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
