"""Tests for analysis.fit: agreement with an independent scipy fit, published reproduction,
synthetic recovery and failure modes."""
import csv
import itertools
import json

import jax.numpy as jnp
import numpy as np
import pytest
import scipy.optimize
import scipy.special

from analysis import fit
from analysis import forms

# Besiroglu et al. 2024 ("replicate exactly": Huber, L-BFGS-B over Hoffmann's grid) on the 240
# points of chinchilla_epoch/svg_extracted_data.csv; objective from an independent numpy fit.
EPOCH_OPTIMUM = dict(E=1.8172, A=477.8, B=2143.0, alpha=0.3473, beta=0.3672)
EPOCH_OBJECTIVE = 0.0010182740
TOLERANCE = dict(E=0.005, A=0.03, B=0.03, alpha=0.005, beta=0.005)


def load_chinchilla(shared_data):
  """Epoch's 240 points: N (parameters), D = C / 6N (tokens), loss (nats/token)."""
  with open(shared_data / "chinchilla_epoch" / "svg_extracted_data.csv") as f:
    rows = list(csv.DictReader(f))
  n = np.array([float(r["Model Size"]) for r in rows])
  c = np.array([float(r["Training FLOP"]) for r in rows])
  loss = np.array([float(r["loss"]) for r in rows])
  keep = loss < np.sort(loss)[-5]
  return n[keep], c[keep] / (6 * n[keep]), loss[keep]


def scipy_chinchilla_fit(n, d, loss, starts, delta=1e-3):
  """Independent fit: numpy objective and analytic gradient, scipy L-BFGS-B per start.

  Coordinates (a, b, e, alpha, beta) with A = exp(a), B = exp(b), E = exp(e).
  """
  log_n, log_d, log_loss = np.log(n), np.log(d), np.log(loss)

  def objective_and_gradient(x):
    a, b, e, alpha, beta = x
    terms = np.stack([a - alpha * log_n, b - beta * log_d, np.full_like(log_n, e)])
    log_prediction = scipy.special.logsumexp(terms, axis=0)
    residual = log_prediction - log_loss
    share = np.exp(terms - log_prediction)
    value = np.where(np.abs(residual) <= delta, 0.5 * residual**2,
                     delta * (np.abs(residual) - 0.5 * delta)).sum()
    slope = np.clip(residual, -delta, delta)
    gradient = np.array([slope @ share[0], slope @ share[1], slope @ share[2],
                         -(slope * share[0]) @ log_n, -(slope * share[1]) @ log_d])
    return value, gradient

  results = [scipy.optimize.minimize(objective_and_gradient, np.asarray(x0, float), jac=True,
                                     method="L-BFGS-B") for x0 in starts]
  best = min(results, key=lambda r: r.fun)
  a, b, e, alpha, beta = best.x
  return dict(E=np.exp(e), A=np.exp(a), B=np.exp(b), alpha=alpha, beta=beta), best.fun


def epoch_order_grid():
  """Hoffmann's grid in the (a, b, e, alpha, beta) order Epoch iterates it."""
  return list(itertools.product(np.arange(0, 30, 5), np.arange(0, 30, 5),
                                np.arange(-1, 1.5, 0.5), np.arange(0, 2.5, 0.5),
                                np.arange(0, 2.5, 0.5)))


def synthetic_chinchilla(noise=0.01, seed=0, law=None):
  """8 sizes x 6 token counts from a known Chinchilla law, log-normal noise of `noise`."""
  law = law or dict(E=1.69, A=406.4, B=410.7, alpha=0.34, beta=0.28)
  n, tokens_per_param = np.meshgrid(np.geomspace(1e7, 3e9, 8), np.geomspace(2, 200, 6))
  n, d = n.ravel(), (n * tokens_per_param).ravel()
  rng = np.random.default_rng(seed)
  loss = forms.CHINCHILLA.predict(law, n=n, d=d) * np.exp(noise * rng.standard_normal(n.size))
  return law, n, d, loss


def assert_params_close(actual, expected, tolerance):
  for name, rtol in tolerance.items():
    assert actual[name] == pytest.approx(expected[name], rel=rtol), name


def test_matches_scipy_on_synthetic_data():
  _, n, d, loss = synthetic_chinchilla()
  result = fit.fit(forms.CHINCHILLA, dict(n=n, d=d), loss)
  starts = epoch_order_grid()[::100]
  reference, reference_objective = scipy_chinchilla_fit(n, d, loss, starts)
  assert result.converged and not result.warnings
  assert result.objective <= reference_objective * (1 + 1e-6)
  assert_params_close(result.params, reference, dict.fromkeys(reference, 1e-3))


def test_matches_scipy_and_epoch_on_chinchilla(shared_data):
  n, d, loss = load_chinchilla(shared_data)
  result = fit.fit(forms.CHINCHILLA, dict(n=n, d=d), loss)
  reference, reference_objective = scipy_chinchilla_fit(n, d, loss, epoch_order_grid()[::100])
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
  result = fit.fit(forms.CHINCHILLA, dict(n=n, d=d), loss)
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
  form = forms.single_variable(x)
  rng = np.random.default_rng(2)
  loss = form.predict(law, **{x: values}) * np.exp(0.003 * rng.standard_normal(values.size))
  result = fit.fit(form, {x: values}, loss)
  assert result.converged
  assert_params_close(result.params, law, dict(E=0.02, A=0.5, alpha=0.05))


def test_recovers_kaplan_nd():
  law = dict(N_c=6.4e13, D_c=1.8e13, alpha_N=0.076, alpha_D=0.103)
  _, n, d, _ = synthetic_chinchilla()
  loss = forms.KAPLAN_ND.predict(law, n=n, d=d)
  result = fit.fit(forms.KAPLAN_ND, dict(n=n, d=d), loss)
  assert result.converged
  assert_params_close(result.params, law, dict(N_c=1e-3, D_c=1e-3, alpha_N=1e-4, alpha_D=1e-4))


def test_too_few_points_is_flagged():
  _, n, d, loss = synthetic_chinchilla()
  result = fit.fit(forms.CHINCHILLA, dict(n=n[:5], d=d[:5]), loss[:5])
  assert not result.converged
  assert any("too few points (5)" in w for w in result.warnings)


@pytest.mark.parametrize("bad, message", [
    (np.nan, "non-finite"), (np.inf, "non-finite"), (0.0, "non-positive"),
    (-1.0, "non-positive")])
def test_bad_loss_raises(bad, message):
  _, n, d, loss = synthetic_chinchilla()
  loss[3] = bad
  with pytest.raises(ValueError, match=message):
    fit.fit(forms.CHINCHILLA, dict(n=n, d=d), loss)


def test_bad_arguments_raise():
  _, n, d, loss = synthetic_chinchilla()
  with pytest.raises(ValueError, match="loss has 47 values"):
    fit.fit(forms.CHINCHILLA, dict(n=n, d=d), loss[1:])
  with pytest.raises(ValueError, match="init_grid must have shape"):
    fit.fit(forms.CHINCHILLA, dict(n=n, d=d), loss, init_grid=np.zeros((3, 4)))
  with pytest.raises(ValueError, match="must be an objectives.Objective"):
    fit.fit(forms.CHINCHILLA, dict(n=n, d=d), loss, objective="huber")
  with pytest.raises(ValueError, match="missing \\['d'\\]"):
    fit.fit(forms.CHINCHILLA, dict(n=n), loss)
