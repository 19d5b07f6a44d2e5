"""`python -m analysis suggest`: the next runs for a target compute, as a table and a sweep file.

  python -m analysis suggest --results=SWEEP/results.csv --target_flops=1e18 \\
      --budget_flops=2e15 --out=DIR [--base_sweep=configs/sweeps/tiny.py]

Cleans the runs, aggregates repeated seeds (`analysis.table.seeds`), fits --law (any `catalogue.get`
spec, Chinchilla by default) as the fit options say (--objective, --bounded, --weights: the recipe
of `analysis.fitting.options`, the same as Approach 3's), takes the pooled seed sd (when some run
was repeated) as the noise of one run, and names the runs within the budget that most shrink the
uncertainty of the loss at the compute-optimal point of the target (`analysis.design.suggest`).
Candidate sizes are moved to what the shape rule of --base_sweep builds. Prints the table and writes
DIR/suggested_sweep.py (a sweep config for `python -m scaling --config=...`) and
DIR/suggestion.json. N is counted under --n_convention; the sweep's points are non-embedding
targets, so keep the default there.
"""
import importlib
import pathlib

from absl import flags
from absl import logging
import numpy as np

from analysis.laws import forms
from analysis.table import observations as observations_lib
from analysis.table import seeds
from analysis.design import suggest as suggest_lib
from analysis.fitting import options as fit_options
from model import shapes
from records import atomic
from scaling import grid

_TARGET_FLOPS = flags.DEFINE_float("target_flops", None,
                                   "suggest: compute C (FLOPs) of the target prediction")
_BUDGET_FLOPS = flags.DEFINE_float("budget_flops", None,
                                   "suggest: total cost 6ND (FLOPs) of the suggested runs")
_BASE_SWEEP = flags.DEFINE_string("base_sweep", "configs/sweeps/tiny.py",
                                  "suggest: the sweep config the suggested points extend")
_MAX_RUNS = flags.DEFINE_integer("max_runs", 64, "suggest: at most this many runs")


def buildable_candidates(candidates: np.ndarray, base_sweep: str
                         ) -> tuple[np.ndarray, dict[int, int]]:
  """Candidates (N, D) with N moved to the non-embedding count of the shape that the base
  sweep's shape rule builds for it (N the rule cannot meet are dropped, duplicates merged),
  and for each such count the target N that builds it (the rule is not idempotent)."""
  try:
    sweep = importlib.import_module(suggest_lib.module_name(base_sweep)).get_config()
  except ImportError as error:
    raise ValueError(f"--base_sweep={base_sweep}: cannot import it ({error}); give a sweep "
                     "config under the repository root, e.g. configs/sweeps/tiny.py") from None
  rule = grid.shape_rule(sweep)
  targets = {}
  for target in np.unique(candidates[:, 0]):
    try:
      built = shapes.non_embedding_params(shapes.shape_for_params(int(target), rule))
    except ValueError:
      continue
    targets.setdefault(int(built), int(target))
  by_target = {target: built for built, target in targets.items()}
  rows = {(float(by_target[int(n)]), float(d)) for n, d in candidates if int(n) in by_target}
  if not rows:
    raise ValueError(f"no candidate size can be built by the shape rule of {base_sweep}; "
                     "choose another --base_sweep or raise --budget_flops")
  return np.array(sorted(rows)), targets


def run(table: observations_lib.Observations, out: str | None, *,
        options: fit_options.FitOptions, n_convention: str, c_convention: str
        ) -> suggest_lib.Suggestion:
  """Fits `options.law` to `table` under `options`, prints the suggested runs and writes them
  under `out` (when given)."""
  if _TARGET_FLOPS.value is None or _BUDGET_FLOPS.value is None:
    raise ValueError("suggest needs --target_flops=C and --budget_flops=B (FLOPs)")
  cleaned, warnings = table.clean()
  for warning in warnings:
    print("warning:", warning)
  groups = seeds.aggregate(cleaned)
  arrays = groups.observations.arrays(n=n_convention, c=c_convention)
  form = options.form()
  weights = options.weights(flops=arrays["c"], groups=groups)
  logging.info("fitting %s to %d run groups from %s", form.name, len(arrays["loss"]),
               table.source)
  fitted = fit_options.fit(
      options, forms.inputs_for(form, n=arrays["n"], d=arrays["d"], c=arrays["c"]),
      arrays["loss"], weights)
  for warning in fitted.warnings:
    print("warning:", warning)
  candidates, targets = buildable_candidates(
      suggest_lib.candidate_grid(arrays["n"], _BUDGET_FLOPS.value), _BASE_SWEEP.value)
  suggestion = suggest_lib.suggest(
      form, fitted.params, arrays["n"], arrays["d"], arrays["loss"],
      target_flops=_TARGET_FLOPS.value, budget_flops=_BUDGET_FLOPS.value, weights=weights,
      noise_log_sd=groups.pooled_log_sd, max_runs=_MAX_RUNS.value,
      candidates=candidates)
  print("fit:", ", ".join(f"{k}={v:.4g}" for k, v in fitted.params.items()))
  print(suggestion.table())
  if out:
    folder = pathlib.Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    snippet = suggest_lib.sweep_snippet(
        [(targets[n], d) for n, d in suggestion.points], _BASE_SWEEP.value,
        note=f"target C={suggestion.target_flops:.3g} FLOPs, budget "
             f"{suggestion.budget_flops:.3g} FLOPs, form {suggestion.form}")
    atomic.write_text_atomic(folder / "suggested_sweep.py", snippet)
    atomic.write_json_atomic(folder / "suggestion.json",
                             dict(suggestion.to_json(), fit=fitted.to_json()))
    print(f"wrote {folder}/suggested_sweep.py and {folder}/suggestion.json")
  return suggestion
