"""Tests for analysis.fitting.objectives: closed forms of each loss, IRLS consistency, bounds
helpers."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from analysis.laws import catalogue
from analysis.laws import forms
from analysis.fitting import objectives


RESIDUALS = np.array([-0.05, -2e-3, -5e-4, 0.0, 3e-4, 1e-3, 4e-3, 0.2])


def numpy_huber(r, delta):
  return np.where(np.abs(r) <= delta, 0.5 * r**2, delta * (np.abs(r) - 0.5 * delta))


@pytest.mark.parametrize("objective, expected", [
    (objectives.Objective(), numpy_huber(RESIDUALS, 1e-3)),
    (objectives.Objective("huber", delta=0.01), numpy_huber(RESIDUALS, 0.01)),
    (objectives.Objective("floor", over_weight=4.0),
     numpy_huber(RESIDUALS, 1e-3) * np.where(RESIDUALS > 0, 4.0, 1.0)),
    (objectives.Objective("squared"), 0.5 * RESIDUALS**2),
])
def test_loss_matches_closed_form(objective, expected):
  np.testing.assert_allclose(objective.loss(jnp.asarray(RESIDUALS, jnp.float32)), expected,
                             rtol=1e-6, atol=1e-12)


@pytest.mark.parametrize("objective", [
    objectives.Objective(), objectives.Objective("floor", delta=0.01, over_weight=7.0),
    objectives.Objective("squared")])
def test_influence_is_derivative_and_curvature_is_irls_weight(objective):
  residual = RESIDUALS[RESIDUALS != 0]
  with jax.enable_x64(True):
    derivative = jax.vmap(jax.grad(objective.loss))(jnp.asarray(residual, jnp.float64))
    influence = objective.influence(jnp.asarray(residual, jnp.float64))
    curvature = objective.curvature(jnp.asarray(residual, jnp.float64))
  np.testing.assert_allclose(influence, derivative, rtol=1e-12)
  np.testing.assert_allclose(curvature, np.asarray(influence) / residual, rtol=1e-12)


def test_curvature_values():
  floor = objectives.Objective("floor", delta=1e-3, over_weight=10.0)
  np.testing.assert_allclose(floor.curvature(jnp.array([-4e-3, 5e-4, 4e-3])), [0.25, 10.0, 2.5],
                             rtol=1e-6)
  np.testing.assert_array_equal(objectives.Objective("squared").curvature(jnp.array([0.5, -9.0])),
                                [1.0, 1.0])


def test_objective_is_hashable_and_serialises():
  assert objectives.Objective() == objectives.Objective("huber", 1e-3, 10.0)
  assert hash(objectives.Objective("floor")) == hash(objectives.Objective("floor", 1e-3))
  assert objectives.Objective("huber", delta=1) == objectives.Objective("huber", delta=1.0)
  summary = objectives.Objective("floor", over_weight=5).to_json()
  assert summary["kind"] == "floor" and summary["over_weight"] == 5.0
  assert summary["description"] == ("floor loss: Huber loss (delta 0.001) on log-loss residuals, "
                                    "over-predictions weighted 5x")
  assert "squared error" in objectives.Objective("squared").describe()


@pytest.mark.parametrize("kwargs, message", [
    (dict(kind="l1"), "kind='l1' must be one of"),
    (dict(delta=0.0), "delta=0.0 must be"),
    (dict(delta=float("nan")), "delta=nan must be"),
    (dict(kind="floor", over_weight=-1.0), "over_weight=-1.0 must be"),
])
def test_bad_objective_raises(kwargs, message):
  with pytest.raises(ValueError, match=message):
    objectives.Objective(**kwargs)


def test_default_bounds():
  loss = np.array([2.3, 1.95, 3.1])
  bounds = objectives.default_bounds(catalogue.CHINCHILLA, loss)
  assert bounds == dict(E=(0.0, 1.95), alpha=(0.0, 3.0), beta=(0.0, 3.0))
  tied = objectives.default_bounds(catalogue.get("chinchilla[beta=alpha]"), loss, (0.05, 1.0))
  assert tied == dict(E=(0.0, 1.95), alpha=(0.05, 1.0))
  assert objectives.default_bounds(catalogue.KAPLAN_ND, loss) == dict(alpha_N=(0.0, 3.0),
                                                                  alpha_D=(0.0, 3.0))
  assert objectives.default_bounds(catalogue.OVERTRAINING, loss) == dict(E=(0.0, 1.95),
                                                                     eta=(0.0, 3.0))
  with pytest.raises(ValueError, match="exponent_range"):
    objectives.default_bounds(catalogue.CHINCHILLA, loss, (1.0, 1.0))


def test_raw_bounds_are_log_for_coefficients():
  lower, upper = objectives.raw_bounds(catalogue.CHINCHILLA, dict(E=(0.0, 2.0), beta=(0.1, 1.0)))
  np.testing.assert_array_equal(lower, [-np.inf, -np.inf, -np.inf, -np.inf, 0.1])
  np.testing.assert_allclose(upper, [np.log(2.0), np.inf, np.inf, np.inf, 1.0])


@pytest.mark.parametrize("form, bounds, message", [
    (catalogue.CHINCHILLA, dict(F=(0, 1)), "'F' is not a parameter of chinchilla"),
    (forms.fix(catalogue.CHINCHILLA, E=1.69), dict(E=(0, 1)), "'E' is fixed or tied"),
    (catalogue.CHINCHILLA, dict(alpha=(1.0, 0.5)), "needs low < high"),
    (catalogue.CHINCHILLA, dict(A=(-1.0, 5.0)), "low=-1.0 < 0 but A is positive"),
    (catalogue.CHINCHILLA, dict(alpha=0.5), "must be a pair"),
    (catalogue.CHINCHILLA, [("alpha", (0, 1))], "must be a dict"),
])
def test_bad_bounds_raise(form, bounds, message):
  with pytest.raises(ValueError, match=message):
    objectives.check_bounds(form, bounds)
