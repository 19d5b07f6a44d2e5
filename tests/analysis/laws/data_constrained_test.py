"""Tests for Muennighoff et al. 2023's data-constrained law (catalogue.DATA_CONSTRAINED) and its
published constants: the authors' formula on a few points, its closed-form limits, and the error
for runs without unique tokens."""

import numpy as np
import pytest

from analysis.fitting import options as fit_options
from analysis.laws import catalogue
from analysis.laws import forms
from analysis.laws import published
from analysis.trust import rollout

LAW = published.LAWS["muennighoff2023"]
P = LAW.params
# N (parameters), D (tokens), U (unique tokens): one epoch; 4 epochs; 44 epochs of 1.9B tokens
# for a model beyond the Chinchilla-optimal size of U (R_N > 0); 9000 epochs of 100M tokens.
N = np.array([8.67e9, 4.2465e9, 4.2465e9, 1.41e7])
D = np.array([1.78e11, 4.8e10, 8.4e10, 9e11])
U = np.array([1.78e11, 1.2e10, 1.9e9, 1e8])


def _authors_formula(n, d, u):
  """Eq. 5 as the authors' code writes it, in numpy: U_N = min(N, D_to_N(U)) with
  D_to_N(D) = (D G)^(beta / alpha) G, G = (alpha A / (beta B))^(1 / (alpha + beta))."""
  g = (P["alpha"] * P["A"] / (P["beta"] * P["B"])) ** (1 / (P["alpha"] + P["beta"]))
  u_n = np.minimum(n, (u * g) ** (P["beta"] / P["alpha"]) * g)
  r_d, r_n = d / u - 1, n / u_n - 1
  d_eff = u + u * P["R_D_star"] * (1 - np.exp(-r_d / P["R_D_star"]))
  n_eff = u_n + u_n * P["R_N_star"] * (1 - np.exp(-r_n / P["R_N_star"]))
  return P["E"] + P["A"] / n_eff ** P["alpha"] + P["B"] / d_eff ** P["beta"]


def _chinchilla(n, d):
  return P["E"] + P["A"] / n ** P["alpha"] + P["B"] / d ** P["beta"]


def test_published_constants_give_the_authors_predictions():
  expected = _authors_formula(N, D, U)
  np.testing.assert_allclose(LAW.loss(n=N, d=D, u=U), expected, rtol=1e-10)
  # The points span the regimes: R_N > 0 only for the third (U_N = 9.7e7 < N).
  assert LAW.loss(n=N, d=D, u=U)[2] > _chinchilla(N[2], D[2]) + 0.2
  # Pinned (computed from eq. 5 at these constants, not read off the paper) so that the form
  # and the transcription cannot drift together.
  np.testing.assert_allclose(expected, [2.1924, 2.3728, 2.5869, 4.3313], atol=5e-5)


def test_closed_form_limits():
  # Chinchilla-optimal N for U tokens: U (A / B)^(1 / alpha) with alpha = beta, ~19.6 tokens
  # per parameter; below it, one epoch (R_D = 0) is Chinchilla exactly.
  ratio = (P["B"] / P["A"]) ** (1 / P["alpha"])
  assert ratio == pytest.approx(19.6, abs=0.05)
  n, u = np.array([1e8, 1e9]), np.array([1e10, 1e11])
  np.testing.assert_allclose(LAW.loss(n=n, d=u, u=u), _chinchilla(n, u), rtol=1e-12)
  # U > D (part of the unique data unseen) counts only the D tokens seen.
  np.testing.assert_allclose(LAW.loss(n=n, d=u, u=10 * u), _chinchilla(n, u), rtol=1e-12)
  # Endless repetition saturates the effective data at U (1 + R*_D).
  np.testing.assert_allclose(LAW.loss(n=n, d=1e9 * u, u=u),
                             _chinchilla(n, u * (1 + P["R_D_star"])), rtol=1e-12)
  # A model far beyond N_opt(U) is worth U_N (1 + R*_N) parameters.
  big = 1e6 * u / ratio
  np.testing.assert_allclose(LAW.loss(n=big, d=u, u=u),
                             _chinchilla(u / ratio * (1 + P["R_N_star"]), u), rtol=1e-9)


def test_runs_without_unique_tokens_are_refused_in_one_line():
  with pytest.raises(ValueError, match="data_constrained needs column u") as error:
    forms.inputs_for(catalogue.DATA_CONSTRAINED, n=N, d=D, c=6 * N * D)
  assert "\n" not in str(error.value) and "--rollout_forms" in str(error.value)
  options = fit_options.FitOptions(rollout_forms=("interaction", "data_constrained"))
  assert [c.form() for c in options.rollout_candidates()] == [catalogue.INTERACTION,
                                                              catalogue.DATA_CONSTRAINED]
  runs = dict(n=np.geomspace(1e7, 1e9, 12), d=np.geomspace(1e8, 1e10, 12))
  runs.update(c=6 * runs["n"] * runs["d"], loss=np.linspace(4.0, 3.0, 12))
  with pytest.raises(ValueError, match="data_constrained needs column u"):
    rollout.rollout(runs, fit_options.FitOptions(rollout_forms=("data_constrained",)))

