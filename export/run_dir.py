"""Reading a run directory (finished or only checkpointed) into what an export needs.

A run directory, as `train.py` writes it, holds `config.json`, `checkpoints/<step>/` (orbax;
only the `params` item is read here) and, once finished, `result.json`. The parameters come from
the newest complete checkpoint, restored onto one host device. Provenance comes from
`result.json` when present, otherwise from the checkpoint step and the config's batch size.
"""
import dataclasses
import json
import pathlib
from typing import Any

import jax
import orbax.checkpoint as ocp
from flax import nnx

from configs import schema
from data import pipeline
from data import tokenizers
from model import ModelConfig, Transformer, counting
from records import layout
from training import budget as budget_lib


@dataclasses.dataclass(frozen=True)
class LoadedRun:
  """A run's model config, host parameters (pure nested dict), tokenizer and provenance."""
  model_config: ModelConfig
  params: dict[str, Any]
  tokenizer: tokenizers.Tokenizer
  provenance: dict[str, Any]


def _read_json(path: pathlib.Path) -> dict[str, Any] | None:
  return json.loads(path.read_text()) if path.is_file() else None


def run_tokenizer(data_config: Any, run_dir: pathlib.Path) -> tokenizers.Tokenizer:
  """The tokenizer a run trained with (`config.data`): a BPE from the copy saved in `run_dir`;
  SentencePiece (or a BPE run without that copy) from its prepared data."""
  if data_config.corpus in ("synthetic", "tokens"):
    return tokenizers.TokenIdTokenizer(tokenizers.tokenizer_vocab_size(data_config))
  if data_config.tokenizer == "byte":
    return tokenizers.ByteTokenizer()
  if data_config.tokenizer == "bpe" and (run_dir / layout.BPE_TOKENIZER_FILE).is_file():
    return tokenizers.BpeTokenizer(run_dir / layout.BPE_TOKENIZER_FILE)
  return pipeline.prepare(data_config).tokenizer


def restore_params(checkpoint_dir: pathlib.Path, model_config: ModelConfig
                   ) -> tuple[dict[str, Any], int]:
  """(parameters as a pure nested dict of host arrays, step) from the newest checkpoint."""
  manager = ocp.CheckpointManager(checkpoint_dir.absolute(), item_names=("params",),
                                  options=ocp.CheckpointManagerOptions(create=False))
  try:
    step = manager.latest_step()
    if step is None:
      raise ValueError(f"{checkpoint_dir} holds no complete checkpoint: train the run first")
    abstract_model = nnx.eval_shape(lambda: Transformer(model_config, rngs=nnx.Rngs(params=0)))
    device = jax.sharding.SingleDeviceSharding(jax.devices("cpu")[0])
    target = jax.tree.map(lambda leaf: jax.ShapeDtypeStruct(leaf.shape, leaf.dtype,
                                                            sharding=device),
                          nnx.state(abstract_model, nnx.Param))
    restored = manager.restore(step, args=ocp.args.Composite(
        params=ocp.args.StandardRestore(target)))
  finally:
    manager.close()
  return jax.device_get(nnx.to_pure_dict(restored.params)), step


def load_run(run_dir: str | pathlib.Path) -> LoadedRun:
  """Everything needed to export or sample `run_dir`; ValueError with the fix when it is not a
  run directory or has no checkpoint yet."""
  run_dir = pathlib.Path(run_dir)
  config_values = _read_json(run_dir / layout.CONFIG_FILE)
  if config_values is None:
    raise ValueError(f"{run_dir} is not a run directory (no {layout.CONFIG_FILE}): pass the "
                     "directory given to train.py as --workdir, or a sweep's runs/<id>")
  config = schema.RUN.from_dict(config_values)
  model_config = ModelConfig.from_config_dict(config.model).validate()
  if model_config.parametrization != "standard":
    raise ValueError(
        f"{run_dir} was trained with model.parametrization={model_config.parametrization!r}; "
        "export and sample run the standard Llama forward pass, without its attention and "
        "output multipliers, so they refuse it")
  params, step = restore_params(run_dir / layout.CHECKPOINTS_DIR, model_config)
  result = _read_json(run_dir / layout.RESULT_FILE) or {}
  tokens_per_step = budget_lib.compute_budget(config).tokens_per_step
  param_counts = counting.param_counts(model_config)
  provenance = {
      "run_id": run_dir.resolve().name,
      "config_hash": schema.config_hash(config),
      "step": step,
      "tokens_trained": step * tokens_per_step,
      "status": result.get("status", "checkpointed"),
      "final_eval_loss": result.get("final_eval_loss"),
      "bits_per_byte": result.get("bits_per_byte"),
      "n_params_total": param_counts["total"],
      "n_params_non_embedding": param_counts["non_embedding"],
      "code_version": result.get("code_version"),
  }
  return LoadedRun(model_config, params, run_tokenizer(config.data, run_dir), provenance)
