"""model/parametrization.py: which parameters μP rescales and by how much, that μP at its base
width is the standard model bit for bit, and that a bad μP config stops before a run starts."""
import json
import math

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax import nnx

from configs import base, schema
from export import run_dir
from model import ModelConfig, Transformer, parametrization
from training import budget as budget_lib
from records import layout
from training import loop, validate
from training import optimizer as optimizer_lib
from training import step as step_lib
from training import trainer as trainer_lib

SMALL = dict(vocab_size=32, d_model=32, n_layers=1, n_heads=2, n_kv_heads=2, d_ff=64, seq_len=8)
HIDDEN = {"attention/query/kernel", "attention/key/kernel", "attention/value/kernel",
          "attention/output/kernel", "mlp/gate/kernel", "mlp/up/kernel", "mlp/down/kernel"}


def _named(params) -> dict[str, nnx.Variable]:
  leaves = jax.tree.leaves_with_path(params, is_leaf=lambda x: isinstance(x, nnx.Variable))
  return {"/".join(str(key.key) for key in path).removeprefix("blocks/"): variable
          for path, variable in leaves}


def _model(tie_embeddings=True, **fields) -> Transformer:
  return Transformer(ModelConfig(**SMALL, tie_embeddings=tie_embeddings, **fields),
                     rngs=nnx.Rngs(params=0))


def _mup(base_width, **fields) -> dict:
  return dict(parametrization="mup", mup_base_width=base_width, **fields)


# Bad input: one line naming the field, before anything is built or started.

@pytest.mark.parametrize("fields, message", [
    (_mup(64), r"^model.mup_base_width=64 is larger than model.d_model=32: muP scales up from "
               r"a smaller base model; set model.mup_base_width to at most 32$"),
    (dict(parametrization="mup"), r"^model.parametrization='mup' needs model.mup_base_width"),
    (dict(mup_base_width=16), r"^model.mup_base_width=16 is read only with "
                              r"model.parametrization='mup'; remove it"),
    (_mup(16, mup_base_head_dim=32), r"^model.mup_base_head_dim=32 is larger than the head "
                                     r"size d_model/n_heads=16"),
    (dict(parametrization="mu-p"), r"^model.parametrization='mu-p': must be one of 'standard', "
                                   r"'mup'$"),
    (_mup(-8), r"^model.mup_base_width=-8: must be a non-negative integer$"),
])
def test_a_bad_parametrization_is_one_line(fields, message):
  with pytest.raises(ValueError, match=message):
    ModelConfig(**SMALL, **fields).validate()


def test_a_base_width_above_the_model_stops_the_run_before_it_starts(tmp_path):
  config = base.get_config()
  config.model.update(parametrization="mup", mup_base_width=128)  # d_model is 64
  config.data.update(corpus="synthetic", prepared_dir=str(tmp_path / "data"))
  with pytest.raises(validate.ConfigError, match=r"^model.mup_base_width=128 is larger than "
                                                 r"model.d_model=64") as error:
    loop.train_and_evaluate(config, tmp_path / "run", devices=jax.devices()[:1])
  assert "\n" not in str(error.value)
  assert not (tmp_path / "run").exists() and not (tmp_path / "data").exists()


def test_export_refuses_a_mup_run(tmp_path):
  config = base.get_config()
  config.model.update(parametrization="mup", mup_base_width=32)
  (tmp_path / layout.CONFIG_FILE).write_text(json.dumps(schema.config_to_dict(config)))
  with pytest.raises(ValueError, match=r"trained with model.parametrization='mup'; export and "
                                       r"sample run the standard Llama forward pass"):
    run_dir.load_run(tmp_path)


# What μP changes.

def test_hidden_matrices_are_the_ones_with_two_width_axes():
  params = _named(nnx.state(_model(tie_embeddings=False), nnx.Param))
  hidden = {name for name, variable in params.items() if parametrization.is_hidden(variable)}
  assert hidden == HIDDEN
  assert set(params) - hidden == {"embed/embedding", "head/kernel", "final_norm/scale",
                                  "attention_norm/scale", "mlp_norm/scale"}


def test_mup_init_shrinks_hidden_matrices_by_the_root_of_the_width_multiplier():
  standard = _named(nnx.state(_model(tie_embeddings=False), nnx.Param))
  mup = _named(nnx.state(_model(tie_embeddings=False, **_mup(8)), nnx.Param))  # m = 4
  for name, variable in mup.items():
    factor = 0.5 if name in HIDDEN else 1.0
    np.testing.assert_array_equal(variable[...], standard[name][...] * factor, err_msg=name)


def test_mup_learning_rate_is_the_peak_over_the_width_multiplier_for_hidden_matrices():
  config = base.get_config()
  config.model.update(**SMALL, **_mup(8))
  config.train.update(batch_size=2, train_tokens=64, warmup_tokens=0, eval_every_tokens=64,
                      ckpt_every_tokens=64)
  config.optimizer.update(schedule="constant", peak_learning_rate=1e-2)
  budget = budget_lib.compute_budget(config)
  params = nnx.state(_model(**_mup(8)), nnx.Param)
  grads = jax.tree.map(lambda x: jnp.cos(jnp.arange(x.size, dtype=x.dtype)).reshape(x.shape),
                       params)
  model_config = ModelConfig(**SMALL, **_mup(8))
  updates = {}
  for name, model_config in (("standard", None), ("mup", model_config)):
    tx = optimizer_lib.make_optimizer(config.optimizer, params, model_config)
    rate = optimizer_lib.make_schedule(config.optimizer, budget)(0)
    updates[name] = _named(jax.jit(
        lambda g, p: tx.update(g, tx.init(p), p, learning_rate=rate)[0])(grads, params))
  for name, update in updates["mup"].items():
    factor = 0.25 if name in HIDDEN else 1.0
    np.testing.assert_allclose(update[...], updates["standard"][name][...] * factor,
                               rtol=1e-6, err_msg=name)


@pytest.mark.parametrize("tie_embeddings", [True, False])
def test_mup_logits_are_the_standard_logits_over_the_width_multiplier(tie_embeddings):
  standard, mup = _model(tie_embeddings), _model(tie_embeddings, **_mup(8))
  nnx.update(mup, nnx.state(standard, nnx.Param))
  tokens = jnp.arange(16, dtype=jnp.int32).reshape(2, 8) % SMALL["vocab_size"]
  np.testing.assert_array_equal(mup(tokens), standard(tokens) * 0.25)


def test_the_attention_scale_follows_the_base_head_size():
  head_dim = SMALL["d_model"] // SMALL["n_heads"]  # 16
  assert parametrization.attention_scale(ModelConfig(**SMALL)) == 1.0 / np.sqrt(head_dim)
  assert parametrization.attention_scale(ModelConfig(**SMALL, **_mup(8))) == (
      1.0 / np.sqrt(head_dim))  # heads of the same size as the base model's
  scale = parametrization.attention_scale(ModelConfig(**SMALL, **_mup(8, mup_base_head_dim=4)))
  assert math.isclose(scale, math.sqrt(4) / head_dim, rel_tol=1e-15)


# μP at its base width is the standard model.

def _train(model_fields: dict, steps: int = 3) -> tuple:
  """Parameters at init, the loss of each of `steps` AdamW steps of the project's optimizer on
  fixed batches, and the parameters and optimizer state after them (host arrays)."""
  config = base.get_config()
  config.model.update(**SMALL, **model_fields)
  config.train.update(batch_size=4, train_tokens=steps * 32, warmup_tokens=32,
                      eval_every_tokens=steps * 32, ckpt_every_tokens=steps * 32)
  model_config = ModelConfig.from_config_dict(config.model)
  build = lambda: Transformer(model_config, rngs=nnx.Rngs(params=0))
  graphdef, abstract, _ = nnx.split(nnx.eval_shape(build), nnx.Param, ...)
  tx = optimizer_lib.make_optimizer(config.optimizer, abstract, model_config)
  rates = jnp.broadcast_to(optimizer_lib.make_schedule(  # a constant schedule: one value
      config.optimizer, budget_lib.compute_budget(config))(jnp.arange(steps)), (steps,))
  batches = np.random.default_rng(0).integers(0, 32, (steps, 4, 9), dtype=np.int32)

  def run(batches):
    _, params, rest = nnx.split(build(), nnx.Param, ...)

    def update(carry, batch_and_rate):
      (params, opt_state), (batch, rate) = carry, batch_and_rate
      loss, grads = jax.value_and_grad(step_lib.mean_loss, argnums=1)(graphdef, params, rest,
                                                                       batch)
      updates, opt_state = tx.update(grads, opt_state, params, learning_rate=rate)
      return (optax.apply_updates(params, updates), opt_state), loss

    (trained, opt_state), losses = jax.lax.scan(update, (params, tx.init(params)),
                                                (batches, rates))
    return params, losses, trained, opt_state

  compiled = jax.jit(run).lower(batches).compile(
      compiler_options={"xla_backend_optimization_level": 0})  # compiles faster; not timed
  return jax.tree.leaves(jax.device_get(compiled(batches)))


def test_mup_at_its_base_width_is_the_standard_model_bit_for_bit():
  standard = _train({})
  mup = _train(_mup(SMALL["d_model"]))
  assert len(mup) == len(standard)
  for ours, theirs in zip(mup, standard):  # params at init, losses, params and moments after
    np.testing.assert_array_equal(ours, theirs)


def test_a_mup_run_gets_the_learning_rate_multipliers():
  config = base.get_config()
  config.model.update(**SMALL, **_mup(16))
  config.train.update(batch_size=4, train_tokens=64, warmup_tokens=32, eval_every_tokens=64,
                      ckpt_every_tokens=64)
  config.mesh.update(data=1, fsdp=1, tensor=1)
  trainer = trainer_lib.Trainer(config, jax.devices()[:1])  # compiles no step
  adamw, multipliers = trainer.opt_state
  assert isinstance(multipliers, optax.EmptyState)  # the stateless link that applies them
  assert isinstance(adamw[1][0], optax.ScaleByAdamState)
