"""Tests for the residual figures: each writes a readable, non-blank PNG of the expected size."""
import numpy as np
import pytest

from analysis.report import diagnostic_plots
from analysis.laws import forms
from analysis.trust import residuals
LAW = dict(E=1.69, A=406.4, B=410.7, alpha=0.34, beta=0.28)


@pytest.fixture
def diagnostics():
  rng = np.random.default_rng(0)
  n = np.tile(np.geomspace(1e6, 1e8, 6), 3)
  c = np.repeat([1e16, 1e17, 1e18], 6)
  d = c / (6 * n)
  loss = forms.CHINCHILLA.predict(LAW, n=n, d=d) * np.exp(rng.normal(0, 0.01, n.size))
  return residuals.diagnose(forms.CHINCHILLA, LAW, dict(n=n, d=d), loss, budgets=c)


def test_residual_panels(tmp_path, diagnostics, assert_png):
  path = diagnostic_plots.residual_panels(tmp_path / "panels.png", diagnostics,
                                          n_label="N (non-embedding)", d_label="D")
  assert path == tmp_path / "panels.png"
  assert_png(path, 13)


def test_residual_panels_without_n_and_d(tmp_path, assert_png):
  c = np.geomspace(1e16, 1e20, 8)
  form = forms.single_variable("c")
  params = dict(E=1.7, A=2e3, alpha=0.15)
  loss = form.predict(params, c=c) * np.exp(np.linspace(-0.01, 0.01, 8))
  result = residuals.diagnose(form, params, dict(c=c), loss)
  assert_png(diagnostic_plots.residual_panels(tmp_path / "c.png", result), 13)


def test_residuals_by_budget(tmp_path, diagnostics, assert_png):
  assert_png(diagnostic_plots.residuals_by_budget(tmp_path / "budgets.png", diagnostics), 6.4)


def test_residuals_by_budget_needs_budgets(tmp_path, diagnostics):
  diagnostics.budgets = {}
  with pytest.raises(ValueError, match="budgets="):
    diagnostic_plots.residuals_by_budget(tmp_path / "none.png", diagnostics)
