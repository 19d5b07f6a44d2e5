"""Parameter files: a model's parameters as named float32 tensors in one safetensors file.

Names follow the model's parameter tree joined by dots, with the stacked blocks split per layer:
`embed.embedding` [vocab, d_model], `blocks.{i}.attention.query.kernel` [d_model, n_heads,
head_dim], ..., `final_norm.scale`, and `head.kernel` [d_model, vocab] when the head is untied
(`export/runner.py`'s `tensor_shapes` lists them all). Tensors are stored in float32 whatever the
training dtypes, so numpy alone reads them. The metadata (string to string) holds:

  format, format_version   'scaling-lab', '1'
  model_config             JSON of every ModelConfig field
  tokenizer                JSON {kind: byte | sentencepiece | token_ids, vocab_size,
                           end_of_document_id}
  tokenizer_model          base64 of the serialized SentencePiece model (sentencepiece only)
  provenance               JSON: run id, config hash, tokens trained, step, final eval loss
                           (nats/token), bits per byte, status, code version
"""
import base64
import dataclasses
import json
import os
import pathlib
from collections.abc import Mapping
from typing import Any

import numpy as np
from flax import nnx
from safetensors import numpy as safetensors_numpy

from data import tokenizers
from export import runner
from model import ModelConfig

BLOCKS = "blocks"


def _flatten(tree: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
  flat = {}
  for key, value in tree.items():
    name = f"{prefix}{key}"
    if isinstance(value, Mapping):
      flat.update(_flatten(value, name + "."))
    else:
      flat[name] = value
  return flat


def params_to_tensors(params: Mapping[str, Any]) -> dict[str, np.ndarray]:
  """Named float32 numpy tensors from a parameter tree (nnx.State or its pure dict) whose
  'blocks' leaves carry a leading layer axis; that axis becomes the `blocks.{i}.` prefix."""
  pure = nnx.to_pure_dict(params) if isinstance(params, nnx.State) else params
  tensors = {}
  for name, value in _flatten(pure).items():
    array = np.asarray(value, dtype=np.float32)
    if name.startswith(BLOCKS + "."):
      rest = name[len(BLOCKS) + 1:]
      for layer, layer_array in enumerate(array):
        tensors[f"{BLOCKS}.{layer}.{rest}"] = np.ascontiguousarray(layer_array)
    else:
      tensors[name] = array
  return tensors


def tensors_to_params(tensors: Mapping[str, np.ndarray], n_layers: int) -> dict[str, Any]:
  """The inverse of `params_to_tensors`: a nested dict with the blocks stacked per layer."""
  nested: dict[str, Any] = {}
  per_layer: dict[str, list[np.ndarray | None]] = {}
  for name, array in tensors.items():
    if name.startswith(BLOCKS + "."):
      layer, rest = name[len(BLOCKS) + 1:].split(".", 1)
      per_layer.setdefault(f"{BLOCKS}.{rest}", [None] * n_layers)[int(layer)] = array
    else:
      per_layer[name] = array
  for name, value in per_layer.items():
    node = nested
    *parents, leaf = name.split(".")
    for parent in parents:
      node = node.setdefault(parent, {})
    node[leaf] = np.stack(value) if isinstance(value, list) else value
  return nested


def tokenizer_metadata(tokenizer: tokenizers.Tokenizer) -> dict[str, str]:
  """The `tokenizer` (and `tokenizer_model`) metadata entries of a data/ tokenizer."""
  if isinstance(tokenizer, tokenizers.ByteTokenizer):
    kind = "byte"
  elif isinstance(tokenizer, tokenizers.SentencePieceTokenizer):
    kind = "sentencepiece"
  elif isinstance(tokenizer, tokenizers.TokenIdTokenizer):
    kind = "token_ids"
  else:
    raise ValueError(f"cannot export tokenizer {type(tokenizer).__name__}: only byte, "
                     "sentencepiece and token-id tokenizers are supported (export a bpe run "
                     "with --format=hf)")
  info = {"kind": kind, "vocab_size": int(tokenizer.vocab_size),
          "end_of_document_id": tokenizer.end_of_document_id}
  metadata = {"tokenizer": json.dumps(info)}
  if kind == "sentencepiece":
    proto = pathlib.Path(tokenizer.model_file).read_bytes()
    metadata["tokenizer_model"] = base64.b64encode(proto).decode("ascii")
  return metadata


def build_metadata(model_config: ModelConfig, tokenizer: tokenizers.Tokenizer,
                   provenance: Mapping[str, Any]) -> dict[str, str]:
  """The full metadata of a parameter file (see the module doc)."""
  return {"format": runner.FORMAT, "format_version": runner.FORMAT_VERSION,
          "model_config": json.dumps(dataclasses.asdict(model_config)),
          "provenance": json.dumps(dict(provenance), sort_keys=True),
          **tokenizer_metadata(tokenizer)}


def write(path: str | pathlib.Path, tensors: Mapping[str, np.ndarray],
          metadata: Mapping[str, str]) -> pathlib.Path:
  """Writes the parameter file after checking the tensors against the metadata's config."""
  runner.check_tensors(runner.model_config(metadata), tensors, "the exported parameters")
  path = pathlib.Path(path)
  path.parent.mkdir(parents=True, exist_ok=True)
  temporary = path.with_name(f".{path.name}.tmp")
  safetensors_numpy.save_file(dict(tensors), str(temporary), metadata=dict(metadata))
  umask = os.umask(0)
  os.umask(umask)
  temporary.chmod(0o666 & ~umask)  # safetensors creates the file owner-only (0600)
  temporary.replace(path)
  return path


def read(path: str | pathlib.Path) -> tuple[dict[str, str], dict[str, np.ndarray]]:
  """(metadata, float32 tensors) of a parameter file; ValueError with one line when it is
  truncated, foreign, incomplete or inconsistent (the runner's own checks)."""
  return runner.load(str(path))
