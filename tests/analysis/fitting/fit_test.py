"""Tests for analysis.fitting.fit: agreement with an independent scipy fit, published reproduction,
synthetic recovery and failure modes."""
import json

import jax.numpy as jnp
import numpy as np
import pytest
import scipy.optimize

from analysis.fitting import fit
from benchmarks import scipy_chinchilla
from analysis.laws import catalogue
from analysis.laws import forms
from analysis.fitting import objectives

# Besiroglu et al. 2024 ("replicate exactly": Huber, L-BFGS-B over Hoffmann's grid) on the 240
# points of chinchilla_epoch/svg_extracted_data.csv; objective from an independent numpy fit.
EPOCH_OPTIMUM = dict(E=1.8172, A=477.8, B=2143.0, alpha=0.3473, beta=0.3672)
EPOCH_OBJECTIVE = 0.0010182740
TOLERANCE = dict(E=0.005, A=0.03, B=0.03, alpha=0.005, beta=0.005)


def synthetic_chinchilla(noise=0.01, seed=0, law=None):
  """8 sizes x 6 token counts from a known Chinchilla law, log-normal noise of `noise`."""
  law = law or dict(E=1.69, A=406.4, B=410.7, alpha=0.34, beta=0.28)
  n, tokens_per_param = np.meshgrid(np.geomspace(1e7, 3e9, 8), np.geomspace(2, 200, 6))
  n, d = n.ravel(), (n * tokens_per_param).ravel()
  rng = np.random.default_rng(seed)
  loss = catalogue.CHINCHILLA.predict(law, n=n, d=d) * np.exp(noise * rng.standard_normal(n.size))
  return law, n, d, loss


def assert_params_close(actual, expected, tolerance):
  for name, rtol in tolerance.items():
    assert actual[name] == pytest.approx(expected[name], rel=rtol), name


def test_matches_scipy_on_synthetic_data():
  _, n, d, loss = synthetic_chinchilla()
  result = fit.fit(catalogue.CHINCHILLA, dict(n=n, d=d), loss)
  starts = scipy_chinchilla.hoffmann_grid()[::100]
  reference, reference_objectives = scipy_chinchilla.fit(n, d, loss, starts)
  reference_objective = reference_objectives.min()
  assert result.converged and not result.warnings
  assert result.objective <= reference_objective * (1 + 1e-6)
  assert_params_close(result.params, reference, dict.fromkeys(reference, 1e-3))


def test_matches_scipy_and_epoch_on_chinchilla(epoch_chinchilla):
  n, d, loss = (epoch_chinchilla[k] for k in ("n", "d", "loss"))
  result = fit.fit(catalogue.CHINCHILLA, dict(n=n, d=d), loss)
  starts = scipy_chinchilla.hoffmann_grid()[::100]
  reference, reference_objectives = scipy_chinchilla.fit(n, d, loss, starts)
  reference_objective = reference_objectives.min()
  assert result.converged
  assert result.n_starts == 4500
  assert result.objective == pytest.approx(EPOCH_OBJECTIVE, abs=1e-10)
  assert result.objective <= reference_objective + 1e-12
  assert_params_close(result.params, EPOCH_OPTIMUM, TOLERANCE)
  assert_params_close(result.params, reference, dict.fromkeys(reference, 1e-3))
  summary = json.loads(json.dumps(result.to_json()))
  assert summary["params"].keys() == EPOCH_OPTIMUM.keys()
  assert summary["form"] == "chinchilla" and summary["converged"]


def test_recovers_law_with_known_entropy():
  # The irreducible loss of a source whose next token is uniform over 6 of 64 symbols.
  entropy = np.log(6.0)
  law = dict(E=entropy, A=800.0, B=1500.0, alpha=0.4, beta=0.35)
  _, n, d, loss = synthetic_chinchilla(noise=0.002, seed=1, law=law)
  result = fit.fit(catalogue.CHINCHILLA, dict(n=n, d=d), loss)
  assert result.converged
  assert result.params["E"] == pytest.approx(entropy, rel=0.01)
  assert_params_close(result.params, law, dict(A=0.25, B=0.25, alpha=0.03, beta=0.03))
  assert jnp.ones(1).dtype == jnp.float32  # the fit did not switch on float64 globally


@pytest.mark.parametrize("x, values", [
    ("n", np.geomspace(1e7, 1e10, 30)),
    ("d", np.geomspace(1e8, 1e12, 30)),
    ("c", np.geomspace(1e17, 1e23, 30)),
])
def test_recovers_single_variable_law(x, values):
  law = dict(E=1.8, A=2e4 if x == "c" else 400.0, alpha=0.2 if x == "c" else 0.3)
  form = catalogue.single_variable(x)
  rng = np.random.default_rng(2)
  loss = form.predict(law, **{x: values}) * np.exp(0.003 * rng.standard_normal(values.size))
  result = fit.fit(form, {x: values}, loss)
  assert result.converged
  assert_params_close(result.params, law, dict(E=0.02, A=0.5, alpha=0.05))


def test_recovers_kaplan_nd():
  law = dict(N_c=6.4e13, D_c=1.8e13, alpha_N=0.076, alpha_D=0.103)
  _, n, d, _ = synthetic_chinchilla()
  loss = catalogue.KAPLAN_ND.predict(law, n=n, d=d)
  result = fit.fit(catalogue.KAPLAN_ND, dict(n=n, d=d), loss)
  assert result.converged
  assert_params_close(result.params, law, dict(N_c=1e-3, D_c=1e-3, alpha_N=1e-4, alpha_D=1e-4))


def test_too_few_points_is_flagged():
  _, n, d, loss = synthetic_chinchilla()
  result = fit.fit(catalogue.CHINCHILLA, dict(n=n[:5], d=d[:5]), loss[:5])
  assert not result.converged
  assert any("too few points (5)" in w for w in result.warnings)


@pytest.mark.parametrize("bad, message", [
    (np.nan, "non-finite"), (np.inf, "non-finite"), (0.0, "non-positive"),
    (-1.0, "non-positive")])
def test_bad_loss_raises(bad, message):
  _, n, d, loss = synthetic_chinchilla()
  loss[3] = bad
  with pytest.raises(ValueError, match=message):
    fit.fit(catalogue.CHINCHILLA, dict(n=n, d=d), loss)


def test_bad_arguments_raise():
  _, n, d, loss = synthetic_chinchilla()
  with pytest.raises(ValueError, match="loss has 47 values"):
    fit.fit(catalogue.CHINCHILLA, dict(n=n, d=d), loss[1:])
  with pytest.raises(ValueError, match="init_grid must have shape"):
    fit.fit(catalogue.CHINCHILLA, dict(n=n, d=d), loss, init_grid=np.zeros((3, 4)))
  with pytest.raises(ValueError, match="must be an objectives.Objective"):
    fit.fit(catalogue.CHINCHILLA, dict(n=n, d=d), loss, objective="huber")
  with pytest.raises(ValueError, match="missing \\['d'\\]"):
    fit.fit(catalogue.CHINCHILLA, dict(n=n), loss)


def test_bound_on_e_is_honoured_and_reported():
  law, n, d, loss = synthetic_chinchilla()
  free = fit.fit(catalogue.CHINCHILLA, dict(n=n, d=d), loss)
  assert free.params["E"] > 1.65 and free.diagnostics["at_bound"] == []
  bounded = fit.fit(catalogue.CHINCHILLA, dict(n=n, d=d), loss, bounds=dict(E=(0.0, 1.6)))
  assert bounded.converged and bounded.params["E"] == pytest.approx(1.6, rel=1e-12)
  assert bounded.diagnostics["at_bound"] == ["E"]
  assert bounded.objective > free.objective
  # The projected gradient is zero on E (it pushes up, out of the box) and small elsewhere.
  assert bounded.diagnostics["gradient"]["log_E"] == 0.0
  # No feasible point nearby does better: E at the bound is a constrained minimum.
  best_raw = catalogue.CHINCHILLA.to_raw(bounded.params)
  for delta in (np.array([0, 1e-3, 0, 0, 0]), np.array([0, 0, -1e-3, 0, 0]),
                np.array([-1e-3, 0, 0, 0, 0])):
    moved = catalogue.CHINCHILLA.from_raw(best_raw + delta)
    residual = np.log(catalogue.CHINCHILLA.predict(moved, n=n, d=d)) - np.log(loss)
    assert np.sum(objectives.Objective().loss(residual)) > bounded.objective
  box = [(None, None)] * 2 + [(None, np.log(1.6))] + [(None, None)] * 2
  starts = np.clip(scipy_chinchilla.hoffmann_grid()[::100], -np.inf,
                   [np.inf, np.inf, np.log(1.6), np.inf, np.inf])
  reference, reference_objectives = scipy_chinchilla.fit(n, d, loss, starts, box=box)
  reference_objective = reference_objectives.min()
  assert bounded.objective <= reference_objective * (1 + 1e-6)
  assert_params_close(bounded.params, reference, dict.fromkeys(reference, 1e-3))
  summary = json.loads(json.dumps(bounded.to_json()))
  assert summary["bounds"] == dict(E=[0.0, 1.6]) and summary["criterion"]["kind"] == "huber"
  assert bounded.survivors.shape == (8, 5)
  np.testing.assert_allclose(bounded.survivors[0], best_raw, rtol=1e-12)


def test_floor_fit_sits_below_more_points_than_huber():
  form = catalogue.single_variable("n")
  n = np.geomspace(1e7, 1e10, 40)
  rng = np.random.default_rng(3)
  loss = form.predict(dict(E=1.8, A=400.0, alpha=0.3), n=n) * np.exp(
      0.01 * rng.standard_normal(n.size))
  huber = fit.fit(form, dict(n=n), loss)
  floor = fit.fit(form, dict(n=n), loss, objective=objectives.Objective("floor"))
  assert floor.converged and floor.criterion.kind == "floor"
  below_huber = np.sum(huber.predict(n=n) < loss)
  below_floor = np.sum(floor.predict(n=n) < loss)
  assert below_huber < 25 and below_floor >= 32, (below_huber, below_floor)


def test_squared_error_fit_matches_scipy_least_squares():
  law, n, d, loss = synthetic_chinchilla()
  result = fit.fit(catalogue.CHINCHILLA, dict(n=n, d=d), loss, objective=objectives.Objective(
      "squared"))
  form = catalogue.CHINCHILLA

  def log_residuals(raw):
    return np.log(form.predict(form.from_raw(raw), n=n, d=d)) - np.log(loss)

  reference = scipy.optimize.least_squares(log_residuals, form.to_raw(law), xtol=1e-14,
                                           ftol=1e-14, gtol=1e-14)
  assert result.converged
  assert result.objective == pytest.approx(reference.cost, rel=1e-9)
  assert_params_close(result.params, form.from_raw(reference.x), dict.fromkeys(law, 1e-5))


def test_fixed_entropy_recovers_the_other_parameters():
  law = dict(E=1.69, A=800.0, B=1500.0, alpha=0.4, beta=0.35)
  _, n, d, loss = synthetic_chinchilla(noise=0.002, seed=1, law=law)
  form = forms.fix(catalogue.CHINCHILLA, E=1.69)
  result = fit.fit(form, dict(n=n, d=d), loss)
  assert result.converged and result.n_starts == 900
  assert result.params["E"] == 1.69 and list(result.params) == list(law)
  assert_params_close(result.params, law, dict(A=0.05, B=0.05, alpha=0.01, beta=0.01))
  assert result.to_json()["form"] == "chinchilla[E=1.69]"


def test_tied_exponents_equal_the_overtraining_fit():
  law = dict(E=1.69, A=406.4, B=410.7, alpha=0.3, beta=0.3)
  _, n, d, loss = synthetic_chinchilla(noise=0.005, seed=2, law=law)
  tied = fit.fit(forms.tie(catalogue.CHINCHILLA, "beta", "alpha"), dict(n=n, d=d), loss)
  overtraining = fit.fit(catalogue.OVERTRAINING, forms.inputs_for(
      catalogue.OVERTRAINING, n=n, d=d, c=6 * n * d), loss)
  assert tied.converged and overtraining.converged
  assert tied.params["beta"] == tied.params["alpha"]
  assert tied.objective == pytest.approx(overtraining.objective, rel=1e-6)
  eta = overtraining.params["eta"]
  mapped = dict(E=overtraining.params["E"], A=overtraining.params["a"] / 6**eta,
                B=overtraining.params["b"] / 6**eta, alpha=2 * eta, beta=2 * eta)
  assert_params_close(tied.params, mapped, dict.fromkeys(mapped, 1e-5))


def test_overtraining_start_grid_recovers_synthetic_laws():
  c, m = np.meshgrid(np.geomspace(1e17, 1e21, 5), np.geomspace(0.25, 32, 8))
  inputs = dict(c=c.ravel(), m=m.ravel())
  rng = np.random.default_rng(0)
  for _ in range(12):
    # Exponent, b / a and the reducible loss at C = 1e19, M = 1 (0.3-3 nats) drawn at random.
    eta, ratio = rng.uniform(0.1, 0.4), np.exp(rng.uniform(-2.3, 2.3))
    total = np.exp(rng.uniform(np.log(0.3), np.log(3.0))) * 1e19**eta
    law = dict(E=rng.uniform(1.0, 3.0), a=total / (1 + ratio), b=total * ratio / (1 + ratio),
               eta=eta)
    loss = catalogue.OVERTRAINING.predict(law, **inputs)
    result = fit.fit(catalogue.OVERTRAINING, inputs, loss)
    assert result.converged
    assert_params_close(result.params, law, dict.fromkeys(law, 1e-4))
  law = dict(E=1.69, a=700.0, b=350.0, eta=0.17)
  noisy = catalogue.OVERTRAINING.predict(law, **inputs) * np.exp(
      5e-4 * rng.standard_normal(c.size))
  result = fit.fit(catalogue.OVERTRAINING, inputs, noisy)
  assert_params_close(result.params, law, dict(E=0.01, a=0.02, b=0.02, eta=0.01))


def test_bad_bounds_and_objective_raise_one_line():
  _, n, d, loss = synthetic_chinchilla()
  for kwargs, message in [
      (dict(bounds=dict(gamma=(0, 1))), "'gamma' is not a parameter of chinchilla"),
      (dict(bounds=dict(E=(2.0, 1.0))), "needs low < high"),
      (dict(objective=objectives.Objective), "must be an objectives.Objective")]:
    with pytest.raises(ValueError, match=message) as error:
      fit.fit(catalogue.CHINCHILLA, dict(n=n, d=d), loss, **kwargs)
    assert "\n" not in str(error.value)
