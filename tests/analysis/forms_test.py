"""Tests for analysis.forms: closed-form predictions, grids, coordinate round trips, errors."""
import jax.numpy as jnp
import numpy as np
import pytest

from analysis import forms

N = np.array([1e8, 4e8, 2e9, 7e10])
D = np.array([2e9, 1e10, 5e10, 1.4e12])
C = 6 * N * D


def test_chinchilla_predict_matches_closed_form():
  params = dict(E=1.69, A=406.4, B=410.7, alpha=0.34, beta=0.28)
  expected = 1.69 + 406.4 / N**0.34 + 410.7 / D**0.28
  np.testing.assert_allclose(forms.CHINCHILLA.predict(params, n=N, d=D), expected, rtol=1e-12)


def test_predict_leaves_default_dtype_float32():
  forms.CHINCHILLA.predict(dict(E=1.0, A=1.0, B=1.0, alpha=0.5, beta=0.5), n=N, d=D)
  assert jnp.ones(1).dtype == jnp.float32


def test_chinchilla_grid_is_hoffmann_grid():
  grid = forms.CHINCHILLA.init_grid()
  assert grid.shape == (4500, 5)
  assert len({tuple(row) for row in grid}) == 4500
  by_name = dict(zip(forms.CHINCHILLA.raw_names, grid.T))
  assert forms.CHINCHILLA.raw_names == ("log_E", "log_A", "log_B", "alpha", "beta")
  np.testing.assert_array_equal(np.unique(by_name["log_E"]), [-1, -0.5, 0, 0.5, 1])
  np.testing.assert_array_equal(np.unique(by_name["log_A"]), [0, 5, 10, 15, 20, 25])
  np.testing.assert_array_equal(np.unique(by_name["beta"]), [0, 0.5, 1, 1.5, 2])


def test_raw_round_trip():
  params = dict(E=1.8172, A=477.8, B=2143.0, alpha=0.3473, beta=0.3672)
  raw = forms.CHINCHILLA.to_raw(params)
  np.testing.assert_allclose(raw[:3], np.log([1.8172, 477.8, 2143.0]))
  back = forms.CHINCHILLA.from_raw(raw)
  assert back.keys() == params.keys()
  np.testing.assert_allclose(list(back.values()), list(params.values()), rtol=1e-14)


@pytest.mark.parametrize("x, values", [("n", N), ("d", D), ("c", C)])
def test_single_variable_predict_matches_closed_form(x, values):
  form = forms.single_variable(x)
  assert form.inputs == (x,)
  params = dict(E=1.7, A=300.0, alpha=0.3)
  np.testing.assert_allclose(form.predict(params, **{x: values}), 1.7 + 300.0 * values**-0.3,
                             rtol=1e-12)


def test_kaplan_nd_matches_eq_1_5():
  params = dict(N_c=6.4e13, D_c=1.8e13, alpha_N=0.076, alpha_D=0.103)
  expected = ((6.4e13 / N)**(0.076 / 0.103) + 1.8e13 / D)**0.103
  np.testing.assert_allclose(forms.KAPLAN_ND.predict(params, n=N, d=D), expected, rtol=1e-12)


def test_kaplan_single_variable_matches_power_law():
  form = forms.kaplan_single_variable("n")
  expected = (8.8e13 / N)**0.076
  np.testing.assert_allclose(form.predict(dict(N_c=8.8e13, alpha=0.076), n=N), expected,
                             rtol=1e-12)


def test_unknown_single_variable_input():
  with pytest.raises(ValueError, match="x='q'"):
    forms.single_variable("q")
  with pytest.raises(ValueError, match="x='q'"):
    forms.kaplan_single_variable("q")


@pytest.mark.parametrize("inputs, message", [
    (dict(n=N), "missing \\['d'\\]"),
    (dict(n=N, d=D[:2]), "different lengths"),
    (dict(n=-N, d=D), "input 'n'"),
    (dict(n=N, d=np.where(D > 1e10, np.nan, D)), "input 'd'"),
])
def test_bad_inputs_raise(inputs, message):
  with pytest.raises(ValueError, match=message):
    forms.CHINCHILLA.predict(dict(E=1.0, A=1.0, B=1.0, alpha=0.5, beta=0.5), **inputs)


def test_bad_params_raise():
  with pytest.raises(ValueError, match="missing"):
    forms.CHINCHILLA.to_raw(dict(E=1.0))
  with pytest.raises(ValueError, match="A=-1"):
    forms.CHINCHILLA.to_raw(dict(E=1.0, A=-1.0, B=1.0, alpha=0.5, beta=0.5))
