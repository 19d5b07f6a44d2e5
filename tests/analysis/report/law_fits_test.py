"""Tests for one law's fit block that need no fit."""
import numpy as np

from analysis.fitting import options as fit_options
from analysis.laws import catalogue
from analysis.report import law_fits


def test_fit_law_skips_with_a_warning_when_runs_are_too_few():
  conventions = dict(n="total", c="6nd")
  law = law_fits.fit_law(
      catalogue.single_variable("n"), dict(n=np.array([1e6, 1e7, 1e8])),
      np.array([3.0, 2.8, 2.7]), options=fit_options.FitOptions(), weights=np.ones(3),
      n_resamples=10, level=0.9, seed=0, conventions=conventions)
  assert law.fitted is None and law.resampled is None
  assert law.block == dict(form="single_variable_n", skipped=law.block["skipped"],
                           conventions=conventions)
  assert "3 runs" in law.block["skipped"] and "needs more than 3" in law.block["skipped"]
  assert law.warnings == [f"single_variable_n: skipped, {law.block['skipped']}"]
