"""End-to-end tests of training/loop.py on the tiny config (8 fake CPU devices from conftest)."""
import json
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from data import pipeline
from training import loop, step as step_lib

RESULT_KEYS = {
    "status", "final_eval_loss", "final_train_loss", "n_params_total", "n_params_embedding",
    "n_params_non_embedding", "tokens", "flops_6nd", "flops_exact", "wall_seconds",
    "tokens_per_second", "mfu", "config", "config_hash", "code_version", "versions", "epochs",
    "eval_loss_by_position"}



def test_completed_run_writes_every_artifact(tiny_config, tmp_path, final_params,
                                            tensorboard_scalars):
  result = loop.train_and_evaluate(tiny_config, tmp_path, devices=jax.devices()[:1])
  on_disk = json.loads((tmp_path / "result.json").read_text())
  assert RESULT_KEYS <= set(on_disk) and on_disk["status"] == "completed"
  assert on_disk["final_eval_loss"] == pytest.approx(result["final_eval_loss"])
  assert on_disk["final_eval_loss"] < math.log(64)  # better than uniform over the vocabulary
  assert on_disk["tokens"] == 2048 and on_disk["flops_6nd"] < on_disk["flops_exact"]
  assert on_disk["n_params_total"] == (on_disk["n_params_embedding"]
                                       + on_disk["n_params_non_embedding"])
  assert len(on_disk["eval_loss_by_position"]["loss"]) == 32
  assert json.loads((tmp_path / "config.json").read_text()) == on_disk["config"]
  curve = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
  assert [record["step"] for record in curve] == [4, 8]
  assert curve[-1]["eval_loss"] == pytest.approx(on_disk["final_eval_loss"])
  leaves = [leaf.astype(np.float64) for leaf in final_params(tmp_path)]
  assert curve[-1]["param_norm"] == pytest.approx(
      math.sqrt(sum(np.sum(leaf**2) for leaf in leaves)), rel=1e-5)
  assert all(record["update_norm"] > 0 and record["grad_norm"] > 0 for record in curve)
  scalars = tensorboard_scalars(tmp_path / "tensorboard")
  assert {"train/loss", "train/learning_rate", "train/grad_norm", "train/update_norm",
          "train/param_norm", "eval/loss", "perf/tokens_per_second", "perf/mfu"} <= set(scalars)
  assert len(scalars["train/loss"]) == len(scalars["train/update_norm"]) == 8
  assert scalars["train/param_norm"][-1] == pytest.approx(curve[-1]["param_norm"])
  assert sorted(int(p.name) for p in (tmp_path / "checkpoints").iterdir()
                if p.name.isdigit()) == [6, 8]


def test_2x2x2_mesh_matches_one_device(tiny_config, tmp_path):
  one = loop.train_and_evaluate(tiny_config, tmp_path / "one", devices=jax.devices()[:1])
  tiny_config.mesh.update(data=2, fsdp=2, tensor=2)
  eight = loop.train_and_evaluate(tiny_config, tmp_path / "eight")
  assert eight["final_eval_loss"] == pytest.approx(one["final_eval_loss"], rel=1e-5)
  assert eight["final_train_loss"] == pytest.approx(one["final_train_loss"], rel=1e-5)


def test_preempted_and_killed_runs_resume_bit_identically(tiny_config, tmp_path, stop_at,
                                                          crash_at, final_params):
  devices = jax.devices()[:1]
  straight = loop.train_and_evaluate(tiny_config, tmp_path / "straight", devices=devices)

  preempted = loop.train_and_evaluate(tiny_config, tmp_path / "preempted", devices=devices,
                                      preemption=stop_at(3))
  assert preempted == {"status": "preempted", "step": 3}
  assert not (tmp_path / "preempted" / "result.json").exists()
  resumed = loop.train_and_evaluate(tiny_config, tmp_path / "preempted", devices=devices)

  with pytest.raises(KeyboardInterrupt):
    loop.train_and_evaluate(tiny_config, tmp_path / "killed", devices=devices,
                            preemption=crash_at(5))  # last save at step 4
  recovered = loop.train_and_evaluate(tiny_config, tmp_path / "killed", devices=devices)

  reference = final_params(tmp_path / "straight")
  for run, result in (("preempted", resumed), ("killed", recovered)):
    assert result["final_eval_loss"] == straight["final_eval_loss"]
    assert result["final_train_loss"] == straight["final_train_loss"]
    for expected, actual in zip(reference, final_params(tmp_path / run), strict=True):
      np.testing.assert_array_equal(actual, expected)
  curve = (tmp_path / "killed" / "metrics.jsonl").read_text().splitlines()
  assert [json.loads(line)["step"] for line in curve] == [4, 8]


def test_nan_loss_ends_as_diverged(tiny_config, tmp_path, monkeypatch):
  original = step_lib.mean_loss
  monkeypatch.setattr(step_lib, "mean_loss", lambda *args: original(*args) * jnp.nan)
  result = loop.train_and_evaluate(tiny_config, tmp_path, devices=jax.devices()[:1])
  on_disk = json.loads((tmp_path / "result.json").read_text())
  assert result["status"] == on_disk["status"] == "diverged"
  assert on_disk["diverged_step"] == 1 and on_disk["final_eval_loss"] is None


def test_a_run_on_a_corpus_with_a_known_floor_records_it(tiny_config, tmp_path):
  tiny_config.data.update(synthetic_kind="topics", synthetic_vocab=17)
  tiny_config.train.update(train_tokens=512, warmup_tokens=256, eval_every_tokens=0,
                           ckpt_every_tokens=0)
  result = loop.train_and_evaluate(tiny_config, tmp_path, devices=jax.devices()[:1])
  prepared = pipeline.prepare(tiny_config.data, seq_len=tiny_config.model.seq_len)
  floor = pipeline.validation_floor(prepared, tiny_config.model.seq_len,
                                    tiny_config.train.eval_tokens)
  assert json.loads((tmp_path / "result.json").read_text())["loss_floor"] == floor
  assert result["loss_floor"] == floor < result["final_eval_loss"]
