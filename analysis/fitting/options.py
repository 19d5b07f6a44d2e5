"""FitOptions, the one carrier of how to fit, and `fit` / `resample`, the one recipe using it.

Approach 3 (`analysis.report.law_fits`), the held-out extrapolation (`analysis.trust.extrapolate`),
the rollout (`analysis.trust.rollout`), the convention comparison (`analysis.report.conventions`)
and `suggest` (`analysis.design.suggest_cli`) all fit through `fit` and bootstrap through `resample`
under the same FitOptions, so that a law a report calls "Approach 3" and the rollout's
'chinchilla/huber' are one fit. A fit below a threshold (`train`) is the fit to all runs with weight
0 on the held-out ones (the shapes, and so the compiled search, of a fit to all runs) and bounds
from the training runs' losses. Losses are in nats/token, inputs in natural units (parameters,
tokens, FLOPs).
"""
from collections.abc import Mapping
import dataclasses

import numpy as np

from analysis.fitting import bootstrap as bootstrap_lib
from analysis.fitting import fit as fit_lib
from analysis.fitting import projection
from analysis.laws import catalogue
from analysis.laws import forms
from analysis.fitting import objectives
from analysis.table import seeds


SEARCHES = ("multistart", "projection")


@dataclasses.dataclass(frozen=True)
class FitOptions:
  """How every parametric law is fitted, and which laws the rollout compares.

  Attributes:
    law: the law as a `catalogue.get` spec: 'chinchilla', or with fixed or tied parameters, e.g.
      'chinchilla[E=1.69]' (E at a known entropy, nats/token) or 'chinchilla[beta=alpha]'.
      Approach 3 needs Chinchilla's L(N, D) (`approach3_form`); `suggest` takes any form.
    objective: the loss on log-loss residuals (Huber, floor or squared; `objectives.Objective`).
    bounded: fit inside `objectives.default_bounds` of the losses fitted (E at most the smallest
      of them, exponents in [0, 3]); False leaves every parameter free.
    weighting: observation weights, a `seeds.WEIGHT_KINDS` kind (uniform, compute,
      inverse_seed_variance).
    rollout_forms: `catalogue.get` specs of the laws the rollout compares on held-out runs.
    rollout_objectives: objective kinds the rollout compares (each with `objective`'s delta).
    rollout_split: 'c' (compute) or 'n' (parameters): the variable rollout thresholds apply to.
    rollout_thresholds: values of the split variable; None takes `rollout.default_thresholds`.
    rollout_resamples: bootstrap refits per rollout fit (warm-started, see
      `analysis.trust.rollout`).
    search: how a fit finds its minimum: 'multistart' (the form's start grid, pruned and
      polished: `analysis.fitting.multistart`) or 'projection' (a grid over the exponents with
      the coefficients solved for, then the same polish: `analysis.fitting.projection`; only
      for forms linear in their coefficients). Bootstrap refits (`resample`) always use the
      multi-start search, from the fit's survivors when warm-started.
  """
  law: str = "chinchilla"
  objective: objectives.Objective = objectives.Objective()
  bounded: bool = True
  weighting: str = "uniform"
  rollout_forms: tuple[str, ...] = ("chinchilla", "overtraining")
  rollout_objectives: tuple[str, ...] = ("huber",)
  rollout_split: str = "c"
  rollout_thresholds: tuple[float, ...] | None = None
  rollout_resamples: int = 100
  search: str = "multistart"

  def __post_init__(self):
    if self.search not in SEARCHES:
      raise ValueError(f"FitOptions.search={self.search!r} must be one of {SEARCHES}")

  def form(self) -> forms.Form:
    """The law's form (`catalogue.get(law)`; the same spec gives the same Form object)."""
    return catalogue.get(self.law)

  def approach3_form(self) -> forms.Form:
    """The Approach-3 form; a clear error unless it is Chinchilla's L(N, D), possibly with
    fixed or tied parameters."""
    form = self.form()
    if (form.root or form) is not catalogue.CHINCHILLA:
      raise ValueError(f"--law={self.law!r}: Approach 3 needs Chinchilla's L(N, D) form, "
                       "possibly with fixed or tied parameters, e.g. 'chinchilla[E=1.69]'")
    return form

  def weights(self, *, flops: np.ndarray | None = None,
              groups: seeds.SeedGroups | None = None) -> np.ndarray:
    """Per-row observation weights of `weighting`, mean 1 (`seeds.observation_weights`):
    `flops` (FLOPs per row) for compute weights, `groups` for inverse seed variances."""
    return seeds.observation_weights(self.weighting, flops=flops, groups=groups)

  def bounds(self, form: forms.Form, loss: np.ndarray) -> objectives.Bounds | None:
    """`objectives.default_bounds(form, loss)` of the losses fitted (nats/token) when
    `bounded`, else None (every parameter free)."""
    return objectives.default_bounds(form, loss) if self.bounded else None

  def rollout_candidates(self) -> list["FitOptions"]:
    """The rollout's form x objective pairs as FitOptions: `law` one of `rollout_forms`, the
    objective `objective` with one of `rollout_objectives`' kinds; bounds and weighting as
    here."""
    return [dataclasses.replace(self, law=spec,
                                objective=dataclasses.replace(self.objective, kind=kind))
            for spec in self.rollout_forms for kind in self.rollout_objectives]

  def to_json(self) -> dict:
    return dict(law=self.law, objective=self.objective.to_json(), bounded=self.bounded,
                weighting=self.weighting, rollout_forms=list(self.rollout_forms),
                rollout_objectives=list(self.rollout_objectives),
                rollout_split=self.rollout_split, rollout_resamples=self.rollout_resamples,
                search=self.search)


def _subset(train: np.ndarray | None, inputs: Mapping[str, np.ndarray], loss: np.ndarray,
            weights: np.ndarray) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray]:
  """The inputs, losses and weights of the runs where `train` (all runs for None)."""
  inputs = {name: np.asarray(values) for name, values in inputs.items()}
  loss, weights = np.asarray(loss, np.float64), np.asarray(weights, np.float64)
  if train is None:
    return inputs, loss, weights
  train = np.asarray(train, bool)
  return {name: values[train] for name, values in inputs.items()}, loss[train], weights[train]


def fit(options: FitOptions, inputs: Mapping[str, np.ndarray], loss: np.ndarray,
        weights: np.ndarray, *, form: forms.Form | None = None,
        train: np.ndarray | None = None) -> fit_lib.FitResult:
  """The law fitted as `options` say: `form` (default `options.form()`) with
  `options.objective`, inside `options.bounds` of the losses fitted, with `weights`, by the
  search `options.search`.

  Args:
    options: how to fit.
    inputs: the form's inputs per run, natural units (`forms.inputs_for`).
    loss: observed loss per run, nats/token.
    weights: observation weight per run, `options.weights(...)` of the whole table.
    form: the law, when not `options.law` (e.g. a side fit beside Approach 3).
    train: boolean mask of the runs to fit (default all); the others weigh 0.

  Returns:
    The FitResult; its `criterion` and `bounds` are the objective and bounds used.
  """
  form = options.form() if form is None else form
  loss, weights = np.asarray(loss, np.float64), np.asarray(weights, np.float64)
  if train is not None:
    train = np.asarray(train, bool)
    weights = weights * train
  bounds = options.bounds(form, loss if train is None else loss[train])
  search = projection.fit if options.search == "projection" else fit_lib.fit
  return search(form, inputs, loss, objective=options.objective, bounds=bounds, weights=weights)


def resample(fitted: fit_lib.FitResult, inputs: Mapping[str, np.ndarray], loss: np.ndarray,
             weights: np.ndarray, *, n_resamples: int, level: float, seed: int,
             train: np.ndarray | None = None, warm_start: bool = False,
             groups: np.ndarray | None = None) -> bootstrap_lib.BootstrapResult:
  """Bootstrap refits of `fitted` (a `fit` result) on the runs it fitted (`train`, default
  all): its form, objective and bounds, the same `weights` per run, percentile intervals at
  `level`; `warm_start` starts every refit from the fit's survivors instead of the form's
  start grid (see `analysis.trust.rollout`). `groups` (a label per run, e.g.
  `Observations.bootstrap_blocks`) resamples whole groups, a block bootstrap."""
  if groups is not None and train is not None:
    groups = np.asarray(groups)[np.asarray(train, bool)]
  inputs, loss, weights = _subset(train, inputs, loss, weights)
  return bootstrap_lib.bootstrap(
      fitted.form, inputs, loss, n_resamples=n_resamples, level=level, seed=seed,
      objective=fitted.criterion, bounds=fitted.bounds, weights=weights,
      init_grid=fitted.survivors if warm_start else None, groups=groups)
