"""What intermediate checkpoints buy, by held-out record: the rollout of each checkpoint recipe.

`rollout_recipe(table, name, options)` runs `rollout.rollout` on the rows that recipe `name`
keeps (`checkpoints.CheckpointTable.select`), weighted as the recipe says (`per_curve` for the
Hitchhiker recipe), with bootstrap refits that resample whole curves, and with each curve kept
whole on one side of every threshold (`rollout(curves=...)`): a held-out run's own early
checkpoints are never fitted on. Only the final rows of held-out curves are predicted, at the
thresholds of the final rows (`rollout.default_thresholds` on one point per run) unless
`options.rollout_thresholds` names them. Every recipe is so scored on the same held-out final
losses at the same thresholds, and `compare` runs several. `choose` names the recipe whose best
form x objective has the lowest rollout score (mean |log(predicted / actual)|, each threshold
weighted equally), and `farthest` gives each form x objective's mean |relative error| in the
farthest distance bin of `rollout.DISTANCE_BINS` that holds predictions.

  table = published_curves.load("misfitting2025", "../shared/data")
  results = checkpoint_record.compare(table, ("final", "hitchhiker"), options)
  checkpoint_record.choose(results), checkpoint_record.farthest(results["hitchhiker"])
"""
from collections.abc import Sequence
import dataclasses
from typing import Any


from analysis.fitting import options as fit_options
from analysis.table import checkpoints
from analysis.table import seeds
from analysis.trust import rollout


def thresholds(table: checkpoints.CheckpointTable,
               options: fit_options.FitOptions) -> list[float]:
  """`options.rollout_thresholds`, or the default thresholds of the table's final rows (one
  point per run): those every recipe is scored at."""
  if options.rollout_thresholds is not None:
    return sorted(float(t) for t in options.rollout_thresholds)
  finals = table.select("final").arrays()
  min_train = max(len(c.form().parameters) for c in options.rollout_candidates()) + 3
  found = rollout.default_thresholds(finals, options.rollout_split, min_train)
  if not found:
    raise ValueError(f"{table.observations.source}: no threshold of {options.rollout_split} "
                     f"leaves {min_train} final runs to fit; add runs or use fewer parameters")
  return found


def rollout_recipe(table: checkpoints.CheckpointTable, name: str,
                   options: fit_options.FitOptions = fit_options.FitOptions(), *,
                   level: float = 0.9, seed: int = 0,
                   n_convention: str = "non_embedding") -> rollout.RolloutResult:
  """The rollout of the rows recipe `name` keeps, scored on the held-out final rows (see the
  module docstring); C is 6 N D under `n_convention`."""
  chosen = checkpoints.recipe(name)
  if chosen.weighting is not None:
    options = dataclasses.replace(options, weighting=chosen.weighting)
  options = dataclasses.replace(options, rollout_thresholds=tuple(thresholds(table, options)))
  selected = table.select(name)
  runs = selected.arrays(n=n_convention)
  weights = options.weights(flops=runs["c"], groups=seeds.aggregate(selected))
  return rollout.rollout(runs, options, weights=weights, level=level, seed=seed,
                         run_ids=selected.run_id, curves=selected.trunk_id,
                         groups=selected.bootstrap_blocks())


def compare(table: checkpoints.CheckpointTable, names: Sequence[str] = tuple(checkpoints.RECIPES),
            options: fit_options.FitOptions = fit_options.FitOptions(),
            **settings: Any) -> dict[str, rollout.RolloutResult]:
  """{recipe name: `rollout_recipe(table, name, options, **settings)`} for each of `names`."""
  return {name: rollout_recipe(table, name, options, **settings) for name in names}


def choose(results: dict[str, rollout.RolloutResult]) -> dict[str, Any]:
  """The recipe whose best form x objective scores lowest: {recipe, label, score, scores},
  `scores` {recipe: {label: score}} (mean |log(predicted / actual)| per threshold, averaged)."""
  scores = {name: result.scores() for name, result in results.items()}
  best = min(((name, label) for name, by_label in scores.items() for label in by_label),
             key=lambda pair: scores[pair[0]][pair[1]])
  return dict(recipe=best[0], label=best[1], score=scores[best[0]][best[1]], scores=scores)


def farthest(result: rollout.RolloutResult) -> dict[str, dict[str, Any]]:
  """{label: {bin, n, mean_abs_relative_error}}: the farthest distance bin (decades of C) with
  predictions, and their mean |relative error| there."""
  summary = {}
  for row in result.table():
    filled = [(name, block) for name, block in row["by_distance"].items() if block["n"]]
    name, block = filled[-1]
    summary[row["label"]] = dict(bin=name, n=block["n"],
                                 mean_abs_relative_error=block["mean_abs_relative_error"])
  return summary
