"""Tests for analysis.fitting.projection: the same optimum as the 5-D multi-start search, recovery
of a known law, the profile's conditioning, and forms it refuses."""
import dataclasses

import numpy as np
import pytest

from analysis.fitting import objectives
from analysis.fitting import options as fit_options
from analysis.fitting import projection
from analysis.laws import catalogue

LAW = dict(E=1.69, A=406.4, B=410.7, alpha=0.34, beta=0.28)


def _synthetic(noise=0.0, seed=0):
  """8 sizes x 6 token counts from LAW (nats/token), log-normal noise of `noise`."""
  n, tokens_per_param = np.meshgrid(np.geomspace(1e7, 3e9, 8), np.geomspace(2, 200, 6))
  n, d = n.ravel(), (n * tokens_per_param).ravel()
  rng = np.random.default_rng(seed)
  loss = catalogue.CHINCHILLA.predict(LAW, n=n, d=d) * np.exp(noise * rng.standard_normal(n.size))
  return n, d, loss


def _fit_both(inputs, loss, options=fit_options.FitOptions()):
  weights = np.ones(loss.size)
  return [fit_options.fit(dataclasses.replace(options, search=search),
                          inputs, loss, weights) for search in ("multistart", "projection")]


def test_same_optimum_as_the_5d_search_on_chinchilla(epoch_chinchilla):
  inputs = dict(n=epoch_chinchilla["n"], d=epoch_chinchilla["d"])
  multi, projected = _fit_both(inputs, epoch_chinchilla["loss"])
  assert multi.converged and projected.converged
  assert projected.objective == pytest.approx(multi.objective, rel=1e-9)
  for name, value in multi.params.items():
    assert projected.params[name] == pytest.approx(value, rel=1e-6), name
  assert projected.diagnostics["projection"]["grid_points"] == 20 * 20


def test_profile_is_far_better_conditioned_on_chinchilla(epoch_chinchilla):
  inputs = dict(n=epoch_chinchilla["n"], d=epoch_chinchilla["d"])
  loss = epoch_chinchilla["loss"]
  result = fit_options.fit(fit_options.FitOptions(search="projection"), inputs, loss,
                           np.ones(loss.size))
  condition = projection.conditioning(result, inputs, loss)
  assert condition["profile"] < 100
  assert condition["raw"] > 1e5 * condition["profile"]
  assert condition["natural"] > 1e10 * condition["profile"]


def test_recovers_a_known_law():
  n, d, loss = _synthetic()
  result = projection.fit(catalogue.CHINCHILLA, dict(n=n, d=d), loss,
                          bounds=objectives.default_bounds(catalogue.CHINCHILLA, loss))
  assert result.converged and result.objective < 1e-20
  for name, value in LAW.items():
    assert result.params[name] == pytest.approx(value, rel=1e-6), name


@pytest.mark.parametrize("law", ["chinchilla[beta=alpha]", "chinchilla[E=1.69]"])
def test_tied_and_fixed_forms_match_the_5d_search(law):
  n, d, loss = _synthetic(noise=0.01, seed=1)
  multi, projected = _fit_both(dict(n=n, d=d), loss, fit_options.FitOptions(law=law))
  assert projected.converged
  assert projected.objective <= multi.objective * (1 + 1e-9)
  for name, value in multi.params.items():
    assert projected.params[name] == pytest.approx(value, rel=1e-5), name


def test_profile_of_the_optimum_is_the_optimum():
  n, d, loss = _synthetic(noise=0.01, seed=2)
  result = projection.fit(catalogue.CHINCHILLA, dict(n=n, d=d), loss)
  exponents = np.array([[result.params["alpha"], result.params["beta"]],
                        [result.params["alpha"] + 0.05, result.params["beta"]]])
  values, raw = projection.profile(catalogue.CHINCHILLA, exponents, dict(n=n, d=d), loss,
                                   np.ones(loss.size), objective=result.criterion,
                                   inner_iterations=50)
  assert values[0] == pytest.approx(result.objective, rel=1e-6)
  assert values[1] > result.objective
  np.testing.assert_allclose(catalogue.CHINCHILLA.from_raw(raw[0])["E"], result.params["E"],
                             rtol=1e-4)


@pytest.mark.parametrize("law", ["kaplan_nd", "kaplan_n", "chinchilla[alpha=0.3,beta=0.3]"])
def test_a_form_without_the_structure_is_refused(law):
  n, d, loss = _synthetic()
  form = catalogue.get(law)
  inputs = {name: value for name, value in dict(n=n, d=d).items() if name in form.inputs}
  with pytest.raises(ValueError, match=r"^FitOptions.search='projection' needs a sum of power "
                     r"laws linear in its coefficients.*use search='multistart'$"):
    fit_options.fit(fit_options.FitOptions(law=law, search="projection"), inputs, loss,
                    np.ones(loss.size))


def test_an_unknown_search_is_refused():
  with pytest.raises(ValueError, match=r"FitOptions.search='grid' must be one of"):
    fit_options.FitOptions(search="grid")
  assert fit_options.FitOptions().search == "multistart"
  assert fit_options.FitOptions(search="projection").to_json()["search"] == "projection"

