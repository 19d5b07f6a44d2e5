"""Tests for analysis.trust.identifiability: each reason on a targeted case, an ill-posed and a
well-posed synthetic grid, Epoch's Chinchilla data, the condition number against numpy and the
coefficients' terms against their closed forms."""
import dataclasses
import json
import types

import numpy as np
import pytest

from analysis.fitting import bootstrap
from analysis.fitting import fit
from analysis.laws import catalogue
from analysis.laws import forms
from analysis.trust import identifiability


LAW = dict(E=1.69, A=406.4, B=410.7, alpha=0.34, beta=0.28)


def grid(sizes, tokens_per_parameter, law, noise, seed):
  """Every size x tokens-per-parameter pair; loss from `law` with log-normal noise."""
  n, ratio = np.meshgrid(sizes, tokens_per_parameter)
  n, d = n.ravel(), (n * ratio).ravel()
  rng = np.random.default_rng(seed)
  loss = catalogue.CHINCHILLA.predict(law, n=n, d=d) * np.exp(noise * rng.standard_normal(n.size))
  return dict(n=n, d=d), loss


def well_posed():
  """8 sizes x 6 token counts, D/N from 1 to 100, modest E."""
  return grid(np.geomspace(1e7, 3e9, 8), np.geomspace(1, 100, 6), LAW, 0.002, 0)


def at_params(params, form=catalogue.CHINCHILLA, diagnostics=None):
  """A FitResult at given parameters, as the fit would return it."""
  return fit.FitResult(form=form, params=dict(params), objective=0.0, converged=True,
                       n_starts=1, diagnostics=diagnostics or {}, warnings=[])


def fake_bootstrap(samples, form=catalogue.CHINCHILLA, level=0.95):
  """A BootstrapResult whose refits are `samples` (name -> values, natural units)."""
  raw = np.stack([np.log(samples[p.name]) if p.log_scale else samples[p.name]
                  for p in form.parameters], axis=1)
  ci = {name: tuple(float(x) for x in bootstrap.percentile_interval(values, level))
        for name, values in samples.items()}
  return bootstrap.BootstrapResult(form=form, samples=dict(samples), ci=ci, level=level,
                                   n_failed=0, n_resamples=len(raw), raw=raw, seconds=0.0)


def test_well_posed_grid_is_identifiable_and_recovered():
  inputs, loss = well_posed()
  result = fit.fit(catalogue.CHINCHILLA, inputs, loss)
  resamples = bootstrap.bootstrap(catalogue.CHINCHILLA, inputs, loss, n_resamples=30, seed=1)
  assessment = identifiability.assess(result, resamples, inputs, loss)
  assert assessment.identifiable, assessment.warnings
  assert assessment.warnings == []
  for name, rtol in dict(E=0.01, A=0.25, B=0.25, alpha=0.03, beta=0.03).items():
    assert result.params[name] == pytest.approx(LAW[name], rel=rtol), name
  details = json.loads(json.dumps(assessment.to_json(), allow_nan=False))["details"]
  assert 1 < details["conditioning"]["condition_number"] < 1e8
  assert details["distinct"]["counts"] == dict(n=8, d=48)
  assert details["regime"]["max_tokens_per_parameter"] == pytest.approx(100)
  assert set(details["intervals"]["ratio"]) == {"E", "A", "B"}
  assert set(details["intervals"]["term_ratio"]) == {"E", "A", "B"}
  assert details["intervals"]["centre"] == pytest.approx(dict(
      n=np.exp(np.mean(np.log(inputs["n"]))), d=np.exp(np.mean(np.log(inputs["d"])))))


def test_epoch_chinchilla_fit_is_identifiable(epoch_chinchilla):
  # A fit that reproduces the published optimum (fit_test.py). B moves with beta (log B shifts
  # by ln D ~ 23 per unit of beta), so B's own interval is far wider than that of B / D_c^beta.
  inputs, loss = dict(n=epoch_chinchilla["n"], d=epoch_chinchilla["d"]), epoch_chinchilla["loss"]
  result = fit.fit(catalogue.CHINCHILLA, inputs, loss)
  resamples = bootstrap.bootstrap(catalogue.CHINCHILLA, inputs, loss, n_resamples=60, seed=0,
                                  init_grid=result.survivors)
  assessment = identifiability.assess(result, resamples, inputs, loss)
  assert assessment.identifiable, assessment.warnings
  assert assessment.warnings == []
  intervals = assessment.details["intervals"]
  assert intervals["n_failed"] == 0
  assert all(ratio < 1.5 for ratio in intervals["term_ratio"].values()), intervals
  assert intervals["ratio"]["B"] > 2 * intervals["term_ratio"]["B"]
  centre = intervals["centre"]
  term = resamples.samples["B"] / centre["d"]**resamples.samples["beta"]
  assert intervals["term_interval"]["B"] == pytest.approx(
      bootstrap.percentile_interval(term, 0.95), rel=1e-9)


def test_runs_far_from_the_floor_are_not_identifiable():
  # Large E, 0.05-0.8 tokens per parameter: every loss is several times E.
  law = dict(LAW, E=3.0)
  inputs, loss = grid(np.geomspace(2e4, 1e6, 5), np.geomspace(0.05, 0.8, 4), law, 0.01, 0)
  result = fit.fit(catalogue.CHINCHILLA, inputs, loss)
  resamples = bootstrap.bootstrap(catalogue.CHINCHILLA, inputs, loss, n_resamples=30, seed=1)
  assessment = identifiability.assess(result, resamples, inputs, loss)
  assert not assessment.identifiable
  assert any(line.startswith("every run is far from the loss floor")
             for line in assessment.warnings)
  assert any(line.startswith("every run is under-trained") for line in assessment.warnings)
  regime = assessment.details["regime"]
  reference = max(result.params["E"], resamples.ci["E"][1])
  assert regime["E_reference"] == pytest.approx(reference)
  assert regime["min_loss_over_E"] == pytest.approx(np.min(loss) / reference)
  assert regime["max_tokens_per_parameter"] == pytest.approx(0.8)


def test_the_floor_check_reads_the_upper_end_of_e_interval():
  """A fitted E biased low makes every run look far from the floor; the upper end of its
  interval, which a true floor within the interval cannot exceed, does not."""
  inputs, loss = well_posed()
  result = fit.fit(catalogue.CHINCHILLA, inputs, loss)
  low = dataclasses.replace(result, params=dict(result.params, E=np.min(loss) / 5))
  interval = types.SimpleNamespace(ci={"E": (np.min(loss) / 8, np.min(loss) / 1.5)}, level=0.95)
  warnings, details = identifiability._regime_reasons(
      catalogue.CHINCHILLA, low.params, interval, inputs, loss)
  assert details["min_loss_over_E"] == pytest.approx(1.5)
  assert not any("far from the loss floor" in line for line in warnings)
  warnings, details = identifiability._regime_reasons(
      catalogue.CHINCHILLA, low.params, None, inputs, loss)
  assert details["min_loss_over_E"] == pytest.approx(5.0)
  assert any(line.startswith("every run is far from the loss floor (smallest loss")
             and "= 5 x E =" in line for line in warnings)


def test_parameter_at_a_bound():
  inputs, loss = well_posed()
  result = at_params(LAW)
  bounds = dict(E=(0.0, LAW["E"] * (1 + 1e-5)), alpha=(0.0, 3.0))
  assessment = identifiability.assess(result, None, inputs, loss, bounds=bounds)
  assert not assessment.identifiable
  assert len(assessment.warnings) == 1
  assert assessment.warnings[0].startswith("E = 1.69 is at its upper bound 1.69")
  assert assessment.details["bounds"]["at_bound"] == dict(
      E=dict(value=LAW["E"], bound=bounds["E"][1], side="upper"))
  loose = identifiability.assess(result, None, inputs, loss, bounds=dict(E=(0.0, 1.8)))
  assert loose.identifiable


def test_bounds_and_at_bound_are_read_from_the_fit_result():
  inputs, loss = well_posed()
  flagged = at_params(LAW, diagnostics=dict(at_bound=dict(beta=True, alpha=False)))
  flagged.bounds = dict(beta=(0.0, 3.0))
  assessment = identifiability.assess(flagged, None, inputs, loss)
  assert [line.split(" ")[0] for line in assessment.warnings] == ["beta"]


def test_unknown_bound_name_is_an_error():
  inputs, loss = well_posed()
  with pytest.raises(ValueError, match="gamma"):
    identifiability.assess(at_params(LAW), None, inputs, loss, bounds=dict(gamma=(0, 1)))


def test_entropy_fitted_to_zero():
  inputs, loss = well_posed()
  assessment = identifiability.assess(at_params(dict(LAW, E=1e-9)), None, inputs, loss)
  assert not assessment.identifiable
  assert any(line.startswith("E fitted to ~0 (E = 1e-09") for line in assessment.warnings)
  effect = assessment.details["bounds"]["largest_relative_effect"]["E"]
  predicted = catalogue.CHINCHILLA.predict(dict(LAW, E=1e-9), **inputs)
  assert effect == pytest.approx(1e-9 / predicted.min(), rel=1e-6)


def wide_refits(inputs):
  """41 refits: A moves with alpha along a constant term A / N_c^alpha at the centre N_c (A
  itself spans a factor > 100); B / D_c^beta spans a factor ~90 with beta 0.8 wide."""
  centre = identifiability.data_centre(catalogue.CHINCHILLA, inputs)
  alpha = np.linspace(0.15, 0.45, 41)
  beta = np.linspace(0.1, 0.9, 41)
  spread = np.geomspace(1 / 10.6, 10.6, 41)
  return dict(E=np.linspace(1.65, 1.73, 41), A=0.4 * centre["n"]**alpha,
              B=0.3 * centre["d"]**beta * spread, alpha=alpha, beta=beta)


def test_wide_bootstrap_intervals():
  inputs, loss = well_posed()
  refits = wide_refits(inputs)
  assessment = identifiability.assess(at_params(LAW), fake_bootstrap(refits), inputs, loss)
  intervals = assessment.details["intervals"]
  assert [line.split(":")[0] for line in assessment.warnings] == ["B", "beta"]
  expected = bootstrap.percentile_interval(0.3 * np.geomspace(1 / 10.6, 10.6, 41), 0.95)
  assert intervals["term_interval"]["B"] == pytest.approx(expected, rel=1e-9)
  assert intervals["term_ratio"]["B"] == pytest.approx(expected[1] / expected[0], rel=1e-9)
  assert intervals["term_ratio"]["B"] > 50
  assert assessment.warnings[0].startswith("B: 95% bootstrap interval of its term at the centre "
                                           "of the data (n = ")
  assert f"spans a factor {intervals['term_ratio']['B']:.3g} > 10" in assessment.warnings[0]
  assert "is 0.76 wide > 0.5" in assessment.warnings[1]
  # A's own interval spans more than 100x, but the loss its term carries is pinned.
  assert intervals["ratio"]["A"] > 100
  assert intervals["term_ratio"]["A"] == pytest.approx(1.0, rel=1e-9)
  assert intervals["term_ratio"]["E"] == pytest.approx(intervals["ratio"]["E"], rel=1e-9)
  looser = identifiability.assess(at_params(LAW), fake_bootstrap(refits), inputs, loss,
                                  interval_factor=200.0)
  assert [line.split(":")[0] for line in looser.warnings] == ["beta"]


def test_wide_entropy_interval_is_its_own():
  inputs, loss = well_posed()
  refits = {name: np.full(41, value) for name, value in LAW.items()}
  refits["E"] = np.geomspace(0.1, 10.0, 41)
  assessment = identifiability.assess(at_params(LAW), fake_bootstrap(refits), inputs, loss)
  low, high = bootstrap.percentile_interval(refits["E"], 0.95)
  assert assessment.warnings == [
      f"E: 95% bootstrap interval [{low:.3g}, {high:.3g}] spans a factor {high / low:.3g} > 10; "
      f"{identifiability._ADVICE['E']}"]


def test_bootstrap_of_another_form_is_an_error():
  inputs, loss = well_posed()
  fixed = forms.fix(catalogue.CHINCHILLA, E=LAW["E"])
  refits = {name: np.full(5, value) for name, value in LAW.items() if name != "E"}
  with pytest.raises(ValueError, match="bootstrap the assessed form"):
    identifiability.assess(at_params(LAW), fake_bootstrap(refits, fixed), inputs, loss)


def test_coefficient_terms_match_closed_forms():
  rng = np.random.default_rng(0)
  raw = np.stack([rng.uniform(0, 1, 7), rng.uniform(3, 8, 7), rng.uniform(3, 8, 7),
                  rng.uniform(0.2, 0.5, 7), rng.uniform(0.2, 0.5, 7)], axis=1)
  point = dict(n=3e8, d=6e9)
  terms = identifiability.coefficient_terms(catalogue.CHINCHILLA, raw, point)
  assert list(terms) == ["E", "A", "B"]
  np.testing.assert_allclose(terms["E"], np.exp(raw[:, 0]), rtol=1e-12)
  np.testing.assert_allclose(terms["A"], np.exp(raw[:, 1]) / point["n"]**raw[:, 3], rtol=1e-12)
  np.testing.assert_allclose(terms["B"], np.exp(raw[:, 2]) / point["d"]**raw[:, 4], rtol=1e-12)
  # The over-training form: a and b multiply M^eta C^-eta and M^-eta C^-eta.
  params = dict(E=1.7, a=50.0, b=2000.0, eta=0.15)
  c, m = 1e20, 20.0
  terms = identifiability.coefficient_terms(
      catalogue.OVERTRAINING, catalogue.OVERTRAINING.to_raw(params)[None], dict(c=c, m=m))
  assert terms["a"] == pytest.approx([50.0 * (m / c)**0.15], rel=1e-12)
  assert terms["b"] == pytest.approx([2000.0 / (m * c)**0.15], rel=1e-12)
  assert identifiability.coefficient_terms(catalogue.CHINCHILLA, np.zeros((0, 5)), point)[
      "A"].shape == (0,)


def test_without_bootstrap_the_interval_check_is_skipped():
  inputs, loss = well_posed()
  assessment = identifiability.assess(at_params(LAW), None, inputs, loss)
  assert assessment.identifiable
  assert "skipped" in assessment.details["intervals"]


def test_equal_exponents_at_fixed_tokens_per_parameter_are_ill_conditioned():
  # With alpha = beta and D = 20 N, A/N^alpha and B/D^beta are the same function of N.
  sizes = np.geomspace(1e7, 3e9, 8)
  inputs = dict(n=sizes, d=20 * sizes)
  params = dict(LAW, beta=LAW["alpha"])
  loss = catalogue.CHINCHILLA.predict(params, **inputs)
  assessment = identifiability.assess(at_params(params), None, inputs, loss)
  assert not assessment.identifiable
  conditioning = [line for line in assessment.warnings if "ill-conditioned" in line]
  assert len(conditioning) == 1
  assert {"log_A", "log_B"} <= set(assessment.details["conditioning"]["weakest_direction"])
  assert assessment.details["conditioning"]["condition_number"] > 1e8
  summary = json.loads(json.dumps(assessment.to_json(), allow_nan=False))
  assert summary["identifiable"] is False and summary["warnings"] == assessment.warnings


def test_too_few_distinct_sizes():
  # Two model sizes (one of them written twice, 0.5% apart) and many token counts.
  n = np.repeat([1e8, 1.005e8, 1e9], 6)
  d = n * np.tile(np.geomspace(1, 100, 6), 3)
  inputs = dict(n=n, d=d)
  loss = catalogue.CHINCHILLA.predict(LAW, **inputs)
  assessment = identifiability.assess(at_params(LAW), None, inputs, loss)
  assert assessment.details["distinct"]["counts"] == dict(n=2, d=12)
  assert any(line.startswith("only 2 distinct values of n (parameters)")
             for line in assessment.warnings)
  assert identifiability.assess(at_params(LAW), None, inputs, loss, min_distinct=2
                                ).details["distinct"]["counts"]["n"] == 2


def test_distinct_count_tolerance():
  assert identifiability.distinct_count(np.array([1.0, 1.009, 1.02, 5.0, 5.0])) == 3
  assert identifiability.distinct_count(np.array([])) == 0


def test_scaled_condition_number_matches_numpy():
  rng = np.random.default_rng(0)
  jacobian = rng.standard_normal((20, 4)) * np.array([1e-3, 1.0, 1e4, 10.0])
  jacobian[:, 3] += 0.999 * jacobian[:, 2] / 1e3
  matrix = jacobian.T @ jacobian
  scale = np.diag(1 / np.sqrt(np.diag(matrix)))
  expected = np.linalg.cond(scale @ matrix @ scale)
  assert identifiability.scaled_condition_number(matrix) == pytest.approx(expected, rel=1e-6)
  units = np.diag([1e6, 1e-3, 1.0, 7.0])  # re-expressing parameters in other units
  assert identifiability.scaled_condition_number(units @ matrix @ units) == pytest.approx(
      expected, rel=1e-6)
  assert identifiability.scaled_condition_number(np.diag([1.0, 0.0])) == float("inf")


@pytest.mark.parametrize("option, value", [("interval_factor", 1.0), ("condition_limit", 0.5),
                                           ("min_distinct", 0)])
def test_bad_options(option, value):
  inputs, loss = well_posed()
  with pytest.raises(ValueError, match=option):
    identifiability.assess(at_params(LAW), None, inputs, loss, **{option: value})


def test_a_bounded_fit_reports_the_bound_it_hit():
  inputs, loss = well_posed()
  result = fit.fit(catalogue.CHINCHILLA, inputs, loss, bounds=dict(E=(0.5, 1.5)))
  assert "E" in result.diagnostics["at_bound"]
  assessment = identifiability.assess(result, None, inputs, loss)
  assert not assessment.identifiable
  assert assessment.warnings[0].startswith("E = 1.5 is at its upper bound 1.5")
  assert assessment.warnings[0].endswith("or fix E")


def test_a_fixed_entropy_is_not_an_extrapolation():
  law = dict(LAW, E=3.0)
  inputs, loss = grid(np.geomspace(2e4, 1e6, 5), np.geomspace(0.05, 0.8, 4), law, 0.01, 0)
  fixed = forms.fix(catalogue.CHINCHILLA, E=3.0)
  assessment = identifiability.assess(at_params(law, fixed), None, inputs, loss)
  assert "min_loss_over_E" not in assessment.details["regime"]
  assert not any("loss floor" in line for line in assessment.warnings)
  assert any(line.startswith("every run is under-trained") for line in assessment.warnings)
  assert set(assessment.details["bounds"]["largest_relative_effect"]) == {"A", "B"}


def test_overtraining_form_reads_tokens_per_parameter():
  params = dict(E=1.7, a=50.0, b=2000.0, eta=0.15)
  n = np.repeat(np.geomspace(1e7, 1e9, 5), 3)
  d = n * np.tile([0.1, 0.3, 0.9], 5)
  inputs = forms.inputs_for(catalogue.OVERTRAINING, n=n, d=d, c=6 * n * d)
  loss = catalogue.OVERTRAINING.predict(params, **inputs)
  assessment = identifiability.assess(at_params(params, catalogue.OVERTRAINING), None, inputs, loss)
  assert assessment.details["regime"]["max_tokens_per_parameter"] == pytest.approx(0.9)
  assert assessment.details["distinct"]["counts"] == dict(c=15, m=3)
  assert any(line.startswith("every run is under-trained (at most 0.9 tokens per parameter")
             for line in assessment.warnings)
