"""Tests for the convention comparison that need no fit."""
import numpy as np

from analysis.fitting import options as fit_options
from analysis.report import conventions
from analysis.table import observations


def test_one_parameter_count_and_no_exact_flops_leave_nothing_to_compare():
  table = observations.Observations.from_columns(n_total=np.geomspace(1e7, 1e9, 8),
                                                 d=np.geomspace(1e9, 1e11, 8),
                                                 loss=np.linspace(3.0, 2.5, 8))
  assert conventions.compare(table, options=fit_options.FitOptions(), weights=np.ones(8)) == []
