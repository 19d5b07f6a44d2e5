"""Tests for training/budget.py: tokens -> steps in one place."""
import pytest

from configs import base
from training import budget


def _config(**train):
  config = base.get_config()
  config.model.seq_len = 32
  values = dict(batch_size=8, train_tokens=2560, warmup_tokens=512, eval_every_tokens=1024,
                eval_tokens=512, ckpt_every_tokens=0)
  config.train.update({**values, **train})
  return config


def test_converts_every_budget_to_steps():
  steps = budget.compute_budget(_config(grad_accum_steps=2))
  assert steps.tokens_per_step == 256
  assert (steps.total_steps, steps.warmup_steps, steps.eval_every_steps) == (10, 2, 4)
  assert (steps.ckpt_every_steps, steps.eval_batches, steps.micro_batch_size) == (0, 2, 4)
  assert steps.train_tokens == 2560 and steps.tokens_at(3) == 768


def test_budget_not_a_whole_number_of_steps_names_field_and_fix():
  with pytest.raises(ValueError, match=r"train_tokens=2600 .* use 2560 or 2816"):
    budget.compute_budget(_config(train_tokens=2600))
  with pytest.raises(ValueError, match="eval_every_tokens=100"):
    budget.compute_budget(_config(eval_every_tokens=100))


def test_budget_below_one_step():
  with pytest.raises(ValueError, match="train_tokens=100 is below one step of 256"):
    budget.compute_budget(_config(train_tokens=100))


def test_warmup_longer_than_run_and_bad_accumulation():
  with pytest.raises(ValueError, match="warmup_tokens=5120 exceeds"):
    budget.compute_budget(_config(warmup_tokens=5120))
  with pytest.raises(ValueError, match="grad_accum_steps=3"):
    budget.compute_budget(_config(grad_accum_steps=3))


def test_round_to_steps_gives_the_nearest_whole_steps_in_tokens():
  assert budget.round_to_steps(20_000, 1024) == 20 * 1024
  assert budget.round_to_steps(1536, 1024) == 2048 and budget.round_to_steps(2560, 1024) == 2048
  assert budget.round_to_steps(100.0, 1024) == 0
  assert budget.round_to_steps(100.0, 1024, minimum_steps=1) == 1024
  assert budget.round_to_steps(5 * 1024, 1024, minimum_steps=1) == 5 * 1024
