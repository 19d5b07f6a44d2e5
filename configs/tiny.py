"""The quick-check preset: a tiny model on the synthetic corpus, well under a minute on 2 CPU cores.

  python train.py --config=configs/tiny.py --workdir=/tmp/r

The variant `:text` trains the same model on the Python standard library with the byte tokenizer
(real text, so its export can be prompted with text):

  python train.py --config=configs/tiny.py:text --workdir=/tmp/r_text

The same loss on a (2, 2, 2) mesh of fake CPU devices:

  XLA_FLAGS=--xla_force_host_platform_device_count=8 python train.py --config=configs/tiny.py \
      --workdir=/tmp/r8 --config.mesh.data=2 --config.mesh.fsdp=2 --config.mesh.tensor=2
"""
import ml_collections

from configs import base
from configs import parse


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  variant = parse.parse_arg(arg, text=False)
  config = base.get_config()
  config.model.update(vocab_size=64, d_model=64, n_layers=2, n_heads=4, n_kv_heads=2, d_ff=192,
                      seq_len=128)
  config.data.update(corpus="synthetic", synthetic_vocab=64, synthetic_states=16,
                     synthetic_tokens=1_000_000, val_fraction=0.05)
  config.train.update(batch_size=16, train_tokens=262_144, warmup_tokens=16_384,
                      eval_every_tokens=65_536, eval_tokens=32_768, ckpt_every_tokens=131_072,
                      log_every_steps=32)
  if variant.text:
    config.model.update(vocab_size=264)
    config.data.update(corpus="stdlib", tokenizer="byte", val_fraction=0.02)
  return config
