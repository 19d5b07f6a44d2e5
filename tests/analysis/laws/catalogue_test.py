"""Tests for analysis.laws.catalogue: each law against its closed form, start grids, specs."""
import numpy as np
import pytest

from analysis.laws import catalogue
from analysis.laws import forms

N = np.array([1e8, 4e8, 2e9, 7e10])
D = np.array([2e9, 1e10, 5e10, 1.4e12])
C = 6 * N * D
CHINCHILLA_LAW = dict(E=1.69, A=406.4, B=410.7, alpha=0.34, beta=0.28)


def test_chinchilla_predict_matches_closed_form():
  expected = 1.69 + 406.4 / N**0.34 + 410.7 / D**0.28
  np.testing.assert_allclose(catalogue.CHINCHILLA.predict(CHINCHILLA_LAW, n=N, d=D), expected,
                             rtol=1e-12)


def test_chinchilla_grid_is_hoffmann_grid():
  grid = catalogue.CHINCHILLA.init_grid()
  assert grid.shape == (4500, 5)
  assert len({tuple(row) for row in grid}) == 4500
  by_name = dict(zip(catalogue.CHINCHILLA.raw_names, grid.T))
  assert catalogue.CHINCHILLA.raw_names == ("log_E", "log_A", "log_B", "alpha", "beta")
  np.testing.assert_array_equal(np.unique(by_name["log_E"]), [-1, -0.5, 0, 0.5, 1])
  np.testing.assert_array_equal(np.unique(by_name["log_A"]), [0, 5, 10, 15, 20, 25])
  np.testing.assert_array_equal(np.unique(by_name["beta"]), [0, 0.5, 1, 1.5, 2])


@pytest.mark.parametrize("x, values", [("n", N), ("d", D), ("c", C)])
def test_single_variable_predict_matches_closed_form(x, values):
  form = catalogue.single_variable(x)
  assert form.inputs == (x,)
  params = dict(E=1.7, A=300.0, alpha=0.3)
  np.testing.assert_allclose(form.predict(params, **{x: values}), 1.7 + 300.0 * values**-0.3,
                             rtol=1e-12)


def test_kaplan_nd_matches_eq_1_5():
  params = dict(N_c=6.4e13, D_c=1.8e13, alpha_N=0.076, alpha_D=0.103)
  expected = ((6.4e13 / N)**(0.076 / 0.103) + 1.8e13 / D)**0.103
  np.testing.assert_allclose(catalogue.KAPLAN_ND.predict(params, n=N, d=D), expected,
                             rtol=1e-12)


@pytest.mark.parametrize("x, values", [("n", N), ("d", D)])
def test_kaplan_single_variable_is_eq_1_1_and_1_2_in_their_names(x, values):
  form = catalogue.kaplan_single_variable(x)
  name = x.upper()
  assert form.param_names == (f"{name}_c", f"alpha_{name}")
  params = {f"{name}_c": 8.8e13, f"alpha_{name}": 0.076}
  np.testing.assert_allclose(form.predict(params, **{x: values}), (8.8e13 / values)**0.076,
                             rtol=1e-12)


def test_unknown_single_variable_input():
  with pytest.raises(ValueError, match="x='q'"):
    catalogue.single_variable("q")
  with pytest.raises(ValueError, match="x='q'"):
    catalogue.kaplan_single_variable("q")


def test_overtraining_equals_chinchilla_with_equal_exponents():
  # C = 6 N D and M = D / N give N = sqrt(C / 6M), D = sqrt(C M / 6), so A N^-alpha =
  # A 6^(alpha/2) M^(alpha/2) C^(-alpha/2): eta = alpha / 2, a = A 6^eta, b = B 6^eta.
  law = dict(CHINCHILLA_LAW, beta=0.34)
  eta = law["alpha"] / 2
  mapped = dict(E=law["E"], a=law["A"] * 6**eta, b=law["B"] * 6**eta, eta=eta)
  inputs = forms.inputs_for(catalogue.OVERTRAINING, n=N, d=D, c=6 * N * D)
  np.testing.assert_allclose(inputs["m"], D / N)
  expected = 1.69 + (mapped["a"] * (D / N)**eta + mapped["b"] * (D / N)**-eta) * C**-eta
  np.testing.assert_allclose(catalogue.OVERTRAINING.predict(mapped, **inputs), expected,
                             rtol=1e-12)
  np.testing.assert_allclose(catalogue.OVERTRAINING.predict(mapped, **inputs),
                             catalogue.CHINCHILLA.predict(law, n=N, d=D), rtol=1e-12)
  assert catalogue.OVERTRAINING.inputs == ("c", "m")
  assert "2403.08540" in catalogue.OVERTRAINING.citation


def test_interaction_matches_closed_form_and_is_chinchilla_at_zero():
  law = dict(CHINCHILLA_LAW, G=3e4)
  expected = 1.69 + 406.4 / N**0.34 + 410.7 / D**0.28 + 3e4 / (N**0.34 * D**0.28)
  np.testing.assert_allclose(catalogue.INTERACTION.predict(law, n=N, d=D), expected, rtol=1e-12)
  np.testing.assert_allclose(catalogue.INTERACTION.predict(dict(law, G=0.0), n=N, d=D),
                             catalogue.CHINCHILLA.predict(CHINCHILLA_LAW, n=N, d=D), rtol=1e-12)
  assert catalogue.get("interaction[G=1e4]").param_names == catalogue.CHINCHILLA.param_names


def test_registry_names_every_form():
  assert set(catalogue.FORMS) == {"chinchilla", "overtraining", "kaplan_nd", "interaction",
                                  "data_constrained", "single_variable_n", "single_variable_d",
                                  "single_variable_c", "kaplan_n", "kaplan_d", "kaplan_c"}
  for name, form in catalogue.FORMS.items():
    assert form.name == name and form.citation and form.init_grid().shape[0] > 0
    assert catalogue.get(name) is form


def test_derived_forms_are_cached_and_specs_parse():
  both = catalogue.get("chinchilla[beta=alpha, E=1.69]")
  assert both is catalogue.get("chinchilla[E=1.69,beta=alpha]")
  assert both is forms.fix(forms.tie(catalogue.CHINCHILLA, "beta", "alpha"), E=1.69)
  assert both is forms.tie(forms.fix(catalogue.CHINCHILLA, E=1.69), "beta", "alpha")
  assert both.name == "chinchilla[beta=alpha,E=1.69]" and both.param_names == ("A", "B", "alpha")
  assert catalogue.get("chinchilla") is catalogue.CHINCHILLA
  assert catalogue.get(both.name) is both
  assert catalogue.get("overtraining[E=1.8]") is forms.fix(catalogue.OVERTRAINING, E=1.8)
  # Fixing the target of a tie fixes both.
  assert forms.fix(forms.tie(catalogue.CHINCHILLA, "beta", "alpha"), alpha=0.3) is forms.fix(
      catalogue.CHINCHILLA, alpha=0.3, beta=0.3)


@pytest.mark.parametrize("call, message", [
    (lambda: catalogue.get("chinchila"), "unknown form 'chinchila'; known forms: chinchilla, "),
    (lambda: catalogue.get("chinchilla[E]"), "constraint 'E' must be name=value"),
    (lambda: catalogue.get("chinchilla[E=big]"), "'big' is neither a number nor a parameter"),
    (lambda: catalogue.get("chinchilla[F=1]"), "'F' is not a parameter in chinchilla"),
    (lambda: catalogue.get("chinchilla[E=1.7,E=1.8]"), "'E' is already fixed or tied"),
    (lambda: catalogue.get("chinchilla[E=-1]"), "E=-1.0 must be finite and > 0"),
    (lambda: catalogue.get("chinchilla(E=1)"), "must look like"),
    (lambda: forms.tie(catalogue.CHINCHILLA, "A", "alpha"), "different kinds"),
    (lambda: forms.tie(catalogue.CHINCHILLA, "A", "A"), "to itself"),
    (lambda: forms.fix(catalogue.CHINCHILLA), "at least one parameter"),
    (lambda: catalogue.get("kaplan_n[N_c=1e13,alpha_N=0.07]"), "nothing to fit"),
])
def test_bad_specs_raise_one_line(call, message):
  with pytest.raises(ValueError, match=message) as error:
    call()
  assert "\n" not in str(error.value)
