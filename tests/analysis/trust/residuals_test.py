"""Tests for analysis.trust.residuals: R^2 and Shapiro-Wilk against direct computations, trends that
a misspecified form shows and a correct one does not, budget groups, failure modes."""
import json

import numpy as np
import pytest
import scipy.stats

from analysis.fitting import fit
from analysis.laws import catalogue
from analysis.laws import forms
from analysis.trust import residuals


LAW = dict(E=1.69, A=406.4, B=410.7, alpha=0.34, beta=0.28)


def chinchilla_grid(noise=0.005, seed=0):
  """6 sizes x 5 token counts (1-100 tokens per parameter) from LAW, log-normal noise."""
  n, ratio = np.meshgrid(np.geomspace(1e7, 3e9, 6), np.geomspace(1, 100, 5))
  n, d = n.ravel(), (n * ratio).ravel()
  rng = np.random.default_rng(seed)
  loss = catalogue.CHINCHILLA.predict(LAW, n=n, d=d) * np.exp(noise * rng.standard_normal(n.size))
  return dict(n=n, d=d), loss


def test_r_squared_and_shapiro_match_direct_computations():
  inputs, loss = chinchilla_grid()
  params = dict(LAW, E=1.7)
  result = residuals.diagnose(catalogue.CHINCHILLA, params, inputs, loss)
  log_prediction = np.log(catalogue.CHINCHILLA.predict(params, **inputs))
  r = log_prediction - np.log(loss)
  np.testing.assert_allclose(result.residuals, r, rtol=1e-12)
  log_loss = np.log(loss)
  expected = 1 - np.sum(r**2) / np.sum((log_loss - log_loss.mean())**2)
  assert result.r_squared == pytest.approx(expected, rel=1e-12)
  assert result.r_squared < 1
  reference = scipy.stats.shapiro(r)
  assert result.normality["p_value"] == pytest.approx(reference.pvalue, rel=1e-12)
  assert result.normality["statistic"] == pytest.approx(reference.statistic, rel=1e-12)
  slope = scipy.stats.linregress(np.log(inputs["d"]), r)
  assert result.trends["d"]["slope"] == pytest.approx(slope.slope, rel=1e-12)
  assert result.trends["d"]["p_value"] == pytest.approx(slope.pvalue, rel=1e-12)
  summary = json.loads(json.dumps(result.to_json(), allow_nan=False))
  assert len(summary["residuals"]) == loss.size
  assert set(summary["trends"]) == {"n", "d", "prediction"}


def test_a_form_without_d_shows_a_trend_in_d_and_the_correct_form_does_not():
  # Seed 2: a seed whose Huber-fit residuals pass Shapiro-Wilk (see the module's note).
  inputs, loss = chinchilla_grid(seed=2)
  correct = fit.fit(catalogue.CHINCHILLA, inputs, loss)
  clean = residuals.diagnose(catalogue.CHINCHILLA, correct.params, inputs, loss)
  assert clean.warnings == []
  assert all(trend["p_value"] > residuals.SIGNIFICANCE for trend in clean.trends.values())
  assert clean.r_squared > 0.99
  size_only = catalogue.single_variable("n")
  wrong = fit.fit(size_only, dict(n=inputs["n"]), loss)
  misfit = residuals.diagnose(size_only, wrong.params, inputs, loss)
  assert misfit.trends["d"]["p_value"] < residuals.SIGNIFICANCE
  assert misfit.trends["d"]["slope"] > 0  # loss falls with D, the form cannot: over-predicts
  assert any(line.startswith("residuals trend with log D (tokens)") and
             "misses a dependence on D" in line for line in misfit.warnings)
  assert misfit.r_squared < clean.r_squared


def test_budget_groups():
  inputs, loss = chinchilla_grid()
  flops = 6 * inputs["n"] * inputs["d"]
  budgets = np.where(flops < np.median(flops), 1e18, 1e20)
  result = residuals.diagnose(catalogue.CHINCHILLA, LAW, inputs, loss, budgets=budgets)
  assert list(result.budgets) == ["1e+18", "1e+20"]
  r = result.residuals
  np.testing.assert_allclose(np.sort(result.budgets["1e+18"]), np.sort(r[budgets == 1e18]))
  np.testing.assert_allclose(np.sort(result.budget_log_inputs["1e+20"]["n"]),
                             np.sort(np.log(inputs["n"][budgets == 1e20])))
  labelled = residuals.diagnose(catalogue.CHINCHILLA, LAW, inputs, loss,
                                budgets=["b"] * 10 + ["a"] * 20)
  assert list(labelled.budgets) == ["b", "a"]
  assert residuals.diagnose(catalogue.CHINCHILLA, LAW, inputs, loss).budgets == {}


def test_too_few_points_skip_the_tests():
  inputs = dict(n=np.array([1e8, 1e9]), d=np.array([1e9, 1e10]))
  result = residuals.diagnose(catalogue.CHINCHILLA, LAW, inputs, np.array([3.0, 2.5]))
  assert "skipped" in result.normality
  assert "skipped" in result.trends["n"]
  assert result.warnings == []


def test_extra_inputs_are_tested_and_validated():
  inputs, loss = chinchilla_grid()
  with_compute = dict(inputs, c=6 * inputs["n"] * inputs["d"])
  result = residuals.diagnose(catalogue.CHINCHILLA, LAW, with_compute, loss)
  assert set(result.trends) == {"n", "d", "c", "prediction"}
  with pytest.raises(ValueError, match="input 'c'"):
    residuals.diagnose(catalogue.CHINCHILLA, LAW, dict(inputs, c=-with_compute["c"]), loss)
  with pytest.raises(ValueError, match="budgets has 3 labels"):
    residuals.diagnose(catalogue.CHINCHILLA, LAW, inputs, loss, budgets=[1, 2, 3])


def test_a_derived_form_takes_every_parameter():
  inputs, loss = chinchilla_grid()
  fixed = forms.fix(catalogue.CHINCHILLA, E=LAW["E"])
  derived = residuals.diagnose(fixed, LAW, inputs, loss)
  root = residuals.diagnose(catalogue.CHINCHILLA, LAW, inputs, loss)
  np.testing.assert_allclose(derived.residuals, root.residuals, rtol=1e-12)
  assert derived.form == fixed.name
