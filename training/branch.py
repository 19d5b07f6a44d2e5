"""WSD trunks and their cooldown branches: one run trained at its peak learning rate, and runs
that start from its checkpoints and decay to the end of their own budgets.

A trunk is a 'constant' run (warmup, then the peak) that keeps a checkpoint after each of
`train.branch_point_tokens` in `TRUNK/branch_points/`, whatever `train.keep_checkpoints` says.
A branch is a 'wsd' run of D tokens with `train.branch_from=TRUNK`: it starts from the trunk's
checkpoint at its branch point D - decay (decay = `optimizer.decay_fraction` x D, in whole
steps) and decays from there. Before its decay a 'wsd' run has exactly the learning rates of a
'constant' one with the same warmup, and the data order does not depend on a run's length, so a
branch is bit-identical to training the same WSD run from scratch (tests/training/branch_test.py).

Every field of a branch's config but those in `SCHEDULE_FIELDS` must equal its trunk's.
Tokens are predicted positions; steps are optimizer updates (`training.budget`).
"""
import dataclasses
import json
import os
import pathlib

import ml_collections

from configs import schema
from records import layout
from training import budget as budget_lib
from training import optimizer as optimizer_lib

# The fields in which a branch may differ from its trunk: its schedule and length, and the
# bookkeeping that changes no parameter (evaluation, checkpoint and logging cadence).
SCHEDULE_FIELDS = (
    "optimizer.schedule", "optimizer.decay_fraction", "optimizer.decay_shape",
    "optimizer.final_lr_fraction", "train.train_tokens", "train.branch_point_tokens",
    "train.branch_from", "train.eval_every_tokens", "train.ckpt_every_tokens",
    "train.keep_checkpoints", "train.log_every_steps")
MAX_DECAY_FRACTION = 0.5


@dataclasses.dataclass(frozen=True)
class BranchPoint:
  """Where a branch leaves its trunk: after `step` optimizer updates (`tokens` tokens)."""
  trunk_dir: pathlib.Path
  step: int
  tokens: int

  @property
  def checkpoint_dir(self) -> pathlib.Path:
    """The trunk's directory of branch-point checkpoints."""
    return self.trunk_dir / layout.BRANCH_POINTS_DIR


def branch_point_steps(config: ml_collections.ConfigDict,
                       budget: budget_lib.StepBudget) -> tuple[int, ...]:
  """The optimizer steps after which a trunk keeps a branch-point checkpoint, ascending.

  Raises ValueError for a point that is not a whole step, is outside (warmup, total_steps], or
  for branch points on a run whose schedule is not 'constant'.
  """
  tokens = tuple(config.train.branch_point_tokens)
  if not tokens:
    return ()
  if config.optimizer.schedule != "constant":
    raise ValueError(
        f"config.train.branch_point_tokens is set but config.optimizer.schedule="
        f"{config.optimizer.schedule!r}; a trunk trains at its peak learning rate: use "
        f"schedule='constant'")
  steps = []
  for value in sorted(set(tokens)):
    step = budget_lib.whole_steps("branch_point_tokens", value, budget.tokens_per_step,
                                  allow_zero=False)
    if not budget.warmup_steps <= step <= budget.total_steps:
      raise ValueError(
          f"config.train.branch_point_tokens has {value}, outside the trunk's warmup and "
          f"train_tokens ({budget.tokens_at(budget.warmup_steps)}, "
          f"{budget.train_tokens}]; raise train_tokens to {value} or drop the point")
    steps.append(step)
  return tuple(steps)


def branch_point(config: ml_collections.ConfigDict, budget: budget_lib.StepBudget,
                 workdir: str | pathlib.Path) -> BranchPoint | None:
  """Where the run leaves its trunk (None for a run that is not a branch).

  Raises ValueError naming the field for a branch whose schedule is not 'wsd', whose
  decay_fraction is outside (0, 0.5], or whose budget is shorter than its warmup plus decay.
  """
  if not config.train.branch_from:
    return None
  optimizer = config.optimizer
  if optimizer.schedule != "wsd":
    raise ValueError(f"config.train.branch_from is set but config.optimizer.schedule="
                     f"{optimizer.schedule!r}; a branch decays off its trunk: use schedule='wsd'")
  if not 0 < optimizer.decay_fraction <= MAX_DECAY_FRACTION:
    raise ValueError(f"config.optimizer.decay_fraction={optimizer.decay_fraction} must be in "
                     f"(0, {MAX_DECAY_FRACTION}] for a branch; 0.1 to 0.2 is usual")
  decay = optimizer_lib.decay_steps(optimizer, budget)
  step = budget.total_steps - decay
  if decay < 1 or step < budget.warmup_steps:
    raise ValueError(
        f"config.train.train_tokens={budget.train_tokens} is shorter than the warmup "
        f"({budget.tokens_at(budget.warmup_steps)} tokens) plus a decay of "
        f"{optimizer.decay_fraction} x train_tokens of at least one step; raise train_tokens "
        f"or lower warmup_tokens")
  # Lexically: '../trunk' from a workdir that does not exist yet is still its sibling.
  trunk_dir = pathlib.Path(os.path.normpath(pathlib.Path(workdir) / config.train.branch_from))
  return BranchPoint(trunk_dir=trunk_dir, step=step, tokens=budget.tokens_at(step))


def saved(point: BranchPoint) -> bool:
  """Whether the trunk has finished saving the checkpoint at `point` (orbax finalizes a step by
  renaming its temporary directory to the step number, so the directory is the signal)."""
  return (point.checkpoint_dir / str(point.step)).is_dir()


def _flatten(values: dict, prefix: str = "") -> dict[str, object]:
  flat = {}
  for key, value in values.items():
    if isinstance(value, dict) and value:
      flat.update(_flatten(value, f"{prefix}{key}."))
    else:
      flat[f"{prefix}{key}"] = value
  return flat


def mismatched_fields(branch: ml_collections.ConfigDict,
                      trunk: ml_collections.ConfigDict) -> list[str]:
  """Dotted names of the fields outside `SCHEDULE_FIELDS` in which the two configs differ."""
  ours, theirs = (_flatten(schema.config_to_dict(c)) for c in (branch, trunk))
  return sorted(name for name in ours.keys() | theirs.keys()
                if name not in SCHEDULE_FIELDS and ours.get(name) != theirs.get(name))


def check_trunk(config: ml_collections.ConfigDict, point: BranchPoint) -> None:
  """Refuses a trunk that is not this branch's: a trunk directory without a run config, a config
  that differs in more than the schedule, or one that keeps no checkpoint at the branch point.

  Raises ValueError naming the field and the fix.
  """
  path = point.trunk_dir / layout.CONFIG_FILE
  try:
    trunk = schema.RUN.from_dict(json.loads(path.read_text()))
  except (OSError, ValueError) as error:
    raise ValueError(f"config.train.branch_from={config.train.branch_from!r}: cannot read the "
                     f"trunk's run config {path} ({type(error).__name__}); start the trunk "
                     f"first, or point branch_from at its workdir") from None
  mismatched = mismatched_fields(config, trunk)
  if mismatched:
    name = mismatched[0]
    raise ValueError(
        f"config.{name} differs from the trunk's ({path}); a branch may differ from its trunk "
        f"only in its schedule and length: set {', '.join(mismatched)} as the trunk has them")
  if point.tokens not in tuple(trunk.train.branch_point_tokens):
    raise ValueError(
        f"config.train.branch_from: the branch starts its decay after {point.tokens} tokens, "
        f"which is not one of the trunk's train.branch_point_tokens "
        f"{list(trunk.train.branch_point_tokens)}; add it to the trunk's, or change this "
        f"branch's train_tokens or decay_fraction")
  if not saved(point):
    raise ValueError(
        f"config.train.branch_from: the trunk {point.trunk_dir} has not saved its checkpoint "
        f"at step {point.step} ({point.tokens} tokens) yet; train the trunk that far first (a "
        f"sweep starts a branch as soon as it has)")
