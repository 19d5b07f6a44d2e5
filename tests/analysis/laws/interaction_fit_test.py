"""The N-D interaction form (catalogue.INTERACTION) recovers its parameters from noise-free
synthetic runs on a 6 x 7 grid of N (1e6-1e9 parameters) and D (1e7-1e11 tokens)."""
import numpy as np
import pytest

from analysis.fitting import options as fit_options
from analysis.laws import catalogue


def test_interaction_fit_recovers_its_parameters():
  n, d = (grid.ravel() for grid in np.meshgrid(np.geomspace(1e6, 1e9, 6),
                                               np.geomspace(1e7, 1e11, 7)))
  truth = dict(E=1.8, A=400.0, B=900.0, alpha=0.34, beta=0.3, G=3e4)
  loss = catalogue.INTERACTION.predict(truth, n=n, d=d)
  # The product term is 0.5% to 17% of the loss here, so the data can tell G from Chinchilla.
  share = loss / catalogue.CHINCHILLA.predict(
      {k: v for k, v in truth.items() if k != "G"}, n=n, d=d) - 1
  assert share.min() > 0.004 and share.max() > 0.15
  fitted = fit_options.fit(fit_options.FitOptions(law="interaction"), dict(n=n, d=d), loss,
                           np.ones(n.size))
  assert fitted.converged
  for name, value in truth.items():
    assert fitted.params[name] == pytest.approx(value, rel=1e-4), name
