"""Tests for training/branch.py and the loop's trunks and branches: a branch restored from its
trunk's checkpoint is bit-identical to the same WSD run trained from scratch, and every bad
branch is refused in one line before anything is written."""
import json

import jax
import numpy as np
import pytest

from training import branch, budget, loop, validate

DEVICES = jax.devices()[:1]


def _trunk(config, branch_points=(1536,), train_tokens=2048):
  config = config.copy_and_resolve_references()
  config.optimizer.update(schedule="constant")
  config.train.update(train_tokens=train_tokens, branch_point_tokens=branch_points,
                      ckpt_every_tokens=1024, keep_checkpoints=1)
  return config


def _wsd(config, train_tokens=2048, shape="1-sqrt", branch_from=""):
  config = config.copy_and_resolve_references()
  config.optimizer.update(schedule="wsd", decay_fraction=0.25, decay_shape=shape,
                          final_lr_fraction=0.0)
  config.train.update(train_tokens=train_tokens, branch_from=branch_from)
  return config



def _curve(workdir) -> list[dict]:
  return [json.loads(line) for line in (workdir / "metrics.jsonl").read_text().splitlines()]


def _run(config, workdir):
  return loop.train_and_evaluate(config, workdir, devices=DEVICES)


def test_a_branch_is_bit_identical_to_the_wsd_run_from_scratch(tiny_config, tmp_path,
                                                               final_params):
  trunk_dir, branch_dir, scratch_dir = (tmp_path / name for name in ("trunk", "b", "scratch"))
  trunk_result = _run(_trunk(tiny_config, branch_points=(1024, 1536), train_tokens=2048),
                      trunk_dir)
  assert trunk_result["status"] == "completed"
  assert sorted(int(p.name) for p in (trunk_dir / "branch_points").iterdir()) == [4, 6]
  # keep_checkpoints=1 kept only the last regular checkpoint; branch points are kept apart.
  assert [p.name for p in (trunk_dir / "checkpoints").iterdir()] == ["8"]

  branched = _run(_wsd(tiny_config, branch_from="../trunk"), branch_dir)
  scratch = _run(_wsd(tiny_config), scratch_dir)
  assert branched["final_eval_loss"] == scratch["final_eval_loss"]
  assert branched["final_train_loss"] == scratch["final_train_loss"]
  for ours, theirs in zip(final_params(branch_dir), final_params(scratch_dir), strict=True):
    np.testing.assert_array_equal(ours, theirs)
  # The branch's curve continues the trunk's: the trunk's records up to the branch point, then
  # its own, equal to the from-scratch run's at every evaluation.
  curve = _curve(branch_dir)
  assert [r["step"] for r in curve] == [r["step"] for r in _curve(scratch_dir)]
  assert curve[0] == _curve(trunk_dir)[0]
  assert [r["eval_loss"] for r in curve] == [r["eval_loss"] for r in _curve(scratch_dir)]


def test_linear_branch_off_an_earlier_point(tiny_config, tmp_path):
  """A shorter budget branches off the earlier point (D=1024: decay over its last step)."""
  _run(_trunk(tiny_config, branch_points=(768, 1536)), tmp_path / "trunk")
  short = _wsd(tiny_config, train_tokens=1024, shape="linear", branch_from=str(tmp_path / "trunk"))
  branched = _run(short, tmp_path / "b")
  scratch = _run(_wsd(tiny_config, train_tokens=1024, shape="linear"), tmp_path / "scratch")
  assert branched["final_eval_loss"] == scratch["final_eval_loss"]


def _refused(config, workdir, match):
  with pytest.raises(validate.ConfigError, match=match) as error:
    _run(config, workdir)
  assert "\n" not in str(error.value)
  assert not workdir.exists() or not any(workdir.iterdir())  # nothing written


def test_bad_branches_are_refused_in_one_line_before_anything_is_written(tiny_config, tmp_path):
  trunk_dir = tmp_path / "trunk"
  _run(_trunk(tiny_config, branch_points=(1536,), train_tokens=1536), trunk_dir)
  _refused(_wsd(tiny_config, train_tokens=1024, branch_from=str(trunk_dir)), tmp_path / "a",
           "768 tokens, which is not one of the trunk's train.branch_point_tokens")
  config = _wsd(tiny_config, branch_from=str(trunk_dir))
  config.optimizer.decay_fraction = 0.6
  _refused(config, tmp_path / "b", r"decay_fraction=0.6 must be in \(0, 0.5\]")
  config = _wsd(tiny_config, train_tokens=512, branch_from=str(trunk_dir))
  _refused(config, tmp_path / "c", "shorter than the warmup")
  config = _wsd(tiny_config, branch_from=str(trunk_dir))
  config.model.d_ff = 96
  _refused(config, tmp_path / "d", r"config.model.d_ff differs from the trunk's")
  config = _wsd(tiny_config, branch_from=str(trunk_dir))
  config.optimizer.schedule = "cosine"
  _refused(config, tmp_path / "e", "use schedule='wsd'")
  _refused(_wsd(tiny_config, branch_from=str(tmp_path / "nowhere")), tmp_path / "f",
           "cannot read the trunk's run config")
  bad_trunk = _trunk(tiny_config, branch_points=(1000,))
  _refused(bad_trunk, tmp_path / "g", "branch_point_tokens=1000 is not a whole number of steps")
  bad_trunk = _trunk(tiny_config, branch_points=(4096,))
  _refused(bad_trunk, tmp_path / "h", "outside the trunk's warmup and train_tokens")
  bad_trunk.optimizer.schedule = "cosine"
  _refused(bad_trunk, tmp_path / "i", "a trunk trains at its peak learning rate")


def test_a_branch_waits_for_its_trunks_checkpoint(tiny_config, tmp_path):
  trunk_dir = tmp_path / "trunk"
  _run(_trunk(tiny_config, branch_points=(1536,), train_tokens=1536), trunk_dir)
  point = branch.branch_point(_wsd(tiny_config, branch_from=str(trunk_dir)),
                              budget.compute_budget(_wsd(tiny_config)), tmp_path)
  assert (point.step, point.tokens, branch.saved(point)) == (6, 1536, True)
  (trunk_dir / "branch_points" / "6").rename(trunk_dir / "branch_points" / "6.tmp")
  assert not branch.saved(point)
  _refused(_wsd(tiny_config, branch_from=str(trunk_dir)), tmp_path / "b",
           "has not saved its checkpoint at step 6")


def test_mismatched_fields_ignore_the_schedule_and_bookkeeping(tiny_config):
  trunk = _trunk(tiny_config)
  ours = _wsd(tiny_config, branch_from="../trunk")
  ours.train.eval_every_tokens = 512
  assert branch.mismatched_fields(ours, trunk) == []
  ours.train.warmup_tokens = 256
  ours.seed = 3
  assert branch.mismatched_fields(ours, trunk) == ["seed", "train.warmup_tokens"]
