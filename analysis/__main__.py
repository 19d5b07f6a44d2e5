"""Fit scaling laws to a sweep or a published table and write fits.json, figures and a report.

  python -m analysis fit --results=SWEEP/results.csv --out=DIR
  python -m analysis fit --data=FILE.csv --columns=n:COL,d:COL,loss:COL --out=DIR
  python -m analysis fit --data=svg_extracted_data.csv \\
      --columns="n:Model Size,c:Training FLOP,loss:loss" --drop_highest=5 --n_convention=total \\
      --budgets=6e18,1e19,3e19,6e19,1e20,3e20,6e20,1e21,3e21 --budget_tolerance=0.06 --out=DIR

  python -m analysis suggest --results=SWEEP/results.csv --target_flops=C --budget_flops=B \\
      [--out=DIR] [--base_sweep=configs/sweeps/tiny.py]   (see analysis/design/suggest_cli.py)

  python -m analysis fit --data=../shared/data/gadre2024_overtraining/models_flat.csv \\
      --columns=n:params,d:tokens,loss:loss_openlm --where=dataset:c4_original \\
      --rollout_split=n --out=DIR

  python -m analysis fit --dataset=misfitting2025 --checkpoints=hitchhiker --out=DIR
  python -m analysis fit --results=SWEEP/results.csv --checkpoints=hitchhiker --out=DIR

`c:COL` instead of `d:COL` derives D = C / (6 N); `budget:COL` names each run's IsoFLOP budget.
`--checkpoints=RECIPE` fits intermediate checkpoints as points (analysis/table/checkpoints.py):
of a published set of curves (`--dataset`, analysis/table/published_curves.py) or of each run's
eval curve in a sweep; every bootstrap resamples whole curves.
Bad data or options end as one line `error: ...` on stderr and exit code 2 (`records.cli`).
"""

from absl import flags
from absl import logging

from analysis.fitting import objectives
from analysis.table import checkpoints
from analysis.table import observations
from analysis.table import published_curves
from analysis.report import document as report
from analysis.table import seeds
from analysis.design import suggest_cli
from analysis.fitting import options as fit_options
from records import cli
from training import compilation

_DATA = flags.DEFINE_string("data", None, "any CSV of runs; needs --columns")
_COLUMNS = flags.DEFINE_string(
    "columns", None, "field:COLUMN pairs: n (or n_total and n_non_embedding), d or c, loss; "
    "optional run_id, seed, status, budget")
_WHERE = flags.DEFINE_string("where", None, "COLUMN:VALUE pairs: keep only the CSV rows "
                             "holding these values, e.g. dataset:c4_original or "
                             "peak_learning_rate:0.003")
_RESULTS = flags.DEFINE_string("results", None, "a sweep's results.csv")
_DATASET = flags.DEFINE_enum("dataset", None, list(published_curves.LOADERS),
                             "a published set of training curves in --shared_data, read as "
                             "checkpoints (analysis/table/published_curves.py)")
_SHARED_DATA = flags.DEFINE_string("shared_data", "../shared/data",
                                   "the folder of published datasets --dataset reads")
_CHECKPOINTS = flags.DEFINE_enum(
    "checkpoints", None, list(checkpoints.RECIPES), "fit checkpoints of each curve as points "
    "(--results or --dataset): final (one point per run, the default of --dataset) or "
    "hitchhiker (Choshen et al. 2025: past the first 10% of each curve's tokens, each curve "
    "weighted equally); the bootstrap resamples whole curves")
_OUT = flags.DEFINE_string("out", None, "output folder for fits.json, PNGs and report.md")
_N_CONVENTION = flags.DEFINE_enum("n_convention", "non_embedding",
                                  list(observations.N_CONVENTIONS), "parameter count used as N")
_C_CONVENTION = flags.DEFINE_enum("c_convention", "6nd", list(observations.C_CONVENTIONS),
                                  "compute: 6 N D, or the sweep's exact FLOPs")
_BOOTSTRAP = flags.DEFINE_integer("bootstrap", 1000, "bootstrap resamples (each a full refit)")
_LEVEL = flags.DEFINE_float("level", 0.95, "interval level")
_HOLDOUT = flags.DEFINE_float(
    "holdout_flops", None, "fit runs below this compute (FLOPs), predict those above; default: "
    "the largest budget when there are >= 3")
_HOLDOUT_GAP = flags.DEFINE_float(
    "holdout_gap", 1.0, "fit the runs below holdout_flops / holdout_gap, so that every held-out "
    "run has at least this factor x the largest training compute")
_DROP_HIGHEST = flags.DEFINE_integer("drop_highest", 0,
                                     "drop the K highest-loss runs (Besiroglu et al. drop 5)")
_BUDGETS = flags.DEFINE_list("budgets", None, "nominal IsoFLOP budgets in FLOPs (1e19,3e19,...)")
_TOLERANCE = flags.DEFINE_float("budget_tolerance", 0.05,
                                "IsoFLOP grouping tolerance, decades of C")
_PARABOLA_WINDOW = flags.DEFINE_integer(
    "parabola_window", 0, "Approach 2: fit each budget's parabola to this many sizes on each "
    "side of its lowest loss (1 or 2 reproduce Porian et al. 2024); 0 fits every size")
_TABLE_FLOPS = flags.DEFINE_list("table_flops", None,
                                 "budgets (FLOPs) for the allocation table; default: the "
                                 "largest observed C times 1, 10, 100, 1000")
_KAPLAN = flags.DEFINE_bool("kaplan", True, "also fit Kaplan et al.'s L(N, D) (Eq. 1.5)")
_SINGLE_VARIABLE = flags.DEFINE_bool("single_variable", True,
                                     "also fit L(N), L(D), L(C) on the loss frontiers")
_SEED = flags.DEFINE_integer("seed", 0, "bootstrap seed")
_LAW = flags.DEFINE_string("law", "chinchilla", "the law fitted, with fixed or tied parameters "
                           "in brackets: for fit Approach 3's L(N, D), chinchilla[E=1.69] or "
                           "chinchilla[beta=alpha]; for suggest any form, e.g. overtraining")
_OBJECTIVE = flags.DEFINE_enum("objective", "huber", list(objectives.KINDS),
                               "loss on log-loss residuals of every fit (fit and suggest)")
_DELTA = flags.DEFINE_float("delta", 1e-3, "Huber threshold on log-loss residuals")
_OVER_WEIGHT = flags.DEFINE_float("over_weight", 10.0,
                                  "floor objective: weight of over-predictions")
_BOUNDED = flags.DEFINE_bool("bounded", True, "fit inside E <= smallest loss and exponents "
                             "in [0, 3]; --nobounded leaves the parameters free")
_SEARCH = flags.DEFINE_enum("search", "multistart", list(fit_options.SEARCHES),
                            "how every fit finds its minimum: the multi-start grid, or variable "
                            "projection (forms linear in their coefficients only)")
_WEIGHTS = flags.DEFINE_enum("weights", "uniform", list(seeds.WEIGHT_KINDS),
                             "observation weights of every fit")
_ROLLOUT_FORMS = flags.DEFINE_list("rollout_forms", ["chinchilla", "overtraining"],
                                   "laws compared on held-out runs (catalogue.get specs)")
_ROLLOUT_OBJECTIVES = flags.DEFINE_list("rollout_objectives", ["huber"],
                                        f"objectives compared by the rollout, of {objectives.KINDS}")
_ROLLOUT_SPLIT = flags.DEFINE_enum("rollout_split", "c", ["c", "n"],
                                   "rollout thresholds on compute C or parameters N")
_ROLLOUT_THRESHOLDS = flags.DEFINE_list("rollout_thresholds", None,
                                        "rollout thresholds (FLOPs or parameters); default: the "
                                        "split variable's distinct values that leave enough runs")
_ROLLOUT_RESAMPLES = flags.DEFINE_integer("rollout_resamples", 100,
                                          "bootstrap refits per rollout fit")


def _load() -> observations.Observations:
  if sum(flag.value is not None for flag in (_DATA, _RESULTS, _DATASET)) != 1:
    raise cli.UsageError("pass exactly one of --data=FILE.csv (with --columns), "
                         "--results=SWEEP/results.csv or --dataset=NAME")
  recipe = _recipe()
  if recipe is not None:
    if _WHERE.value:
      raise cli.UsageError("--where does not apply with --checkpoints or --dataset; select "
                           "the runs in the results.csv instead")
    table = (published_curves.load(_DATASET.value, _SHARED_DATA.value)
             if _DATASET.value is not None else checkpoints.from_sweep(_RESULTS.value))
    return table.select(recipe.name)
  where = observations.parse_where(_WHERE.value) if _WHERE.value else None
  if _RESULTS.value is not None:
    return observations.Observations.from_results_csv(_RESULTS.value, where=where)
  if not _COLUMNS.value:
    raise cli.UsageError("--data needs --columns=n:COL,d:COL,loss:COL (or c:COL for FLOPs)")
  return observations.Observations.from_csv(
      _DATA.value, observations.parse_columns(_COLUMNS.value), where=where)


def _floats(flag: flags.FlagHolder) -> list[float] | None:
  """A list flag's values as floats (FLOPs); None when unset."""
  if not flag.value:
    return None
  try:
    return [float(value) for value in flag.value]
  except ValueError:
    raise cli.UsageError(f"--{flag.name}={','.join(flag.value)}: write numbers such as "
                         "1e19,3e19") from None


def _recipe() -> checkpoints.Recipe | None:
  """The checkpoint recipe of --checkpoints (default final with --dataset); None without."""
  name = _CHECKPOINTS.value or ("final" if _DATASET.value is not None else None)
  if name is not None and _DATA.value is not None:
    raise cli.UsageError("--checkpoints needs each run's curve: pass --results=SWEEP/results.csv "
                         "or --dataset=NAME instead of --data")
  return None if name is None else checkpoints.recipe(name)


def _weighting() -> str:
  """--weights, or the checkpoint recipe's weighting when it names one."""
  recipe = _recipe()
  if recipe is None or recipe.weighting is None:
    return _WEIGHTS.value
  if _WEIGHTS.present and _WEIGHTS.value != recipe.weighting:
    raise cli.UsageError(f"--weights={_WEIGHTS.value}: --checkpoints={recipe.name} weights "
                         f"{recipe.weighting}; drop --weights")
  return recipe.weighting


def _fit_options() -> fit_options.FitOptions:
  """How `fit` and `suggest` fit: every fit of either command takes these options."""
  return fit_options.FitOptions(
      law=_LAW.value,
      objective=objectives.Objective(kind=_OBJECTIVE.value, delta=_DELTA.value,
                                     over_weight=_OVER_WEIGHT.value),
      bounded=_BOUNDED.value, weighting=_weighting(),
      rollout_forms=tuple(_ROLLOUT_FORMS.value), rollout_objectives=tuple(_ROLLOUT_OBJECTIVES.value),
      rollout_split=_ROLLOUT_SPLIT.value,
      rollout_thresholds=(tuple(_floats(_ROLLOUT_THRESHOLDS))
                          if _ROLLOUT_THRESHOLDS.value else None),
      rollout_resamples=_ROLLOUT_RESAMPLES.value, search=_SEARCH.value)


def main(argv: list[str]) -> None:
  """`fit` or `suggest`; bad data or options raise ValueError (one line, exit 2 via cli.run)."""
  if argv[1:] == ["suggest"]:
    suggest_cli.run(_load(), _OUT.value, options=_fit_options(),
                    n_convention=_N_CONVENTION.value, c_convention=_C_CONVENTION.value)
    return
  if argv[1:] != ["fit"]:
    raise cli.UsageError(f"usage: python -m analysis fit --out=DIR ... (or suggest); got "
                         f"{argv[1:]}")
  if not _OUT.value:
    raise cli.UsageError("--out=DIR is required")
  report.remove_outputs(_OUT.value)  # whatever fails below, no earlier report looks current
  compilation.enable(compilation.CACHE_DIR.value, min_compile_seconds=1.0)
  options = _fit_options()
  table = _load().drop_highest(_DROP_HIGHEST.value)
  logging.info("fitting %d runs from %s", len(table), table.source)
  summary = report.build(
      table, _OUT.value, n_convention=_N_CONVENTION.value, c_convention=_C_CONVENTION.value,
      n_resamples=_BOOTSTRAP.value, level=_LEVEL.value, holdout_flops=_HOLDOUT.value,
      holdout_gap=_HOLDOUT_GAP.value,
      nominal_budgets=_floats(_BUDGETS), tolerance_decades=_TOLERANCE.value,
      parabola_window=_PARABOLA_WINDOW.value or None,
      table_flops=_floats(_TABLE_FLOPS), kaplan=_KAPLAN.value,
      single_variable=_SINGLE_VARIABLE.value, seed=_SEED.value, fit_options=options,
      checkpoints=_recipe() is not None)
  params = summary["approach3"]["params"]
  identifiable = "" if summary["approach3"]["identifiable"] else " (NOT identifiable)"
  print(f"approach 3{identifiable}:", ", ".join(f"{k}={v:.4g}" for k, v in params.items()))
  if "recommendation" in summary["rollout"]:
    print("rollout:", summary["rollout"]["recommendation"]["statement"])
  for warning in summary["warnings"]:
    print("warning:", warning)
  print(f"wrote {_OUT.value}/fits.json, {_OUT.value}/report.md and "
        f"{len(summary['figures'])} figures")


if __name__ == "__main__":
  cli.run(main)
