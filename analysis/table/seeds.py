"""Repeated seeds: aggregate runs that differ only in seed, and observation weights for fits.

Runs belong to one group when every column of `observations.Observations` other than the run
id, the seed, the loss, the curve path, the trunk and the FLOPs spent agrees: N (total and
non-embedding), D (tokens), the exact FLOPs, the nominal budget and the status. A group becomes
one row whose loss is the mean loss of its members (nats/token), whose trunk_id joins its
members' trunks (so points whose seeds share trunks still share a bootstrap block) and whose
flops_spent is their sum.

Seed spread is measured in log space, the space of the fit's residuals
(r = log predicted loss - log observed loss): a group's `log_loss_std` is the sample standard
deviation (ddof=1) of log(loss) over its seeds, and the pooled seed sd is

  s_pooled = sqrt(sum_g (n_g - 1) s_g^2 / sum_g (n_g - 1))

over the groups with n_g >= 2 seeds. It is the run-to-run noise of one run's log loss; the
noise of a group's mean is s^2 / n_g.

`Observations.clean()` merges a row identical to an earlier one and refuses one with the same
N, D and seed but another loss; `aggregate` refuses such rows instead of counting them as extra
seeds, so clean first.
"""
import collections
import dataclasses

import numpy as np

from analysis.table import observations as observations_lib


WEIGHT_KINDS = ("uniform", "compute", "inverse_seed_variance", "per_curve")
# A group's run ids are joined with this separator in the aggregated table's run_id.
RUN_ID_SEPARATOR = "+"


@dataclasses.dataclass(frozen=True)
class SeedGroups:
  """Runs aggregated over seeds, one entry per group, in order of each group's first run.

  Attributes:
    observations: one row per group: mean loss (nats/token), run_id the members' ids joined
      by '+', seed the member's seed for a single-seed group and -1 otherwise, trunk_id the
      members' trunks joined by '+', flops_spent their sum, curve_path and every other column
      from the group's first run.
    members: per group, the row indices of its runs in the input table.
    n_seeds: (groups,) runs per group.
    loss_std: (groups,) sample sd (ddof=1) of the loss, nats/token; NaN for one seed.
    log_loss_std: (groups,) sample sd (ddof=1) of log(loss); NaN for one seed.
    pooled_log_sd: pooled log-space seed sd over groups with >= 2 seeds; None when none has 2.
  """
  observations: observations_lib.Observations
  members: tuple[np.ndarray, ...]
  n_seeds: np.ndarray
  loss_std: np.ndarray
  log_loss_std: np.ndarray
  pooled_log_sd: float | None


def _group_key(table: observations_lib.Observations, index: int) -> tuple:
  def number(value: float) -> float | str:
    return "nan" if np.isnan(value) else float(value)
  return (number(table.n_total[index]), number(table.n_non_embedding[index]),
          number(table.d[index]), number(table.flops_exact[index]),
          number(table.budget[index]), str(table.status[index]))


def aggregate(observations: observations_lib.Observations) -> SeedGroups:
  """Groups runs that differ only in seed; mean loss per group and the seed spread.

  Raises:
    ValueError: on an empty table, or when two runs of a group share a seed (duplicates that
      `Observations.clean()` removes).
  """
  if len(observations) == 0:
    raise ValueError("aggregate: the observations table is empty")
  groups = collections.defaultdict(list)
  for index in range(len(observations)):
    groups[_group_key(observations, index)].append(index)
  members = tuple(np.array(indices) for indices in groups.values())
  for indices in members:
    seeds = observations.seed[indices]
    if len(set(seeds.tolist())) != seeds.size:
      ids = ", ".join(str(run_id) for run_id in observations.run_id[indices])
      raise ValueError(f"aggregate: runs {ids} share N, D and a seed; call "
                       "Observations.clean() first (it merges identical rows and names "
                       "clashing ones)")
  first = np.array([indices[0] for indices in members])
  n_seeds = np.array([indices.size for indices in members])
  mean_loss = np.array([observations.loss[indices].mean() for indices in members])

  def spread(values: np.ndarray) -> float:
    return float(np.std(values, ddof=1)) if values.size > 1 else float("nan")

  loss_std = np.array([spread(observations.loss[indices]) for indices in members])
  log_loss_std = np.array([spread(np.log(observations.loss[indices])) for indices in members])
  repeated = n_seeds >= 2
  pooled = None
  if np.any(repeated):
    pooled = float(np.sqrt(np.sum((n_seeds[repeated] - 1) * log_loss_std[repeated]**2)
                           / np.sum(n_seeds[repeated] - 1)))
  table = observations.select(first)
  table = dataclasses.replace(
      table, loss=mean_loss,
      run_id=np.array([RUN_ID_SEPARATOR.join(str(r) for r in observations.run_id[indices])
                       for indices in members], dtype=object),
      seed=np.where(n_seeds == 1, observations.seed[first], -1).astype(np.int64),
      trunk_id=np.array([RUN_ID_SEPARATOR.join(str(t) for t in observations.trunk_id[indices]
                                               if t) for indices in members], dtype=object),
      flops_spent=np.array([observations.flops_spent[indices].sum() for indices in members]))
  return SeedGroups(observations=table, members=members, n_seeds=n_seeds, loss_std=loss_std,
                    log_loss_std=log_loss_std, pooled_log_sd=pooled)


def observation_weights(kind: str, *, flops: np.ndarray | None = None,
                        groups: SeedGroups | None = None) -> np.ndarray:
  """Per-row fit weights, normalised to mean 1.

  Kinds:
    uniform: ones; needs `flops` or `groups` for the row count.
    compute: proportional to the run's compute `flops` (FLOPs): the largest runs, nearest to
      where a law is used, weigh most.
    inverse_seed_variance: 1 / (variance of each group's mean log loss) = n_g / s_g^2, with
      s_g the group's own log-space seed sd and the pooled sd for single-seed groups; needs
      `groups` (rows are the groups' rows).
    per_curve: 1 / (rows of the row's training curve), so that every curve weighs the same
      however many of its checkpoints are rows (Choshen et al. 2025 weight each run equally);
      a curve is a bootstrap block (`Observations.bootstrap_blocks`: the trunk_id, which
      `analysis.table.checkpoints` sets to the curve); needs `groups`.

  Raises:
    ValueError: unknown kind, missing or bad inputs, no group with 2 seeds, or a group whose
      seeds gave identical losses (zero variance).
  """
  if kind not in WEIGHT_KINDS:
    raise ValueError(f"weights kind {kind!r} is unknown; use one of {WEIGHT_KINDS}")
  if kind == "uniform":
    if flops is None and groups is None:
      raise ValueError("uniform weights need flops= or groups= to know the number of rows")
    size = len(groups.n_seeds) if groups is not None else np.asarray(flops).size
    return np.ones(size)
  if kind == "compute":
    if flops is None:
      raise ValueError("compute weights need flops= (training FLOPs per row)")
    flops = np.asarray(flops, np.float64).reshape(-1)
    if flops.size == 0 or not np.all(np.isfinite(flops) & (flops > 0)):
      raise ValueError("compute weights: flops must be finite and > 0 for every row")
    return flops / flops.mean()
  if groups is None:
    raise ValueError(f"{kind} weights need groups= (seeds.aggregate(...))")
  if kind == "per_curve":
    blocks = groups.observations.bootstrap_blocks()
    if blocks is None:
      return np.ones(len(groups.n_seeds))
    _, block_of_row, block_sizes = np.unique(blocks, return_inverse=True, return_counts=True)
    per_curve = 1.0 / block_sizes[block_of_row]
    return per_curve / per_curve.mean()
  if groups.pooled_log_sd is None:
    raise ValueError("inverse_seed_variance weights need at least one group with >= 2 seeds; "
                     "repeat some runs with other seeds or use kind='uniform'")
  log_sd = np.where(groups.n_seeds >= 2, groups.log_loss_std, groups.pooled_log_sd)
  if not np.all(log_sd > 0):
    zero = [str(run_id) for run_id, sd in zip(groups.observations.run_id, log_sd) if sd <= 0]
    raise ValueError(f"inverse_seed_variance: zero seed variance in groups {zero}; their "
                     "seeds gave identical losses (check that the seed reaches the run)")
  inverse_variance = groups.n_seeds / log_sd**2
  return inverse_variance / inverse_variance.mean()
