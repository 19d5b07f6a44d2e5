"""Tests for analysis.trust.checkpoint_record and the rollout's `curves`: recipes are scored on
the same held-out final losses, and no held-out run is fitted on through its own checkpoints."""
import numpy as np

from analysis.fitting import options as fit_options
from analysis.laws import catalogue
from analysis.table import checkpoints
from analysis.trust import checkpoint_record

LAW = dict(E=1.8, A=400.0, B=2000.0, alpha=0.34, beta=0.37)


def _cosine_curves() -> checkpoints.CheckpointTable:
  """5 sizes x 3 budgets (10, 20 and 40 tokens per parameter), a checkpoint every 20% of each
  schedule; a checkpoint in mid-schedule sits above the law by 3% x (1 - fraction). (At most 64
  points are kept: the fits share the compiled search of other tests' Chinchilla fits.)"""
  curve, n, d, fraction = [], [], [], []
  for size in np.geomspace(2e7, 2e9, 5):
    for ratio in (10, 20, 40):
      steps = np.arange(1, 6) / 5
      curve += [f"{size:.0e}x{ratio}"] * steps.size
      n += [size] * steps.size
      d += list(steps * ratio * size)
      fraction += list(steps)
  n, d, fraction = (np.array(x) for x in (n, d, fraction))
  loss = catalogue.CHINCHILLA.predict(LAW, n=n, d=d) * (1 + 0.03 * (1 - fraction))
  return checkpoints.CheckpointTable.from_columns(curve=curve, n_total=n, d=d, loss=loss,
                                                  fraction=fraction)


def test_recipes_are_scored_on_the_same_final_losses_without_peeking():
  table = _cosine_curves()
  threshold = 6 * 2e8 * 40 * 2e8 * 1.01  # above the 2e8-parameter runs' final compute
  options = fit_options.FitOptions(rollout_forms=("chinchilla",), rollout_resamples=3,
                                   rollout_thresholds=(threshold,))
  results = checkpoint_record.compare(table, ("final", "hitchhiker"), options)
  predicted = {name: sorted(row["run"] for row in result.rows)
               for name, result in results.items()}
  assert predicted["final"] == predicted["hitchhiker"]
  assert len(predicted["final"]) == 6  # the final points of the two largest sizes
  kept = table.select("hitchhiker")
  final_compute = {curve: 6 * n * d for curve, n, d in zip(
      table.select("final").trunk_id, table.select("final").n_total, table.select("final").d)}
  below = [final_compute[curve] < threshold for curve in kept.trunk_id]
  # Every kept checkpoint of the 9 curves of the 3 smaller sizes, and none of a held-out
  # curve, though a larger model's early checkpoints lie below the threshold's compute.
  assert results["hitchhiker"].fits[0]["n_train"] == sum(below)
  assert np.any((6 * kept.n_total * kept.d < threshold) & ~np.array(below))
  assert results["final"].fits[0]["n_train"] == 9
  choice = checkpoint_record.choose(results)
  label = results["final"].labels()[0]
  assert choice["recipe"] in results and choice["label"] == label
  assert choice["score"] == min(score for scores in choice["scores"].values()
                                for score in scores.values())
  # On this law the final losses alone recover it; mid-schedule checkpoints bias the fit up.
  far = {name: checkpoint_record.farthest(result)[label]
         for name, result in results.items()}
  assert far["final"]["mean_abs_relative_error"] < 1e-2
  assert far["hitchhiker"]["mean_abs_relative_error"] > far["final"]["mean_abs_relative_error"]
