"""Tests for the analysis pipeline's pieces that do not need a fit."""
import numpy as np

from analysis import forms
from analysis import pipeline


def test_fit_law_skips_with_a_warning_when_runs_are_too_few():
  warnings = []
  conventions = dict(n="total", c="6nd")
  fitted, resampled, block = pipeline.fit_law(
      forms.single_variable("n"), dict(n=np.array([1e6, 1e7, 1e8])), np.array([3.0, 2.8, 2.7]),
      n_resamples=10, level=0.9, seed=0, conventions=conventions, warnings=warnings)
  assert fitted is None and resampled is None
  assert "needs more than 3" in block["skipped"] and block["conventions"] == conventions
  assert len(warnings) == 1 and "skipped" in warnings[0]


def test_convention_labels():
  assert pipeline.convention_label(dict(n="total", c="exact")) == "N total, C exact FLOPs"
  assert pipeline.convention_label(dict(n="non_embedding", c="6nd")) == (
      "N non-embedding, C = 6ND")
