"""What intermediate checkpoints buy on held-out runs: each checkpoint recipe, by rollout.

  python benchmarks/checkpoint_recipes.py [--datasets=misfitting2025,olmo_ladder] \\
      [--split=n] [--rollout_resamples=20]

For each dataset of `analysis.table.published_curves` and each recipe of
`analysis.table.checkpoints` (final: one point per run; hitchhiker: Choshen et al. 2025's
checkpoints past 10% of each curve, each curve weighted equally), runs
`analysis.trust.checkpoint_record.rollout_recipe` with Chinchilla's and the over-training form
(Huber, the default bounds): the same held-out final losses at the same thresholds for every
recipe. Prints a markdown table: the rollout score (mean |log(predicted / actual)|, thresholds
weighted equally), the mean |relative error| in the farthest distance bin (decades of C) and
the interval coverage, per recipe and form, then the recipe the rollout chooses.
"""
import datetime
import pathlib
import platform
import time

from absl import app
from absl import flags

from analysis.fitting import options as fit_options
from analysis.table import published_curves
from analysis.trust import checkpoint_record

_SHARED = pathlib.Path(__file__).resolve().parents[2] / "shared" / "data"
_DATA = flags.DEFINE_string("data", str(_SHARED), "the shared data folder")
_DATASETS = flags.DEFINE_list("datasets", list(published_curves.LOADERS), "datasets to score")
_RECIPES = flags.DEFINE_list("recipes", ["final", "hitchhiker"], "checkpoint recipes")
_SPLIT = flags.DEFINE_enum("split", "n", ["c", "n"], "rollout thresholds on C or on N")
_RESAMPLES = flags.DEFINE_integer("rollout_resamples", 20, "bootstrap refits per rollout fit")


def main(argv):
  del argv
  options = fit_options.FitOptions(rollout_split=_SPLIT.value,
                                   rollout_resamples=_RESAMPLES.value)
  lines = ["| dataset | recipe | form | points | rollout score | farthest bin (decades) | "
           "mean abs rel. error there | coverage | seconds |", "|---" * 9 + "|"]
  choices = []
  for name in _DATASETS.value:
    table = published_curves.load(name, _DATA.value)
    results = {}
    for recipe in _RECIPES.value:
      started = time.perf_counter()
      results[recipe] = checkpoint_record.rollout_recipe(table, recipe, options)
      seconds = time.perf_counter() - started
      far = checkpoint_record.farthest(results[recipe])
      for row in results[recipe].table():
        label = row["label"]
        lines.append(
            f"| {name} | {recipe} | {label} | {len(table.rows(recipe))} | "
            f"{row['mean_abs_log_error']:.4f} | {far[label]['bin']} ({far[label]['n']}) | "
            f"{far[label]['mean_abs_relative_error']:.4f} | {row['coverage']:.2f} | "
            f"{seconds:.0f} |")
    choice = checkpoint_record.choose(results)
    choices.append(f"{name}: the rollout chooses {choice['recipe']} ({choice['label']}, score "
                   f"{choice['score']:.4f}).")
  print(f"Checkpoint recipes by rollout (split by {_SPLIT.value}, "
        f"{_RESAMPLES.value} refits per fit), {datetime.date.today()}, "
        f"{platform.python_version()}:\n")
  print("\n".join(lines + [""] + choices))


if __name__ == "__main__":
  app.run(main)
