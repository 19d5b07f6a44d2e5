"""Tests for analysis/report/irreducible_loss.py: E over the rollout's forms."""
import types

import numpy as np
import pytest

from analysis.fitting import bootstrap
from analysis.fitting import options as fit_options
from analysis.laws import catalogue
from analysis.report import irreducible_loss
from analysis.report import law_fits
from analysis.report.step_types import Outcome, Settings
from analysis.trust import rollout

FLOOR = 2.0
TRUTH = dict(E=FLOOR, A=400.0, B=3000.0, alpha=0.5, beta=0.5, G=2e5)  # interaction form


def _data():
  """5 sizes x 5 token counts drawn from the interaction law (0.1% log noise)."""
  n, d = (array.ravel() for array in np.meshgrid(np.geomspace(1e4, 1e6, 5),
                                                 np.geomspace(1e7, 1e9, 5)))
  loss = catalogue.INTERACTION.predict(TRUTH, n=n, d=d)
  loss = loss * np.exp(np.random.default_rng(0).normal(0, 1e-3, loss.size))
  return types.SimpleNamespace(
      runs=dict(n=n, d=d, c=6 * n * d, loss=loss), weights=np.ones(loss.size),
      conventions={}, known_floor=FLOOR, clean=types.SimpleNamespace(bootstrap_blocks=lambda: None),
      skipped=lambda reason: dict(skipped=reason))


def _row(label: str, log_error: float) -> dict:
  return dict(label=label, threshold=1.0, run="r", actual=2.0, predicted=2.0 * np.exp(log_error))


def test_e_is_averaged_over_the_forms_by_their_held_out_record():
  data = _data()
  options = fit_options.FitOptions(rollout_forms=("chinchilla", "interaction"))
  settings = Settings(n_resamples=40, fit_options=options)
  runs = data.runs
  chinchilla = law_fits.fit_law(
      catalogue.CHINCHILLA, dict(n=runs["n"], d=runs["d"]), runs["loss"], options=options,
      weights=data.weights, conventions={}, **settings.resampling())
  # Record: chinchilla misses by 2%, interaction by 1%: weights 1/0.02^2 : 1/0.01^2 = 1 : 4.
  record = rollout.RolloutResult(
      rows=[_row("chinchilla/huber", 0.02), _row("interaction/huber", -0.01)], fits=[],
      split_by="c", thresholds=[1.0], level=0.95)
  done = dict(rollout=Outcome(record, {}),
              approach3=Outcome(types.SimpleNamespace(fitted=chinchilla.fitted,
                                                      resampled=chinchilla.resampled),
                                chinchilla.block))
  block = irreducible_loss.run(data, settings, done).block
  assert [entry["label"] for entry in block["forms"]] == ["chinchilla/huber",
                                                          "interaction/huber"]
  np.testing.assert_allclose([entry["weight"] for entry in block["forms"]], [0.2, 0.8])
  interaction = law_fits.fit_law(
      catalogue.INTERACTION, dict(n=runs["n"], d=runs["d"]), runs["loss"],
      options=options, weights=data.weights, conventions={}, **settings.resampling())
  assert block["forms"][1]["E"] == interaction.fitted.params["E"]
  assert [entry["identifiability"] for entry in block["forms"]] == [
      chinchilla.block["identifiability"], interaction.block["identifiability"]]
  assert block["E"] == pytest.approx(0.2 * chinchilla.fitted.params["E"]
                                     + 0.8 * interaction.fitted.params["E"])
  assert block["ci"] == list(bootstrap.mixture_interval(
      [chinchilla.resampled.samples["E"], interaction.resampled.samples["E"]], [0.2, 0.8], 0.95))
  # The law the runs come from recovers the floor; the average is checked against it.
  assert interaction.resampled.ci["E"][0] <= FLOOR <= interaction.resampled.ci["E"][1]
  truth = block["known_floor"]
  assert truth["floor"] == FLOOR and truth["E"] == block["E"]
  assert truth["covered"] == (block["ci"][0] <= FLOOR <= block["ci"][1])


def test_without_a_rollout_or_a_second_form_with_e_it_is_skipped():
  data, settings = _data(), Settings(n_resamples=10)
  skipped = irreducible_loss.run(data, settings, dict(rollout=Outcome(None, dict(skipped="x"))))
  assert skipped.block == dict(skipped="no rollout (x)")
  only_chinchilla = rollout.RolloutResult(rows=[_row("chinchilla/huber", 0.01)], fits=[],
                                          split_by="c", thresholds=[1.0], level=0.95)
  approach3 = types.SimpleNamespace(fitted=types.SimpleNamespace(converged=True,
                                                                 params=dict(E=2.0)),
                                    resampled=types.SimpleNamespace(ci=dict(E=(1.9, 2.1)),
                                                                    samples=dict(E=[2.0])))
  outcome = irreducible_loss.run(data, settings, dict(rollout=Outcome(only_chinchilla, {}),
                                                      approach3=Outcome(approach3, {})))
  assert "fewer than two rollout forms" in outcome.block["skipped"]
