"""The types every analysis step shares: its settings (`Settings`), the prepared runs it reads
(`Prepared`), what it produces (`Outcome`) and the step itself (`Step`). Numbers: parameters
(count), tokens, FLOPs, loss in nats/token.
"""
from collections.abc import Callable, Mapping
import dataclasses
from typing import Any, NamedTuple

import numpy as np

from analysis.fitting import options as options_lib
from analysis.table import observations as observations_lib
from analysis.table import seeds


@dataclasses.dataclass(frozen=True)
class Settings:
  """How an analysis runs; see `pipeline.analyse`.

  Attributes:
    n_resamples: bootstrap resamples per law (each a full refit).
    level: the level of every interval, in (0, 1).
    holdout_flops: the held-out extrapolation's threshold (FLOPs); None takes
      `extrapolate.default_threshold`.
    holdout_gap: the extrapolation fits the runs with C < holdout_flops / holdout_gap, so each
      held-out run has at least this factor x the largest training compute (1: no gap).
    nominal_budgets: IsoFLOP budgets (FLOPs) the runs are grouped to; None infers them.
    tolerance_decades: the IsoFLOP grouping's tolerance, decades of C.
    parabola_window: Approach 2 fits each budget's parabola to this many sizes on each side of
      its lowest loss (`isoflop.approach2`'s window); None fits every size (Hoffmann et al.).
    table_flops: the allocation table's budgets (FLOPs); None takes the largest observed C
      times 1, 10, 100 and 1000 (`table_budgets`).
    kaplan: also fit Kaplan et al.'s L(N, D) (Eq. 1.5).
    single_variable: also fit L(N), L(D), L(C) on the lower envelopes of the final losses.
    seed: the bootstrap seed.
    fit_options: how every parametric law is fitted (`analysis.fitting.options`).
    checkpoints: the rows are checkpoints of training curves (`analysis.table.checkpoints`,
      trunk_id the curve): the rollout keeps each curve whole on one side of a threshold and
      predicts the curves' last points only; the held-out extrapolation fits no curve with a
      held-out row.
  """
  n_resamples: int = 1000
  level: float = 0.95
  holdout_flops: float | None = None
  holdout_gap: float = 1.0
  nominal_budgets: list[float] | None = None
  tolerance_decades: float = 0.05
  parabola_window: int | None = None
  table_flops: list[float] | None = None
  kaplan: bool = True
  single_variable: bool = True
  seed: int = 0
  fit_options: options_lib.FitOptions = options_lib.FitOptions()
  checkpoints: bool = False

  def budgets(self) -> dict[str, Any]:
    """The IsoFLOP grouping's keywords: `nominal` budgets (FLOPs) and `tolerance_decades`."""
    return dict(nominal=self.nominal_budgets, tolerance_decades=self.tolerance_decades)

  def resampling(self) -> dict[str, Any]:
    """The bootstrap's keywords: `n_resamples`, `level` and `seed`."""
    return dict(n_resamples=self.n_resamples, level=self.level, seed=self.seed)


@dataclasses.dataclass(frozen=True)
class Prepared:
  """The runs every step reads (`pipeline.prepare`).

  Attributes:
    source: where the observations came from.
    n_runs: the number of observations before cleaning.
    clean: the usable runs, those that differ only in seed averaged (`seeds.aggregate`).
    groups: the seed groups behind `clean`, with the pooled seed sd of log loss.
    runs: `clean.arrays` under `conventions`: n (parameters), d (tokens), c (FLOPs) and loss
      (nats/token), one entry per row of `clean`.
    conventions: {'n': the N convention, 'c': the C convention}.
    weights: the observation weight of each row of `clean` (`FitOptions.weights`), mean 1.
    warnings: what cleaning and averaging reported.
    known_floor: the runs' validation floor (nats/token) where the corpus knows it, else None.
  """
  source: str
  n_runs: int
  clean: observations_lib.Observations
  groups: seeds.SeedGroups
  runs: dict[str, np.ndarray]
  conventions: dict[str, str]
  weights: np.ndarray
  warnings: tuple[str, ...]
  known_floor: float | None = None

  def skipped(self, reason: str) -> dict[str, Any]:
    """The block of a step skipped for `reason`, under these conventions."""
    return dict(skipped=reason, conventions=self.conventions)


class Outcome(NamedTuple):
  """What one step produced: `result` (for the figures; None when there is none), its
  fits.json `block`, and the warning lines it adds to the report, in order."""
  result: Any
  block: Any
  warnings: tuple[str, ...] | list[str] = ()


Done = Mapping[str, Outcome]


@dataclasses.dataclass(frozen=True)
class Step:
  """One named step of an analysis.

  Attributes:
    name: the key of its block in the summary, and of its outcome in `done`.
    run: (data, settings, done) -> Outcome.
    label: a side step's name in the warning of its failure; None for a step whose failure
      is the analysis's (Approach 3, and the steps that only assemble numbers).
    on_failure: (the failure's reason, data) -> the block of a side step that failed.
    enabled: whether the settings ask for the step at all (its block is absent when not).
  """
  name: str
  run: Callable[[Prepared, Settings, Done], Outcome]
  label: str | None = None
  on_failure: Callable[[str, Prepared], Any] = lambda reason, data: data.skipped(reason)
  enabled: Callable[[Settings], bool] = lambda settings: True
