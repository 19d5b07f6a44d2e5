"""Direct tests of analysis.fitting.multistart: the objective and the box against numpy, the
search against scipy from the same starts (free and bounded), which starts survive the pruning,
starts that cannot be evaluated, padding, batching and the compiled-search cache."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.optimize
import scipy.special

from analysis.fitting import multistart
from analysis.fitting import objectives
from analysis.laws import catalogue

FORM = catalogue.CHINCHILLA
LAW = dict(E=1.69, A=406.4, B=410.7, alpha=0.34, beta=0.28)
SQUARED = objectives.Objective("squared")
HUBER = objectives.Objective("huber", delta=1e-2)
# Eight starts; every phase runs, the polish on all of them.
SETTINGS = multistart.SearchSettings(width=8, explore_iterations=1, refine_iterations=6,
                                     survivors=8, polish_iterations=200)
OPEN = (np.full(5, -np.inf), np.full(5, np.inf))


def _data(noise=0.01, seed=0):
  """8 sizes x 6 token counts of LAW with log-normal noise: log inputs and log loss."""
  n, ratio = np.meshgrid(np.geomspace(1e7, 3e9, 8), np.geomspace(2, 200, 6))
  n, d = n.ravel(), (n * ratio).ravel()
  loss = FORM.predict(LAW, n=n, d=d) * np.exp(noise * np.random.default_rng(seed).normal(
      size=n.size))
  return dict(n=np.log(n), d=np.log(d)), np.log(loss)


def _starts(count=8, seed=1):
  """Starts around LAW in raw coordinates (log E, log A, log B, alpha, beta)."""
  rng = np.random.default_rng(seed)
  return FORM.to_raw(LAW) + rng.normal(0, [0.2, 0.5, 0.5, 0.05, 0.05], (count, 5))


def _residuals(raw, log_inputs, log_loss):
  """log(E + A / N^alpha + B / D^beta) - log loss in numpy, raw = (log E, log A, log B, alpha,
  beta)."""
  log_e, log_a, log_b, alpha, beta = raw
  terms = np.stack([np.full_like(log_loss, log_e), log_a - alpha * log_inputs["n"],
                    log_b - beta * log_inputs["d"]])
  return scipy.special.logsumexp(terms, axis=0) - log_loss


def _huber(residual, delta):
  return np.where(np.abs(residual) <= delta, 0.5 * residual**2,
                  delta * (np.abs(residual) - 0.5 * delta))


def _search(starts, log_inputs, log_loss, *, objective=SQUARED, settings=SETTINGS, box=OPEN,
            weights=None):
  """`multistart.search` compiled, on float64 arrays; returns numpy arrays."""
  weights = np.ones(log_loss.size) if weights is None else weights
  run = multistart.compiled_search(FORM, objective, settings)
  with jax.enable_x64(True):
    arrays = jax.tree.map(lambda x: jnp.asarray(x, jnp.float64),
                          (starts, log_inputs, log_loss, weights, *box))
    return jax.device_get(run(*arrays))


def _scipy_least_squares(starts, log_inputs, log_loss, box=OPEN):
  """scipy's least squares from each start; the best (cost = sum r^2 / 2, x)."""
  results = [scipy.optimize.least_squares(_residuals, x0, args=(log_inputs, log_loss),
                                          bounds=box, method="trf", xtol=1e-15, ftol=1e-15,
                                          gtol=1e-15) for x0 in starts]
  best = min(results, key=lambda result: result.cost)
  return best.cost, best.x


def test_objective_value_is_the_weighted_robust_loss_of_log_residuals():
  log_inputs, log_loss = _data()
  raw = _starts(1)[0]
  weights = np.random.default_rng(2).uniform(0, 2, log_loss.size)
  residual = _residuals(raw, log_inputs, log_loss)
  floor = objectives.Objective("floor", delta=1e-2, over_weight=4.0)
  expected = {SQUARED: 0.5 * residual**2, HUBER: _huber(residual, 1e-2),
              floor: np.where(residual > 0, 4.0, 1.0) * _huber(residual, 1e-2)}
  with jax.enable_x64(True):
    arrays = jax.tree.map(jnp.asarray, (log_inputs, log_loss, weights))
    for objective, per_point in expected.items():
      value = multistart.objective_value(FORM, jnp.asarray(raw), *arrays, objective)
      assert float(value) == pytest.approx(np.sum(weights * per_point), rel=1e-12), objective
    unusable = np.array([np.nan, 6.0, 6.0, 0.3, 0.3])
    assert multistart.objective_value(FORM, jnp.asarray(unusable), *arrays, HUBER) == np.inf


def test_padding_changes_neither_the_objective_nor_its_gradient():
  log_inputs, log_loss = _data()
  weights = np.random.default_rng(3).uniform(0.5, 1.5, (2, log_loss.size))
  padded_inputs, padded_loss, padded_weights = multistart.pad_points(log_inputs, log_loss, weights)
  assert padded_loss.size == 64 and padded_weights.shape == (2, 64)
  assert np.all(padded_weights[:, log_loss.size:] == 0)
  value_and_gradient = jax.value_and_grad(multistart.objective_value, argnums=1)
  with jax.enable_x64(True):
    raw = jnp.asarray(_starts(1)[0])
    for row in range(2):
      plain = value_and_gradient(FORM, raw, jax.tree.map(jnp.asarray, log_inputs),
                                 jnp.asarray(log_loss), jnp.asarray(weights[row]), HUBER)
      padded = value_and_gradient(FORM, raw, jax.tree.map(jnp.asarray, padded_inputs),
                                  jnp.asarray(padded_loss), jnp.asarray(padded_weights[row]),
                                  HUBER)
      np.testing.assert_allclose(padded[0], plain[0], rtol=1e-14)
      np.testing.assert_allclose(padded[1], plain[1], rtol=1e-12, atol=1e-18)


def test_project_gradient_holds_only_components_that_push_out_of_the_box():
  raw = jnp.array([0.0, 1.0, 2.0, 0.5, 3.0])
  lower = jnp.array([0.0, 0.0, -np.inf, 0.0, 0.0])
  upper = jnp.array([1.0, 1.0, np.inf, 1.0, 3.0])
  gradient = jnp.array([2.0, 2.0, 2.0, 2.0, -2.0])
  # At the lower bound a positive gradient (descent goes down) is held; at the upper bound a
  # positive one is not (descent goes back inside), a negative one is.
  np.testing.assert_array_equal(multistart.project_gradient(raw, gradient, lower, upper),
                                [0.0, 2.0, 2.0, 2.0, 0.0])


def test_search_reaches_scipys_least_squares_minimum_from_the_same_starts():
  log_inputs, log_loss = _data()
  starts = _starts()
  found = _search(starts, log_inputs, log_loss)
  best = int(np.argmin(found["objective"]))
  cost, x = _scipy_least_squares(starts, log_inputs, log_loss)
  assert found["objective"][best] == pytest.approx(cost, rel=1e-10)
  np.testing.assert_allclose(found["raw"][best], x, rtol=1e-6, atol=1e-8)
  assert found["objective"][best] == pytest.approx(
      0.5 * np.sum(_residuals(found["raw"][best], log_inputs, log_loss)**2), rel=1e-12)
  scale = multistart.GRADIENT_TOLERANCE * (cost + SQUARED.delta**2 * log_loss.size)
  assert np.max(np.abs(found["gradient"][best])) <= scale
  assert 0 < found["polish_iterations"] <= SETTINGS.polish_iterations


def test_a_bound_holds_its_parameter_and_the_minimum_is_scipys_bounded_one():
  log_inputs, log_loss = _data()
  starts = _starts()
  starts[:, 0] = np.log(1.5)  # inside the box E <= 1.6, below the law's E = 1.69
  lower, upper = objectives.raw_bounds(FORM, dict(E=(0.0, 1.6)))
  found = _search(starts, log_inputs, log_loss, box=(lower, upper))
  best = int(np.argmin(found["objective"]))
  cost, x = _scipy_least_squares(starts, log_inputs, log_loss, box=(lower, upper))
  assert found["raw"][best, 0] == np.log(1.6) == pytest.approx(x[0], rel=1e-9)
  assert found["objective"][best] == pytest.approx(cost, rel=1e-9)
  np.testing.assert_allclose(found["raw"][best, 1:], x[1:], rtol=1e-5, atol=1e-7)
  with jax.enable_x64(True):
    gradient = np.asarray(jax.grad(multistart.objective_value, argnums=1)(
        FORM, jnp.asarray(found["raw"][best]), jax.tree.map(jnp.asarray, log_inputs),
        jnp.asarray(log_loss), jnp.ones(log_loss.size), SQUARED))
  assert gradient[0] < 0  # the data pull E above the bound
  assert found["gradient"][best, 0] == 0
  np.testing.assert_allclose(found["gradient"][best, 1:], gradient[1:], rtol=1e-6, atol=1e-12)


def test_pruning_keeps_the_starts_with_the_lowest_objective():
  log_inputs, log_loss = _data()
  starts = _starts(seed=4).astype(np.float32).astype(np.float64)  # the explore phase's float32
  at_starts = [np.sum(_huber(_residuals(s, log_inputs, log_loss), HUBER.delta)) for s in starts]
  still = multistart.SearchSettings(width=8, explore_iterations=0, refine_iterations=0,
                                    survivors=3, polish_iterations=0)
  for order in (np.arange(8), np.random.default_rng(5).permutation(8)):
    found = _search(starts[order], log_inputs, log_loss, objective=HUBER, settings=still)
    kept = {tuple(row) for row in found["raw"]}
    assert kept == {tuple(row) for row in starts[np.argsort(at_starts)[:3]]}
    np.testing.assert_allclose(np.sort(found["objective"]), np.sort(at_starts)[:3], rtol=1e-12)


def test_starts_that_cannot_be_evaluated_are_left_behind():
  log_inputs, log_loss = _data()
  starts = _starts()
  broken = starts.copy()
  broken[0] = np.nan                            # not a number
  broken[1, 1] = np.inf                         # an infinite coefficient: infinite prediction
  found = _search(broken, log_inputs, log_loss)
  best = int(np.argmin(found["objective"]))
  cost, x = _scipy_least_squares(starts[2:], log_inputs, log_loss)
  assert np.all(np.isfinite(found["raw"][best]))
  assert found["objective"][best] == pytest.approx(cost, rel=1e-10)
  np.testing.assert_allclose(found["raw"][best], x, rtol=1e-6, atol=1e-8)


def test_a_batched_search_is_one_search_per_weight_vector():
  log_inputs, log_loss = _data()
  counts = np.random.default_rng(6).multinomial(log_loss.size, np.full(log_loss.size,
                                                                      1 / log_loss.size), 2)
  batched = multistart.compiled_search(FORM, SQUARED, SETTINGS, batched=True)
  with jax.enable_x64(True):
    arrays = jax.tree.map(lambda x: jnp.asarray(x, jnp.float64),
                          (_starts(), log_inputs, log_loss, counts.astype(float), *OPEN))
    together = jax.device_get(batched(*arrays))
  for row in range(2):
    alone = _search(_starts(), log_inputs, log_loss, weights=counts[row].astype(float))
    best = int(np.argmin(alone["objective"]))
    assert together["objective"][row].min() == pytest.approx(alone["objective"][best], rel=1e-9)
    np.testing.assert_allclose(together["raw"][row][np.argmin(together["objective"][row])],
                               alone["raw"][best], rtol=1e-6, atol=1e-8)


def test_one_compiled_search_per_configuration_and_settings_are_checked():
  first = multistart.compiled_search(FORM, SQUARED, SETTINGS)
  assert multistart.compiled_search(FORM, objectives.Objective("squared"),
                                    multistart.SearchSettings(**vars(SETTINGS))) is first
  assert multistart.compiled_search(FORM, HUBER, SETTINGS) is not first
  assert multistart.compiled_search(FORM, SQUARED, SETTINGS, batched=True) is not first
  with pytest.raises(ValueError, match="survivors=0 must be >= 1"):
    multistart.SearchSettings(survivors=0)
  with pytest.raises(ValueError, match="polish_iterations=-1 must be >= 0"):
    multistart.SearchSettings(polish_iterations=-1)
