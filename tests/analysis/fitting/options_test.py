"""One Approach-3 recipe: Approach 3, the held-out extrapolation, the rollout, the convention
comparison and `suggest` all fit as the FitOptions they are given say (law, objective, bounds,
weights)."""
import json

from absl import flags
from absl.testing import flagsaver
import jax
import numpy as np
import pytest

from analysis import __main__ as cli
from analysis.laws import catalogue
from analysis.fitting import objectives
from analysis.table import observations
from analysis.report import pipeline
from analysis.fitting import options as fit_options

# Two settings that differ in every respect, each unlike the defaults the old recipes
# hard-coded somewhere (plain Chinchilla, Huber 1e-3, bounded or not, uniform weights): a caller
# that ignored any part of its options fails on one of them.
SETTINGS = {
    "tied_squared_bounded_compute": (
        fit_options.FitOptions(law="chinchilla[beta=alpha]",
                               objective=objectives.Objective(kind="squared"), bounded=True,
                               weighting="compute", rollout_forms=("chinchilla[beta=alpha]",),
                               rollout_objectives=("squared",), rollout_resamples=2),
        ["--law=chinchilla[beta=alpha]", "--objective=squared", "--bounded",
         "--weights=compute"]),
    "fixed_huber_free_uniform": (
        fit_options.FitOptions(law="chinchilla[E=1.9]",
                               objective=objectives.Objective(kind="huber", delta=0.01),
                               bounded=False, weighting="uniform",
                               rollout_forms=("chinchilla[E=1.9]",),
                               rollout_objectives=("huber",), rollout_resamples=2),
        ["--law=chinchilla[E=1.9]", "--objective=huber", "--delta=0.01", "--nobounded",
         "--weights=uniform"]),
}


def _check_fit(options, fit_block, *, n, d, loss, train, label):
  """`fit_block` (a fit's JSON: params, objective, criterion, bounds) is the options' law,
  objective and bounds, fitted with the options' weights on the runs where `train`."""
  params = fit_block["params"]
  if options.law == "chinchilla[E=1.9]":
    assert params["E"] == 1.9, label
  else:
    assert params["beta"] == params["alpha"] and params["E"] != 1.9, label
  assert fit_block["criterion"] == options.objective.to_json(), label
  expected_bounds = {} if not options.bounded else dict(
      E=[0.0, pytest.approx(loss[train].min())], alpha=[0.0, 3.0])
  assert fit_block["bounds"] == expected_bounds, label
  # The minimised value is sum_i w_i rho(r_i) over the training runs: it tells the weights.
  with jax.enable_x64(True):
    rho = np.asarray(options.objective.loss(
        np.log(catalogue.CHINCHILLA.predict(params, n=n, d=d)) - np.log(loss)))
  weights = {kind: fit_options.FitOptions(weighting=kind).weights(flops=6 * n * d) * train
             for kind in ("uniform", "compute")}
  value = {kind: float(np.sum(w * rho)) for kind, w in weights.items()}
  other = "uniform" if options.weighting == "compute" else "compute"
  assert fit_block["objective"] == pytest.approx(value[options.weighting], rel=1e-6), label
  assert fit_block["objective"] != pytest.approx(value[other], rel=0.05), label


@pytest.mark.slow
@pytest.mark.parametrize("setting", list(SETTINGS))
def test_every_fitting_user_follows_the_fit_options(tmp_path, capsys, setting, isoflop_runs):
  options, argv = SETTINGS[setting]
  runs = isoflop_runs(1e17)
  n, d, loss = runs["n"], runs["d"], runs["loss"]
  table = observations.Observations.from_columns(n_total=1.2 * n, n_non_embedding=n, d=d,
                                                 loss=loss, source="synthetic")
  summary = pipeline.analyse(table, n_resamples=2, kaplan=False, single_variable=False,
                             fit_options=options).summary
  everything = np.ones(n.size, bool)
  _check_fit(options, summary["approach3"], n=n, d=d, loss=loss, train=everything,
             label="approach 3")

  extrapolation = summary["extrapolation"]
  assert extrapolation["threshold_flops"] == pytest.approx(1e20)
  _check_fit(options, extrapolation["fit"], n=n, d=d, loss=loss,
             train=6 * n * d < extrapolation["threshold_flops"], label="extrapolation")

  fits = summary["rollout"]["fits"]
  assert [fit["threshold"] for fit in fits] == pytest.approx([1e19, 1e20])
  for fit in fits:
    _check_fit(options, fit, n=n, d=d, loss=loss, train=6 * n * d < fit["threshold"],
               label=f"rollout at {fit['threshold']:.3g}")

  rows = summary["convention_comparison"]
  assert [row["conventions"]["n"] for row in rows] == ["non_embedding", "total"]
  for row, n_convention in zip(rows, (n, 1.2 * n)):
    _check_fit(options, row["approach3"], n=n_convention, d=d, loss=loss, train=everything,
               label=f"convention comparison, N {row['conventions']['n']}")

  lines = ["run_id,seed,n_params_total,n_params_non_embedding,tokens,flops_exact,"
           "final_eval_loss,status"]
  lines += [f"r{i},0,{1.2 * params},{params},{tokens},{7 * params * tokens},{value},completed"
            for i, (params, tokens, value) in enumerate(zip(n, d, loss))]
  (tmp_path / "results.csv").write_text("\n".join(lines) + "\n")
  with flagsaver.flagsaver():
    flags.FLAGS.unparse_flags()
    cli.main(flags.FLAGS(["analysis", "suggest", f"--results={tmp_path / 'results.csv'}",
                          "--target_flops=1e22", "--budget_flops=1e20", "--max_runs=3",
                          f"--out={tmp_path}", *argv]))
  capsys.readouterr()
  suggestion = json.loads((tmp_path / "suggestion.json").read_text())
  _check_fit(options, suggestion["fit"], n=n, d=d, loss=loss, train=everything,
             label="suggest")


def test_rollout_candidates_carry_bounds_weighting_and_the_objective_delta():
  options = fit_options.FitOptions(
      objective=objectives.Objective(kind="huber", delta=0.02, over_weight=4.0), bounded=False,
      weighting="compute", rollout_forms=("chinchilla", "overtraining"),
      rollout_objectives=("huber", "floor"))
  candidates = options.rollout_candidates()
  assert [(c.law, c.objective.kind) for c in candidates] == [
      ("chinchilla", "huber"), ("chinchilla", "floor"), ("overtraining", "huber"),
      ("overtraining", "floor")]
  for candidate in candidates:
    assert (candidate.bounded, candidate.weighting) == (False, "compute")
    assert (candidate.objective.delta, candidate.objective.over_weight) == (0.02, 4.0)
  assert candidates[2].form() is catalogue.OVERTRAINING

