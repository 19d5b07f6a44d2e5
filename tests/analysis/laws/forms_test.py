"""Tests for analysis.laws.forms: evaluation and derivatives at raw parameter vectors (one or a
batch), coordinate round trips, derived forms (fix, tie), input and parameter errors."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from analysis.laws import catalogue
from analysis.laws import forms

N = np.array([1e8, 4e8, 2e9, 7e10])
D = np.array([2e9, 1e10, 5e10, 1.4e12])
C = 6 * N * D
CHINCHILLA_LAW = dict(E=1.69, A=406.4, B=410.7, alpha=0.34, beta=0.28)
CHINCHILLA = catalogue.CHINCHILLA


def _chinchilla_terms(law):
  """The three terms of E + A / N^alpha + B / D^beta at (N, D), by hand."""
  return law["E"], law["A"] / N**law["alpha"], law["B"] / D**law["beta"]


def test_predict_leaves_default_dtype_float32():
  CHINCHILLA.predict(dict(E=1.0, A=1.0, B=1.0, alpha=0.5, beta=0.5), n=N, d=D)
  assert jnp.ones(1).dtype == jnp.float32


def test_raw_round_trip():
  params = dict(E=1.8172, A=477.8, B=2143.0, alpha=0.3473, beta=0.3672)
  raw = CHINCHILLA.to_raw(params)
  np.testing.assert_allclose(raw[:3], np.log([1.8172, 477.8, 2143.0]))
  back = CHINCHILLA.from_raw(raw)
  assert back.keys() == params.keys()
  np.testing.assert_allclose(list(back.values()), list(params.values()), rtol=1e-14)


def test_log_predict_raw_of_a_batch_is_each_row_alone():
  laws = [CHINCHILLA_LAW, dict(CHINCHILLA_LAW, E=2.0, alpha=0.3), dict(CHINCHILLA_LAW, B=900.0)]
  raw = np.stack([CHINCHILLA.to_raw(law) for law in laws])
  batch = CHINCHILLA.log_predict_raw(raw, dict(n=N, d=D))
  assert batch.shape == (3, N.size) and batch.dtype == np.float64
  for row, law in zip(batch, laws):
    np.testing.assert_allclose(np.exp(row), sum(_chinchilla_terms(law)), rtol=1e-13)
  np.testing.assert_array_equal(CHINCHILLA.log_predict_raw(raw[1], dict(n=N, d=D)), batch[1])
  with pytest.raises(ValueError, match="shape"):
    CHINCHILLA.log_predict_raw(raw[:, :4], dict(n=N, d=D))


def test_raw_samples_map_zero_to_a_vanished_term_and_negative_to_nan():
  samples = {name: np.full(3, value) for name, value in CHINCHILLA_LAW.items()}
  samples["E"] = np.array([1.69, 0.0, -1.0])
  raw = CHINCHILLA.raw_samples(samples)
  assert raw.shape == (3, 5) and raw[1, 0] == -np.inf and np.isnan(raw[2, 0])
  loss = np.exp(CHINCHILLA.log_predict_raw(raw, dict(n=N, d=D)))
  _, n_term, d_term = _chinchilla_terms(CHINCHILLA_LAW)
  np.testing.assert_allclose(loss[1], n_term + d_term, rtol=1e-13)
  assert np.isnan(loss[2]).all()


def test_an_infinite_input_is_the_limit_of_its_vanished_term():
  law = dict(N_c=6.4e13, D_c=1.8e13, alpha_N=0.076, alpha_D=0.103)
  log_loss = catalogue.KAPLAN_ND.log_predict_raw(catalogue.KAPLAN_ND.to_raw(law),
                                                 dict(n=N, d=np.full(N.size, np.inf)))
  np.testing.assert_allclose(np.exp(log_loss), (6.4e13 / N)**0.076, rtol=1e-12)


def test_log_jacobian_of_chinchilla_is_each_terms_share():
  """d log L / d log E = E / L, d / d log A = A N^-alpha / L, d / d alpha = -ln N A N^-alpha / L,
  and likewise for B and beta."""
  e_term, n_term, d_term = _chinchilla_terms(CHINCHILLA_LAW)
  loss = e_term + n_term + d_term
  expected = np.stack([e_term / loss, n_term / loss, d_term / loss, -np.log(N) * n_term / loss,
                       -np.log(D) * d_term / loss], axis=1)
  jacobian = CHINCHILLA.log_jacobian(CHINCHILLA.to_raw(CHINCHILLA_LAW), dict(n=N, d=D))
  assert jacobian.shape == (N.size, 5)
  np.testing.assert_allclose(jacobian, expected, rtol=1e-12)


@pytest.mark.parametrize("form, law", [
    (catalogue.OVERTRAINING, dict(E=1.8, a=900.0, b=3000.0, eta=0.15)),
    (forms.tie(CHINCHILLA, "beta", "alpha"), dict(CHINCHILLA_LAW, beta=0.34)),
    (catalogue.KAPLAN_ND, dict(N_c=6.4e13, D_c=1.8e13, alpha_N=0.076, alpha_D=0.103)),
])
def test_log_jacobian_matches_central_differences(form, law):
  inputs = forms.inputs_for(form, n=N, d=D, c=C)
  raw = form.to_raw(law)
  jacobian = form.log_jacobian(raw, inputs)
  step = 1e-6
  for column in range(raw.size):
    shift = np.zeros(raw.size)
    shift[column] = step
    numeric = (form.log_predict_raw(raw + shift, inputs)
               - form.log_predict_raw(raw - shift, inputs)) / (2 * step)
    np.testing.assert_allclose(jacobian[:, column], numeric, rtol=1e-6, atol=1e-9)


def test_log_jacobian_of_a_batch_and_traced_are_each_row_alone():
  laws = [CHINCHILLA_LAW, dict(CHINCHILLA_LAW, E=1e-9, alpha=0.5)]
  raw = np.stack([CHINCHILLA.to_raw(law) for law in laws])
  batch = CHINCHILLA.log_jacobian(raw, dict(n=N, d=D))
  assert batch.shape == (2, N.size, 5)
  for row, vector in zip(batch, raw):
    np.testing.assert_array_equal(row, CHINCHILLA.log_jacobian(vector, dict(n=N, d=D)))
  with jax.enable_x64(True):
    log_inputs = dict(n=jnp.log(N), d=jnp.log(D))
    log_prediction, columns = jax.jit(CHINCHILLA.log_predict_with_jacobian)(
        jnp.asarray(raw[1]), log_inputs)
  np.testing.assert_allclose(np.stack(columns, axis=-1), batch[1], rtol=1e-14)
  np.testing.assert_allclose(log_prediction, CHINCHILLA.log_predict_raw(raw[1], dict(n=N, d=D)),
                             rtol=1e-14)


@pytest.mark.parametrize("inputs, message", [
    (dict(n=N), "missing \\['d'\\]"),
    (dict(n=N, d=D[:2]), "different lengths"),
    (dict(n=-N, d=D), "input 'n'"),
    (dict(n=N, d=np.where(D > 1e10, np.nan, D)), "input 'd'"),
])
def test_bad_inputs_raise(inputs, message):
  with pytest.raises(ValueError, match=message):
    CHINCHILLA.predict(dict(E=1.0, A=1.0, B=1.0, alpha=0.5, beta=0.5), **inputs)


def test_bad_params_raise():
  with pytest.raises(ValueError, match="missing"):
    CHINCHILLA.to_raw(dict(E=1.0))
  with pytest.raises(ValueError, match="A=-1"):
    CHINCHILLA.to_raw(dict(E=1.0, A=-1.0, B=1.0, alpha=0.5, beta=0.5))


def test_inputs_for_names_the_missing_input():
  assert forms.inputs_for(CHINCHILLA, n=N, d=D).keys() == {"n", "d"}
  assert forms.inputs_for(catalogue.single_variable("c"), c=C).keys() == {"c"}
  with pytest.raises(ValueError, match="overtraining takes m .* pass n="):
    forms.inputs_for(catalogue.OVERTRAINING, d=D, c=C)
  with pytest.raises(ValueError, match="takes c .* pass c="):
    forms.inputs_for(catalogue.OVERTRAINING, n=N, d=D)


def test_fix_keeps_every_parameter_and_the_prediction():
  fixed = forms.fix(CHINCHILLA, E=1.69)
  assert fixed.name == "chinchilla[E=1.69]"
  assert fixed.param_names == ("A", "B", "alpha", "beta")
  assert fixed.all_param_names == CHINCHILLA.param_names
  assert fixed.init_grid().shape == (900, 4)
  assert "E = 1.69 fixed" in fixed.formula and fixed.citation.startswith(catalogue.HOFFMANN_2022)
  np.testing.assert_allclose(fixed.predict(CHINCHILLA_LAW, n=N, d=D),
                             CHINCHILLA.predict(CHINCHILLA_LAW, n=N, d=D), rtol=1e-14)
  free = {k: v for k, v in CHINCHILLA_LAW.items() if k != "E"}
  full = fixed.from_raw(fixed.to_raw(free))
  assert list(full) == list(CHINCHILLA_LAW)
  np.testing.assert_allclose(list(full.values()), list(CHINCHILLA_LAW.values()), rtol=1e-14)
  with pytest.raises(ValueError, match="E=1.8 contradicts the form"):
    fixed.predict(dict(CHINCHILLA_LAW, E=1.8), n=N, d=D)


def test_tie_copies_the_parameter():
  tied = forms.tie(CHINCHILLA, "beta", "alpha")
  assert tied.name == "chinchilla[beta=alpha]"
  assert tied.param_names == ("E", "A", "B", "alpha")
  law = dict(CHINCHILLA_LAW, beta=CHINCHILLA_LAW["alpha"])
  full = tied.from_raw(tied.to_raw(law))
  assert full["beta"] == full["alpha"] == law["alpha"]
  np.testing.assert_allclose(tied.predict(law, n=N, d=D),
                             CHINCHILLA.predict(law, n=N, d=D), rtol=1e-14)
