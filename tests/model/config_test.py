"""ModelConfig: building from the run config and one clear error per bad field."""
import numpy as np
import pytest
from flax import nnx

from configs import base
from model import ModelConfig, Transformer


def test_from_base_config_matches_its_fields():
  config_model = base.get_config().model
  config = ModelConfig.from_config_dict(config_model).validate()
  assert config.d_model == config_model.d_model and config.tie_embeddings is True
  assert config.head_dim == config_model.d_model // config_model.n_heads


def test_numpy_integers_are_accepted():
  assert ModelConfig(d_model=np.int64(32), n_layers=np.int32(1)).validate().head_dim == 8


def test_unknown_field_is_rejected():
  fields = dict(base.get_config().model)
  fields["d_modle"] = 64
  with pytest.raises(ValueError, match=r"unknown fields \['d_modle'\]"):
    ModelConfig.from_config_dict(fields)


@pytest.mark.parametrize("overrides, message", [
    (dict(vocab_size=0), r"model.vocab_size=0: must be a positive integer"),
    (dict(d_model=-4), r"model.d_model=-4: must be a positive integer"),
    (dict(n_layers=1.5), r"model.n_layers=1.5: must be a positive integer"),
    (dict(d_ff=0), r"model.d_ff=0: must be a positive integer"),
    (dict(seq_len=0), r"model.seq_len=0: must be a positive integer"),
    (dict(rope_theta=0.0), r"model.rope_theta=0.0: must be a positive number"),
    (dict(norm_eps=-1e-6), r"model.norm_eps=-1e-06: must be a positive number"),
    (dict(init_std=0), r"model.init_std=0: must be a positive number"),
    (dict(tie_embeddings="yes"), r"model.tie_embeddings='yes': must be true or false"),
    (dict(dtype="float16"), r"model.dtype='float16': must be one of \['bfloat16', 'float32'\]"),
    (dict(param_dtype="fp32"), r"model.param_dtype='fp32': must be one of"),
    (dict(d_model=64, n_heads=5, n_kv_heads=5),
     r"model.d_model=64 is not divisible by model.n_heads=5: choose n_heads dividing d_model"),
    (dict(n_heads=4, n_kv_heads=3),
     r"model.n_kv_heads=3 does not divide model.n_heads=4: choose n_kv_heads dividing n_heads"),
    (dict(d_model=12, n_heads=4, n_kv_heads=4), r"head size d_model/n_heads=3 is odd"),
])
def test_validation_names_the_field_and_fix(overrides, message):
  with pytest.raises(ValueError, match=message):
    ModelConfig(**overrides).validate()


def test_transformer_validates_before_building():
  with pytest.raises(ValueError, match="model.n_kv_heads=3"):
    Transformer(ModelConfig(n_kv_heads=3), rngs=nnx.Rngs(params=0))
