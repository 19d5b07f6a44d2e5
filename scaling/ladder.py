"""Ladders: the runs of a grid turned into WSD trunks and cooldown branches.

Runs of one size, seed and set of hyperparameters that differ only in their token budget D
share one trunk (training/branch.py): a constant-LR run trained to the latest branch point, with
a checkpoint kept at each. Each D becomes a branch that starts from the trunk's checkpoint at
D - decay and decays over the last `grid.decay_fraction` of D (whole steps; `grid.decay_shape`
linear or 1-sqrt). Every run of a group warms up as the trunk does: `sweep.schedule.
warmup_fraction` of the group's smallest D.

`grid.kind='ladder'` is `n_by_d` branched this way; an IsoFLOP grid with `grid.ladder_sizes`
snaps its target sizes onto the nearest of those (in log N, `scaling.grid`) and is branched too,
so that the budgets share each size's trunk.

FLOPs are training FLOPs (exact count per token, `model.counting`). A branch stands for a run
of D tokens (`RunSpec.flops_exact`) but costs only its decay; the trunk is paid once
(`RunSpec.spent_flops_exact`).
"""
import collections
import dataclasses
import pathlib
import shutil
from typing import Any, Callable, Sequence

import ml_collections

from records.status import SweepState
from scaling import grid as grid_lib
from scaling import rundir
from training import branch as branch_lib
from training import budget as budget_lib

# Fields of a run's overrides that follow its own D; the rest must agree within a trunk's group.
_PER_RUN_FIELDS = ("train.train_tokens", "train.warmup_tokens", "train.eval_every_tokens",
                   "train.ckpt_every_tokens")


def applies(sweep: ml_collections.ConfigDict) -> bool:
  """Whether the sweep's runs are branched: a ladder, or an IsoFLOP grid on ladder sizes."""
  grid = sweep.grid
  return grid.kind == "ladder" or (grid.kind == "isoflop" and bool(grid.ladder_sizes))


def check_grid(grid: ml_collections.ConfigDict) -> None:
  """Raises ValueError (naming the field) for a bad decay fraction or shape of a ladder."""
  if not 0 < grid.decay_fraction <= branch_lib.MAX_DECAY_FRACTION:
    raise ValueError(f"sweep.grid.decay_fraction={grid.decay_fraction} must be in (0, "
                     f"{branch_lib.MAX_DECAY_FRACTION}]; 0.1 to 0.2 is usual")
  if grid.decay_shape not in branch_lib.optimizer_lib.DECAY_SHAPES:
    raise ValueError(f"sweep.grid.decay_shape={grid.decay_shape!r} is unknown; use one of "
                     f"{', '.join(branch_lib.optimizer_lib.DECAY_SHAPES)}")


def branched(sweep: ml_collections.ConfigDict,
             specs: Sequence[grid_lib.RunSpec]) -> list[grid_lib.RunSpec]:
  """The trunks (first) and branches that replace `specs`, one trunk per group of runs that
  differ only in D. Raises ValueError naming the grid entry of a D shorter than its warmup plus
  one decay step."""
  grid = sweep.grid
  check_grid(grid)
  groups: dict[Any, list[grid_lib.RunSpec]] = collections.defaultdict(list)
  for spec in specs:
    shared = tuple(sorted((key, repr(value)) for key, value in spec.overrides.items()
                          if key not in _PER_RUN_FIELDS))
    groups[(spec.shape.label, shared)].append(spec)
  trunks, branches = [], []
  for members in groups.values():
    trunk, decaying = _group(sweep, sorted(members, key=lambda spec: spec.tokens))
    trunks.append(trunk)
    branches.extend(decaying)
  return trunks + branches


def _group(sweep: ml_collections.ConfigDict, members: list[grid_lib.RunSpec]
           ) -> tuple[grid_lib.RunSpec, list[grid_lib.RunSpec]]:
  grid, schedule = sweep.grid, sweep.schedule
  first = members[0]
  tokens_per_step = (first.overrides["train.batch_size"]
                     * first.shape.model_fields.get("seq_len", sweep.base.model.seq_len))
  warmup = (budget_lib.round_to_steps(schedule.warmup_fraction * first.tokens, tokens_per_step)
            if schedule.warmup_fraction > 0 else sweep.base.train.warmup_tokens)
  points = []
  for spec in members:
    steps = spec.tokens // tokens_per_step
    point = (steps - round(grid.decay_fraction * steps)) * tokens_per_step
    if point == spec.tokens or point < warmup:
      raise ValueError(
          f"{', '.join(spec.source)} (size {spec.shape.label}): D={spec.tokens} tokens is "
          f"shorter than the warmup ({warmup} tokens) plus a decay of "
          f"{grid.decay_fraction} x D of at least one step of {tokens_per_step} tokens; "
          f"raise the budget, or lower sweep.schedule.warmup_fraction")
    points.append(point)
  trunk_tokens = max(points)
  trunk_overrides = {key: value for key, value in first.overrides.items()
                     if key not in _PER_RUN_FIELDS}
  trunk_overrides.update({
      "optimizer.schedule": "constant",
      "train.train_tokens": trunk_tokens,
      "train.warmup_tokens": warmup,
      "train.branch_point_tokens": tuple(sorted(set(points))),
      **grid_lib.cadence(schedule, trunk_tokens, tokens_per_step)})
  trunk = grid_lib.RunSpec(
      shape=first.shape, tokens=trunk_tokens, seed=first.seed, compute_budget=None,
      overrides=trunk_overrides, configs=first.configs,
      source=tuple(dict.fromkeys(entry for spec in members for entry in spec.source)))
  branches = []
  for spec, point in zip(members, points):
    overrides = dict(spec.overrides)
    overrides.update({"optimizer.schedule": "wsd",
                      "optimizer.decay_fraction": float(grid.decay_fraction),
                      "optimizer.decay_shape": grid.decay_shape,
                      "train.warmup_tokens": warmup})
    branches.append(dataclasses.replace(spec, overrides=overrides, trunk=trunk,
                                        branch_tokens=point))
  return trunk, branches


@dataclasses.dataclass(frozen=True)
class Savings:
  """Training FLOPs (exact) of a sweep's runs trained independently and as planned."""
  trunks: int
  branches: int
  independent_flops: float  # every point as its own run from scratch
  planned_flops: float      # trunks once, plus each branch's decay

  @property
  def ratio(self) -> float:
    """planned / independent (1 without branches)."""
    return self.planned_flops / self.independent_flops if self.independent_flops else 1.0


def savings(specs: Sequence[grid_lib.RunSpec]) -> Savings:
  """What branching saves over the sweep's `specs` (trunks, branches and plain runs)."""
  trunks = [spec for spec in specs if spec.is_trunk]
  points = [spec for spec in specs if not spec.is_trunk]
  return Savings(trunks=len(trunks), branches=sum(spec.trunk is not None for spec in points),
                 independent_flops=sum(spec.flops_exact for spec in points),
                 planned_flops=sum(spec.spent_flops_exact for spec in specs))


def ready_check(planned: Sequence[Any], stale_seconds: float) -> Callable[[pathlib.Path], bool]:
  """`ready(run_dir)` for the launcher (`runs.PlannedRun`s in): a branch is ready once its trunk
  has saved its branch point, or once the trunk is done or diverged without it (the branch then
  starts and is refused in one line); other runs always. A failed trunk may still be retried, so
  its branches wait (`schedule.run_all` starts them once nothing else can run)."""
  points = {run.run_dir: run.branch_point() for run in planned if run.trunk_id}
  over = (SweepState.DONE, SweepState.DIVERGED)

  def ready(run_dir: pathlib.Path) -> bool:
    point = points.get(run_dir)
    return (point is None or branch_lib.saved(point)
            or rundir.read_state(point.trunk_dir, stale_seconds).state in over)
  return ready


def release_branch_points(planned: Sequence[Any], stale_seconds: float) -> list[pathlib.Path]:
  """Deletes each trunk checkpoint at a branch point whose branches have all completed or
  diverged (so none will start from it again); returns the directories deleted.

  A checkpoint is renamed away from its step number first, so a kill half-way leaves nothing a
  branch could mistake for a saved branch point.
  """
  waiting: dict[pathlib.Path, bool] = collections.defaultdict(bool)  # point dir -> still needed
  for run in planned:
    if run.trunk_id:
      point = run.branch_point()
      state = rundir.read_state(run.run_dir, stale_seconds).state
      needed = state not in (SweepState.DONE, SweepState.DIVERGED)
      directory = point.checkpoint_dir / str(point.step)
      waiting[directory] = waiting[directory] or needed
  released = []
  for directory, needed in waiting.items():
    if not needed and directory.is_dir():
      doomed = directory.with_name(f"{directory.name}.released")
      directory.rename(doomed)
      shutil.rmtree(doomed)
      released.append(directory)
  return released
