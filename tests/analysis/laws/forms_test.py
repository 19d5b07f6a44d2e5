"""Tests for analysis.forms: closed-form predictions, grids, coordinate round trips, errors."""
import jax.numpy as jnp
import numpy as np
import pytest

from analysis.laws import forms
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


CHINCHILLA_LAW = dict(E=1.69, A=406.4, B=410.7, alpha=0.34, beta=0.28)


def test_overtraining_equals_chinchilla_with_equal_exponents():
  # C = 6 N D and M = D / N give N = sqrt(C / 6M), D = sqrt(C M / 6), so A N^-alpha =
  # A 6^(alpha/2) M^(alpha/2) C^(-alpha/2): eta = alpha / 2, a = A 6^eta, b = B 6^eta.
  law = dict(CHINCHILLA_LAW, beta=0.34)
  eta = law["alpha"] / 2
  mapped = dict(E=law["E"], a=law["A"] * 6**eta, b=law["B"] * 6**eta, eta=eta)
  inputs = forms.inputs_for(forms.OVERTRAINING, n=N, d=D, c=6 * N * D)
  np.testing.assert_allclose(inputs["m"], D / N)
  expected = 1.69 + (mapped["a"] * (D / N)**eta + mapped["b"] * (D / N)**-eta) * C**-eta
  np.testing.assert_allclose(forms.OVERTRAINING.predict(mapped, **inputs), expected, rtol=1e-12)
  np.testing.assert_allclose(forms.OVERTRAINING.predict(mapped, **inputs),
                             forms.CHINCHILLA.predict(law, n=N, d=D), rtol=1e-12)
  assert forms.OVERTRAINING.inputs == ("c", "m") and "2403.08540" in forms.OVERTRAINING.citation


def test_inputs_for_names_the_missing_input():
  assert forms.inputs_for(forms.CHINCHILLA, n=N, d=D).keys() == {"n", "d"}
  assert forms.inputs_for(forms.single_variable("c"), c=C).keys() == {"c"}
  with pytest.raises(ValueError, match="overtraining takes m .* pass n="):
    forms.inputs_for(forms.OVERTRAINING, d=D, c=C)
  with pytest.raises(ValueError, match="takes c .* pass c="):
    forms.inputs_for(forms.OVERTRAINING, n=N, d=D)


def test_fix_keeps_every_parameter_and_the_prediction():
  fixed = forms.fix(forms.CHINCHILLA, E=1.69)
  assert fixed.name == "chinchilla[E=1.69]"
  assert fixed.param_names == ("A", "B", "alpha", "beta")
  assert fixed.all_param_names == forms.CHINCHILLA.param_names
  assert fixed.init_grid().shape == (900, 4)
  assert "E = 1.69 fixed" in fixed.formula and fixed.citation.startswith(forms.HOFFMANN_2022)
  np.testing.assert_allclose(fixed.predict(CHINCHILLA_LAW, n=N, d=D),
                             forms.CHINCHILLA.predict(CHINCHILLA_LAW, n=N, d=D), rtol=1e-14)
  free = {k: v for k, v in CHINCHILLA_LAW.items() if k != "E"}
  full = fixed.from_raw(fixed.to_raw(free))
  assert list(full) == list(CHINCHILLA_LAW)
  np.testing.assert_allclose(list(full.values()), list(CHINCHILLA_LAW.values()), rtol=1e-14)
  with pytest.raises(ValueError, match="E=1.8 contradicts the form"):
    fixed.predict(dict(CHINCHILLA_LAW, E=1.8), n=N, d=D)


def test_tie_copies_the_parameter():
  tied = forms.tie(forms.CHINCHILLA, "beta", "alpha")
  assert tied.name == "chinchilla[beta=alpha]"
  assert tied.param_names == ("E", "A", "B", "alpha")
  law = dict(CHINCHILLA_LAW, beta=CHINCHILLA_LAW["alpha"])
  full = tied.from_raw(tied.to_raw(law))
  assert full["beta"] == full["alpha"] == law["alpha"]
  np.testing.assert_allclose(tied.predict(law, n=N, d=D),
                             forms.CHINCHILLA.predict(law, n=N, d=D), rtol=1e-14)


def test_derived_forms_are_cached_and_specs_parse():
  both = forms.get("chinchilla[beta=alpha, E=1.69]")
  assert both is forms.get("chinchilla[E=1.69,beta=alpha]")
  assert both is forms.fix(forms.tie(forms.CHINCHILLA, "beta", "alpha"), E=1.69)
  assert both is forms.tie(forms.fix(forms.CHINCHILLA, E=1.69), "beta", "alpha")
  assert both.name == "chinchilla[beta=alpha,E=1.69]" and both.param_names == ("A", "B", "alpha")
  assert forms.get("chinchilla") is forms.CHINCHILLA
  assert forms.get(both.name) is both
  assert forms.get("overtraining[E=1.8]") is forms.fix(forms.OVERTRAINING, E=1.8)
  # Fixing the target of a tie fixes both.
  assert forms.fix(forms.tie(forms.CHINCHILLA, "beta", "alpha"), alpha=0.3) is forms.fix(
      forms.CHINCHILLA, alpha=0.3, beta=0.3)


def test_registry_names_every_form():
  assert set(forms.FORMS) == {"chinchilla", "overtraining", "kaplan_nd", "single_variable_n",
                              "single_variable_d", "single_variable_c", "kaplan_n", "kaplan_d",
                              "kaplan_c"}
  for name, form in forms.FORMS.items():
    assert form.name == name and form.citation and form.init_grid().shape[0] > 0
    assert forms.get(name) is form


@pytest.mark.parametrize("call, message", [
    (lambda: forms.get("chinchila"), "unknown form 'chinchila'; known forms: chinchilla, "),
    (lambda: forms.get("chinchilla[E]"), "constraint 'E' must be name=value"),
    (lambda: forms.get("chinchilla[E=big]"), "'big' is neither a number nor a parameter"),
    (lambda: forms.get("chinchilla[F=1]"), "'F' is not a parameter in chinchilla"),
    (lambda: forms.get("chinchilla[E=1.7,E=1.8]"), "'E' is already fixed or tied"),
    (lambda: forms.get("chinchilla[E=-1]"), "E=-1.0 must be finite and > 0"),
    (lambda: forms.get("chinchilla(E=1)"), "must look like"),
    (lambda: forms.tie(forms.CHINCHILLA, "A", "alpha"), "different kinds"),
    (lambda: forms.tie(forms.CHINCHILLA, "A", "A"), "to itself"),
    (lambda: forms.fix(forms.CHINCHILLA), "at least one parameter"),
    (lambda: forms.get("kaplan_n[N_c=1e13,alpha=0.07]"), "nothing to fit"),
])
def test_bad_specs_raise_one_line(call, message):
  with pytest.raises(ValueError, match=message) as error:
    call()
  assert "\n" not in str(error.value)
