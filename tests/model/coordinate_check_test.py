"""The μP coordinate check (Yang et al. 2022, Tensor Programs V): the RMS of every
layer's output stays flat across widths 64-1024 at initialisation and after a few Adam steps
under μP, and grows with width under the standard parametrisation.

The models are one block, four heads (the head size grows with the width, so the 1/d attention
scale is exercised), d_ff = 2 x d_model, trained on one fixed batch of 8 x 32 tokens for 3 steps
at a constant learning rate of 1e-2 through the project's own optimizer and loss.
"""
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax import nnx

from configs import base
from model import ModelConfig, Transformer, layers
from training import budget as budget_lib
from training import optimizer as optimizer_lib
from training import step as step_lib

BASE_WIDTH, STEPS, BATCH, LENGTH, VOCAB = 64, 3, 8, 32, 64
pytestmark = pytest.mark.slow  # four compilations of a train-and-measure program


def _run_config(width: int, parametrization: str):
  config = base.get_config()
  config.model.update(vocab_size=VOCAB, d_model=width, n_layers=1, n_heads=4, n_kv_heads=4,
                      d_ff=2 * width, seq_len=LENGTH, parametrization=parametrization)
  if parametrization == "mup":
    config.model.update(mup_base_width=BASE_WIDTH, mup_base_head_dim=BASE_WIDTH // 4)
  config.train.update(batch_size=BATCH, train_tokens=STEPS * BATCH * LENGTH, warmup_tokens=0,
                      eval_every_tokens=STEPS * BATCH * LENGTH,
                      ckpt_every_tokens=STEPS * BATCH * LENGTH)
  config.optimizer.update(schedule="constant", peak_learning_rate=1e-2)
  return config


def _layer_rms(model: Transformer, tokens_BxL: jax.Array) -> dict[str, jax.Array]:
  """RMS of the embedding, of every module output in every block, and of the logits."""
  config = model.config
  sin, cos = layers.rope_tables(jnp.arange(tokens_BxL.shape[1]), config.head_dim,
                                config.rope_theta)
  rms = lambda x: jnp.sqrt(jnp.mean(jnp.square(x)))
  x_BxLxD = model.embed(tokens_BxL)
  found = {"embed": rms(x_BxLxD)}
  block_graph, block_state = nnx.split(model.blocks)
  for layer in range(config.n_layers):
    block = nnx.merge(block_graph, jax.tree.map(lambda stacked: stacked[layer], block_state))
    x_BxLxD, outputs = nnx.capture(block, nnx.Intermediate, method_outputs=nnx.Intermediate)(
        x_BxLxD, sin, cos)
    for path, value in jax.tree.leaves_with_path(outputs):
      name = "/".join(str(getattr(key, "key", key)) for key in path[:-3]) or "block"
      found[f"{layer}/{name}"] = rms(value)
  found["logits"] = rms(model(tokens_BxL))
  return found


def _coordinates(width: int, parametrization: str, batch_BxT: np.ndarray
                 ) -> tuple[dict[str, float], dict[str, float]]:
  """Per-layer activation RMS at initialisation and after STEPS optimizer steps."""
  config = _run_config(width, parametrization)
  model_config = ModelConfig.from_config_dict(config.model)
  build = lambda: Transformer(model_config, rngs=nnx.Rngs(params=0))
  graphdef, abstract_params, _ = nnx.split(nnx.eval_shape(build), nnx.Param, ...)
  tx = optimizer_lib.make_optimizer(config.optimizer, abstract_params, model_config)
  rates = jnp.broadcast_to(optimizer_lib.make_schedule(  # a constant schedule: one value
      config.optimizer, budget_lib.compute_budget(config))(jnp.arange(STEPS)), (STEPS,))

  def run(batch_BxT):
    _, params, rest = nnx.split(build(), nnx.Param, ...)

    def update(carry, rate):
      params, opt_state = carry
      grads = jax.grad(step_lib.mean_loss, argnums=1)(graphdef, params, rest, batch_BxT)
      updates, opt_state = tx.update(grads, opt_state, params, learning_rate=rate)
      return (optax.apply_updates(params, updates), opt_state), None

    (trained, _), _ = jax.lax.scan(update, (params, tx.init(params)), rates)
    both = jax.tree.map(lambda *pair: jnp.stack(pair), params, trained)
    return jax.lax.map(
        lambda params: _layer_rms(nnx.merge(graphdef, params, rest), batch_BxT[:, :-1]), both)

  # Unoptimised machine code compiles in half the time; the activations are the same floats
  # to ~1e-6, and nothing here is timed.
  compiled = jax.jit(run).lower(batch_BxT).compile(
      compiler_options={"xla_backend_optimization_level": 0})
  rms = jax.device_get(compiled(batch_BxT))
  return tuple({name: float(value[when]) for name, value in rms.items()} for when in (0, 1))


@pytest.fixture(scope="module")
def coordinates() -> dict[tuple[str, int], tuple[dict[str, float], dict[str, float]]]:
  batch = np.random.default_rng(0).integers(0, VOCAB, (BATCH, LENGTH + 1), dtype=np.int32)
  found = {(parametrization, width): _coordinates(width, parametrization, batch)
           for parametrization, widths in (("mup", (256, 1024)), ("standard", (64, 1024)))
           for width in widths}
  # At its base width μP is the standard model (bit for bit: parametrization_test.py).
  found["mup", BASE_WIDTH] = found["standard", BASE_WIDTH]
  return found


def _spread(coordinates, parametrization, widths, when, name):
  """Largest / smallest RMS of one activation across widths."""
  values = [coordinates[parametrization, width][when][name] for width in widths]
  return max(values) / min(values)


def test_mup_activations_stay_flat_across_widths(coordinates):
  names = coordinates["mup", 64][0]
  hidden = [name for name in names if name != "logits"]
  assert len(hidden) == 13  # the embedding and every module output of the block
  for when in (0, 1):
    for name in hidden:
      assert _spread(coordinates, "mup", (64, 256, 1024), when, name) < 1.6, (when, name)
  # The logits start smaller at larger widths (the 1/m output multiplier; Yang et al. start
  # the head at zero) and are width-independent once trained.
  init_logits = [coordinates["mup", width][0]["logits"] for width in (64, 256, 1024)]
  assert init_logits == sorted(init_logits, reverse=True)
  assert _spread(coordinates, "mup", (64, 256, 1024), 1, "logits") < 1.6


def test_standard_activations_grow_with_width(coordinates):
  for when, least in ((0, 3.0), (1, 10.0)):
    growth = {name: coordinates["standard", 1024][when][name]
              / coordinates["standard", 64][when][name]
              for name in coordinates["standard", 64][when]}
    assert max(growth.values()) > least, (when, growth)
    assert growth["logits"] > 2.0
