"""Intermediate checkpoints as observations: every evaluated checkpoint of a training curve a row.

A `CheckpointTable` holds one row per checkpoint in the one schema of the analysis
(`observations.Observations`), with two conventions on its columns:
  * `trunk_id` names the training curve the row was evaluated on (for a WSD branch, its trunk:
    the branch's points share the trunk's noise). Points of one curve are correlated, so
    `Observations.bootstrap_blocks` resamples whole curves, and the `per_curve` weights
    (`seeds.observation_weights`) give every curve the same total weight;
  * `run_id` is '<curve>@<tokens>', one per row, so that `Observations.clean` keeps every
    checkpoint as a point of its own.
Beside the rows it carries, per row, `fraction`: the tokens seen over the tokens of the curve's
learning-rate schedule, in (0, 1]; and `final`: whether the row ends its schedule (fraction 1: a
completed run's final loss, or a WSD branch after its decay).

A recipe (`RECIPES`) says which rows become data points:
  * `final`: the final rows only (one point per run: the fit without checkpoints), weighted as
    the fit's options say;
  * `hitchhiker`: Choshen et al. 2025 ("A Hitchhiker's Guide to Scaling Law Estimation", ICML
    2025): every checkpoint past the first 10% of its curve's tokens, and the final rows, with
    every curve weighted equally (`per_curve`).
Post-decay checkpoints (WSD branches, `from_sweep`) are final rows, and so points under every
recipe. Of rows at the same N, D and seed (checkpoints of schedules of different lengths passing
the same token count) a recipe keeps the one furthest through its schedule: a point where a
schedule ended is the better measure of L(N, D) than a checkpoint in mid-schedule.

Loaders of published curves are in `analysis.table.published_curves`; the rollout that scores a
recipe on final losses is `analysis.trust.checkpoint_record`.
"""
import dataclasses
import pathlib

import numpy as np

from analysis.table import observations as observations_lib
from records import results_csv

Column = results_csv.Column
# results.csv schedules whose rows are taken after their learning rate has decayed.
POST_DECAY_SCHEDULES = ("wsd", "wsd_branch")


@dataclasses.dataclass(frozen=True)
class Recipe:
  """Which checkpoints become points, and how they are weighted.

  Attributes:
    name: the recipe's name, a key of `RECIPES`.
    min_fraction: keep checkpoints at or past this fraction of their curve's schedule tokens;
      None keeps final rows only.
    weighting: the fit's observation weights, a `seeds.WEIGHT_KINDS` kind; None leaves the
      fit's own (`FitOptions.weighting`).
  """
  name: str
  min_fraction: float | None
  weighting: str | None


RECIPES = {
    "final": Recipe("final", min_fraction=None, weighting=None),
    "hitchhiker": Recipe("hitchhiker", min_fraction=0.1, weighting="per_curve"),
}


def recipe(name: str) -> Recipe:
  """The recipe called `name`; a ValueError naming the known ones otherwise."""
  if name not in RECIPES:
    raise ValueError(f"checkpoint recipe {name!r} is unknown; use one of {list(RECIPES)}")
  return RECIPES[name]


@dataclasses.dataclass(frozen=True)
class CheckpointTable:
  """Every checkpoint of a set of training curves (see the module docstring).

  Attributes:
    observations: one row per checkpoint; `trunk_id` the curve, `run_id` '<curve>@<tokens>'.
    fraction: (rows,) tokens seen / tokens of the curve's schedule, in (0, 1].
    final: (rows,) the row ends its curve's schedule.
  """
  observations: observations_lib.Observations
  fraction: np.ndarray
  final: np.ndarray

  def __len__(self) -> int:
    return len(self.observations)

  @classmethod
  def from_columns(cls, *, curve: list[str], n_total: np.ndarray, d: np.ndarray,
                   loss: np.ndarray, fraction: np.ndarray,
                   n_non_embedding: np.ndarray | None = None,
                   seed: list | None = None, source: str = "") -> "CheckpointTable":
    """A table from one entry per checkpoint: its `curve` label, N (parameters), D (tokens
    seen), loss (nats/token) and `fraction` of its schedule; `final` is fraction == 1.

    Raises:
      ValueError: a fraction outside (0, 1], or a curve without a final row.
    """
    fraction = np.asarray(fraction, np.float64)
    if not np.all((fraction > 0) & (fraction <= 1)):
      raise ValueError(f"{source}: checkpoint fractions must lie in (0, 1] (tokens seen over "
                       "the schedule's tokens); drop rows past their schedule's end")
    curve = np.asarray(curve, dtype=object)
    final = fraction == 1
    unfinished = sorted(set(curve) - set(curve[final]))
    if unfinished:
      raise ValueError(f"{source}: curves {unfinished[:5]} have no final checkpoint "
                       "(fraction 1); leave out curves that did not finish their schedule")
    d = np.asarray(d, np.float64)
    table = observations_lib.Observations.from_columns(
        run_id=[f"{c}@{tokens:.0f}" for c, tokens in zip(curve, d)], n_total=n_total,
        n_non_embedding=n_non_embedding, d=d, loss=loss, seed=seed, trunk_id=list(curve),
        source=source)
    return cls(observations=table, fraction=fraction, final=final)

  def curves(self) -> np.ndarray:
    """(rows,) the curve of each row."""
    return self.observations.trunk_id

  def rows(self, name: str) -> np.ndarray:
    """Indices of the rows recipe `name` keeps, ascending (see the module docstring)."""
    chosen = recipe(name)
    keep = self.final.copy()
    if chosen.min_fraction is not None:
      keep |= self.fraction >= chosen.min_fraction
    table = self.observations
    best: dict[tuple[float, float, float, int], int] = {}
    for index in np.flatnonzero(keep):
      key = (table.n_total[index], table.n_non_embedding[index], table.d[index],
             table.seed[index])
      if key not in best or self.fraction[index] > self.fraction[best[key]]:
        best[key] = index
    return np.array(sorted(best.values()), dtype=np.int64)

  def select(self, name: str) -> observations_lib.Observations:
    """The rows recipe `name` keeps, as Observations (fit them with the recipe's weighting,
    `recipe(name).weighting`)."""
    return self.observations.select(self.rows(name))

  def targets(self, name: str) -> np.ndarray:
    """(rows of `select(name)`,) whether each kept row is a final one: the held-out
    predictions a rollout scores."""
    return self.final[self.rows(name)]


def from_sweep(path: str | pathlib.Path) -> CheckpointTable:
  """The checkpoints of a sweep's results.csv (`records.results_csv`).

  A WSD branch (schedule 'wsd' or 'wsd_branch') is taken after its decay: its final loss is one
  final row, on the curve of its trunk (`trunk_id`; a WSD run from scratch is its own curve).
  Any other completed run contributes every eval point of its `curve_path` (metrics.jsonl,
  `observations.load_curve`) on a curve of its own; its fraction is tokens / the run's tokens,
  and its last row is the run's final eval loss. Diverged runs are left out.

  Raises:
    ValueError: a run's curve is missing, or does not end at the run's tokens.
  """
  path = pathlib.Path(path)
  runs = observations_lib.Observations.from_results_csv(path)
  table = results_csv.read_results(path)
  schedules = (table.values(Column.SCHEDULE) if Column.SCHEDULE in table.header
               else [None] * len(runs))
  columns = {name: [] for name in ("curve", "n_total", "n_non_embedding", "d", "loss",
                                   "fraction", "seed")}

  def add(curve: str, index: int, tokens: np.ndarray, losses: np.ndarray) -> None:
    columns["curve"] += [curve] * tokens.size
    columns["n_total"] += [runs.n_total[index]] * tokens.size
    columns["n_non_embedding"] += [runs.n_non_embedding[index]] * tokens.size
    columns["d"] += list(tokens)
    columns["loss"] += list(losses)
    columns["fraction"] += list(tokens / runs.d[index])
    columns["seed"] += [runs.seed[index]] * tokens.size

  for index in np.flatnonzero(runs.status == observations_lib.COMPLETED):
    run_id, final = str(runs.run_id[index]), (np.array([runs.d[index]]),
                                              np.array([runs.loss[index]]))
    if schedules[index] in POST_DECAY_SCHEDULES:
      add(str(runs.trunk_id[index]) or run_id, index, *final)
      continue
    if not runs.curve_path[index]:
      raise ValueError(f"{path}: run {run_id} has no curve_path; rerun `python -m scaling` to "
                       "rebuild results.csv, or fit without checkpoints (--checkpoints=final)")
    tokens, losses = observations_lib.load_curve(runs.curve_path[index])
    if tokens.size == 0 or tokens[-1] != runs.d[index]:
      raise ValueError(f"{path}: the curve of run {run_id} ({runs.curve_path[index]}) does not "
                       f"end at its {runs.d[index]:.0f} tokens; check that the run finished")
    earlier = tokens < runs.d[index]
    add(run_id, index, np.concatenate([tokens[earlier], final[0]]),
        np.concatenate([losses[earlier], final[1]]))
  return CheckpointTable.from_columns(**columns, source=str(path))


def curve_split(split: np.ndarray, tokens: np.ndarray, curves: np.ndarray
                ) -> tuple[np.ndarray, np.ndarray]:
  """(split value of each point's curve, whether the point is its curve's last), for points
  labelled by the curve they are checkpoints of (`curves`, e.g. `trunk_id`) with their `tokens`:
  a curve's split value (C or N) is that of its point with the most tokens, so that a split by
  it keeps every curve on one side."""
  curves = np.asarray(curves).reshape(-1)
  if curves.size != split.size:
    raise ValueError(f"curves has {curves.size} labels for {split.size} runs")
  _, curve_of = np.unique(curves, return_inverse=True)
  last = np.full(curve_of.max() + 1, -1)
  for index in np.argsort(tokens, kind="stable"):
    last[curve_of[index]] = index
  targets = np.zeros(split.size, dtype=bool)
  targets[last] = True
  return split[last][curve_of], targets
