"""Tiny models and run directories for export tests, built in-process (no training)."""
import dataclasses
import json
import pathlib

import jax
import ml_collections
import optax
import pytest
from flax import nnx

from configs import base
from configs import schema
from model import ModelConfig, Transformer
from training import checkpoint as checkpoint_lib

TINY = dict(vocab_size=264, d_model=32, n_layers=2, n_heads=4, n_kv_heads=2, d_ff=48,
            seq_len=16, init_std=0.3)


def tiny_model(tie_embeddings: bool = True, **overrides) -> Transformer:
  """A random tiny GQA transformer; init_std 0.3 makes its logits far from uniform."""
  config = ModelConfig(**dict(TINY, tie_embeddings=tie_embeddings, **overrides))
  return Transformer(config, rngs=nnx.Rngs(params=0))


def run_config_for(model_config: ModelConfig) -> ml_collections.ConfigDict:
  """A byte-tokenizer run config with `model_config` as its model."""
  config = base.get_config()
  config.model.update(dataclasses.asdict(model_config))
  config.data.update(corpus="stdlib", tokenizer="byte")
  config.train.update(batch_size=4)
  return config


def write_run_dir(run_dir: pathlib.Path, model: Transformer, step: int,
                  result: dict | None) -> pathlib.Path:
  """config.json, one orbax checkpoint at `step` (as training saves it) and maybe result.json."""
  config = run_config_for(model.config)
  run_dir.mkdir(parents=True)
  (run_dir / "config.json").write_text(json.dumps(schema.config_to_dict(config)))
  params = nnx.state(model, nnx.Param)
  opt_state = optax.adamw(1e-3).init(params)
  checkpointer = checkpoint_lib.Checkpointer(run_dir / "checkpoints", keep=1)
  checkpointer.save(step, params, opt_state, {"position": step}, {"step": step})
  checkpointer.close()
  if result is not None:
    (run_dir / "result.json").write_text(json.dumps(result))
  return run_dir


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory) -> tuple[pathlib.Path, Transformer]:
  """A finished byte-level run directory (step 6, eval loss 2.5) and its model."""
  model = tiny_model(tie_embeddings=True)
  run_dir = tmp_path_factory.mktemp("runs") / "run_a"
  result = {"status": "completed", "final_eval_loss": 2.5, "bits_per_byte": 3.6, "tokens": 384,
            "n_params_non_embedding": 1, "code_version": "abc"}
  return write_run_dir(run_dir, model, step=6, result=result), model


@pytest.fixture
def build_model():
  """`tiny_model(tie_embeddings=True, **overrides)`."""
  return tiny_model


@pytest.fixture
def make_run_dir():
  """`write_run_dir(run_dir, model, step, result)`."""
  return write_run_dir


@pytest.fixture
def host_params():
  """`host_params(model)`: the model's parameters as a pure nested dict of numpy arrays."""
  return lambda model: jax.device_get(nnx.to_pure_dict(nnx.state(model, nnx.Param)))
