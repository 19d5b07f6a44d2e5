"""Tests of training/trainer.py: the loop's steps are the Trainer's, and the donated step keeps
the shardings of the parameters and optimizer state (8 fake CPU devices from conftest)."""
import json

import jax
import numpy as np
import optax
import orbax.checkpoint as ocp
import pytest

from data import pipeline
from training import loop
from training import trainer as trainer_lib


def _leaves(tree) -> list[np.ndarray]:
  return [np.asarray(leaf) for leaf in jax.tree.leaves(tree)]


def test_two_trainer_steps_equal_two_steps_of_the_loop(tiny_config, tmp_path):
  tiny_config.train.update(train_tokens=512, warmup_tokens=256, eval_every_tokens=0,
                           ckpt_every_tokens=0)
  devices = jax.devices()[:1]
  result = loop.train_and_evaluate(tiny_config, tmp_path, devices=devices)
  assert result["steps"] == 2

  trainer = trainer_lib.Trainer(tiny_config, devices)
  prepared = pipeline.prepare(tiny_config.data, seq_len=tiny_config.model.seq_len)
  batches = pipeline.train_iterator(prepared, global_batch_size=tiny_config.train.batch_size,
                                    seq_len=tiny_config.model.seq_len,
                                    seed=tiny_config.data.shuffle_seed)
  for _ in range(2):
    step_metrics = trainer.train_step(trainer.global_batch(next(batches)))
  assert trainer.step == 2

  manager = ocp.CheckpointManager(tmp_path / "checkpoints", item_names=("params",))
  saved = manager.restore(2, args=ocp.args.Composite(
      params=ocp.args.StandardRestore(jax.tree.map(ocp.utils.to_shape_dtype_struct,
                                                   trainer.params))))
  manager.close()
  for expected, actual in zip(_leaves(saved.params), _leaves(trainer.params), strict=True):
    np.testing.assert_array_equal(actual, expected)
  record = json.loads((tmp_path / "metrics.jsonl").read_text().splitlines()[-1])
  assert record["step"] == 2
  for name in ("grad_norm", "update_norm", "param_norm"):
    assert record[name] == float(step_metrics[name])
  validation = pipeline.validation_batches(
      prepared, batch_size=tiny_config.train.batch_size, seq_len=tiny_config.model.seq_len,
      eval_tokens=tiny_config.train.eval_tokens)
  outcome = trainer.evaluate([trainer.global_batch(rows) for rows in validation])
  assert outcome.loss == result["final_eval_loss"]


def test_donated_step_keeps_shardings_and_reports_its_norms(tiny_config):
  tiny_config.mesh.update(data=2, fsdp=2, tensor=2)  # the programs of the loop's 2x2x2 test
  trainer = trainer_lib.Trainer(tiny_config)
  assert dict(trainer.mesh.shape) == {"data": 2, "fsdp": 2, "tensor": 2}
  shardings = lambda tree: [leaf.sharding for leaf in jax.tree.leaves(tree)]
  params_shardings, opt_shardings = shardings(trainer.params), shardings(trainer.opt_state)
  assert any(not sharding.is_fully_replicated for sharding in params_shardings)
  rows = np.random.default_rng(0).integers(0, 64, (8, 33), np.int32)
  trainer.train_step(trainer.global_batch(rows))  # learning rate 0: the warmup's first step
  old_params = jax.tree.leaves(trainer.params)
  before = _leaves(trainer.params)
  step_metrics = trainer.train_step(trainer.global_batch(rows))

  assert trainer.step == 2 and all(leaf.is_deleted() for leaf in old_params)  # donated
  assert shardings(trainer.params) == params_shardings
  assert shardings(trainer.opt_state) == opt_shardings
  after = _leaves(trainer.params)
  update = np.sqrt(sum(np.sum((b.astype(np.float64) - a) ** 2) for a, b in zip(before, after)))
  assert update > 0
  assert float(step_metrics["update_norm"]) == pytest.approx(update, rel=1e-4)
  assert float(step_metrics["param_norm"]) == pytest.approx(
      float(optax.tree.norm(trainer.params)), rel=1e-6)
  with pytest.raises(ValueError, match="outside the run's 8 steps"):
    trainer.load(9, trainer.params, trainer.opt_state)


def test_a_second_trainer_of_the_shape_reuses_the_initialization_with_its_own_seed(
    tiny_config):
  from training import programs  # pylint: disable=g-import-not-at-top
  first = trainer_lib.Trainer(tiny_config, jax.devices()[:1])
  other_seed = tiny_config.copy_and_resolve_references()
  other_seed.seed = tiny_config.seed + 1
  reused = trainer_lib.Trainer(other_seed, jax.devices()[:1])
  assert (programs.INITS.hits, programs.INITS.misses) == (1, 1)
  programs.INITS.clear()
  fresh = trainer_lib.Trainer(other_seed, jax.devices()[:1])
  assert programs.INITS.misses == 1
  for got, want in zip(_leaves((reused.params, reused.opt_state)),
                       _leaves((fresh.params, fresh.opt_state))):
    np.testing.assert_array_equal(got, want)  # bit-identical to a Trainer built alone
  assert any(not np.array_equal(a, b) for a, b in zip(_leaves(first.params),
                                                      _leaves(reused.params)))
