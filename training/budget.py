"""Token budgets -> optimizer steps: the one place where tokens become steps.

A step is one optimizer update over the global batch: `batch_size` sequences of `seq_len`
tokens (split into `grad_accum_steps` micro-batches), so one step trains on
`batch_size * seq_len` tokens. Every budget in the config is in tokens and must be a whole
number of steps (or of evaluation batches), otherwise the run is rejected before it starts;
a sweep makes its budgets so with `round_to_steps`.
"""
import dataclasses

import ml_collections


@dataclasses.dataclass(frozen=True)
class StepBudget:
  """A run's budgets in steps. All `*_steps` count optimizer updates; 0 means 'never'."""
  tokens_per_step: int       # tokens per optimizer update (global batch x seq_len)
  total_steps: int           # optimizer updates in the whole run
  warmup_steps: int          # linear learning-rate warmup
  eval_every_steps: int      # periodic evaluation (0: only at the end)
  ckpt_every_steps: int      # periodic checkpoint (0: only at the end and on preemption)
  eval_batches: int          # global batches of `batch_size` sequences per evaluation
  micro_batch_size: int      # sequences per micro-batch (batch_size // grad_accum_steps)

  @property
  def train_tokens(self) -> int:
    """Tokens trained on by the whole run."""
    return self.total_steps * self.tokens_per_step

  def tokens_at(self, step: int) -> int:
    """Tokens trained on after `step` optimizer updates."""
    return step * self.tokens_per_step


def round_to_steps(tokens: float, tokens_per_step: int, *, minimum_steps: int = 0) -> int:
  """`tokens` rounded to the nearest whole number of steps of `tokens_per_step` tokens (a half
  to the even step count), and up to `minimum_steps` steps; in tokens."""
  return max(minimum_steps, int(round(tokens / tokens_per_step))) * tokens_per_step


def whole_steps(field: str, tokens: int, tokens_per_step: int, *, allow_zero: bool) -> int:
  """`tokens` as optimizer steps; raises ValueError naming `config.train.FIELD` when it is
  negative, zero (unless `allow_zero`) or not a whole number of steps (with the two nearest
  whole values)."""
  if tokens < 0 or (tokens == 0 and not allow_zero):
    raise ValueError(f"config.train.{field}={tokens} must be a positive number of tokens")
  if tokens % tokens_per_step:
    lower = tokens // tokens_per_step * tokens_per_step
    raise ValueError(
        f"config.train.{field}={tokens} is not a whole number of steps of {tokens_per_step} "
        f"tokens (batch_size x seq_len); use {lower or tokens_per_step} or "
        f"{lower + tokens_per_step}")
  return tokens // tokens_per_step


def compute_budget(config: ml_collections.ConfigDict) -> StepBudget:
  """Converts the token budgets of a run config into steps; raises ValueError on bad budgets."""
  train = config.train
  if train.batch_size <= 0:
    raise ValueError(f"config.train.batch_size={train.batch_size} must be positive")
  if train.grad_accum_steps <= 0 or train.batch_size % train.grad_accum_steps:
    raise ValueError(
        f"config.train.grad_accum_steps={train.grad_accum_steps} must be positive and divide "
        f"config.train.batch_size={train.batch_size}")
  if not (isinstance(train.steps_per_call, int) and train.steps_per_call >= 1):
    raise ValueError(f"config.train.steps_per_call={train.steps_per_call!r} must be a whole "
                     "number >= 1 (1: one optimizer step per call of the train step)")
  tokens_per_step = train.batch_size * config.model.seq_len
  if train.train_tokens < tokens_per_step:
    raise ValueError(
        f"config.train.train_tokens={train.train_tokens} is below one step of {tokens_per_step} "
        f"tokens (batch_size x seq_len); raise train_tokens or lower batch_size")
  total_steps = whole_steps("train_tokens", train.train_tokens, tokens_per_step,
                             allow_zero=False)
  warmup_steps = whole_steps("warmup_tokens", train.warmup_tokens, tokens_per_step,
                              allow_zero=True)
  if warmup_steps > total_steps:
    raise ValueError(
        f"config.train.warmup_tokens={train.warmup_tokens} exceeds train_tokens="
        f"{train.train_tokens}; lower warmup_tokens")
  return StepBudget(
      tokens_per_step=tokens_per_step,
      total_steps=total_steps,
      warmup_steps=warmup_steps,
      eval_every_steps=whole_steps("eval_every_tokens", train.eval_every_tokens,
                                    tokens_per_step, allow_zero=True),
      ckpt_every_steps=whole_steps("ckpt_every_tokens", train.ckpt_every_tokens,
                                    tokens_per_step, allow_zero=True),
      eval_batches=whole_steps("eval_tokens", train.eval_tokens, tokens_per_step,
                                allow_zero=False),
      micro_batch_size=train.batch_size // train.grad_accum_steps,
  )
