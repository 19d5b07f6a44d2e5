"""`export_hf`: a run directory -> a Hugging Face Llama directory that `transformers` loads.

  transformers.AutoModelForCausalLM.from_pretrained(DIR)   # a LlamaForCausalLM, float32

The directory holds `config.json` (LlamaConfig: sizes, grouped-query heads, rope theta, RMSNorm
epsilon, tied or untied head, the end-of-document id as eos), `model.safetensors` (float32, HF
names and [out_features, in_features] layouts), `generation_config.json` and, when the run has
a text tokenizer, the tokenizer files of a `PreTrainedTokenizerFast` (`tokenizer.json`...).

The mapping from the project's parameters (export/safetensors_io.py names them):
  embed.embedding [V, D]               -> model.embed_tokens.weight [V, D]
  blocks.i.attention.query [D, N, H]   -> model.layers.i.self_attn.q_proj.weight [N*H, D]
  (key and value [D, K, H] likewise -> k_proj, v_proj [K*H, D])
  blocks.i.attention.output [N, H, D]  -> model.layers.i.self_attn.o_proj.weight [D, N*H]
  blocks.i.mlp.{gate,up} [D, F], down [F, D] -> mlp.{gate,up}_proj [F, D], down_proj [D, F]
  blocks.i.{attention,mlp}_norm.scale  -> input_layernorm, post_attention_layernorm .weight
  final_norm.scale -> model.norm.weight;  head.kernel [D, V] -> lm_head.weight [V, D] (untied)
The two networks are the same function: both rotate feature pairs (i, i + H/2) of each head by
position * theta^(-2i/H) (HF's `rotate_half`), so no permutation of q/k rows is needed; both
scale attention scores by 1/sqrt(H), normalize as x / sqrt(mean(x^2) + eps) * scale, and gate
the MLP as down(silu(gate(x)) * up(x)).

Tokenizers: the byte tokenizer becomes a byte-level BPE without merges whose id b is byte b
(the GPT-2 byte-to-character table) and id 256 ends a document; a byte-level BPE run's own
`tokenizer.json` is used as it is; SentencePiece and token-id runs get no tokenizer (the export
says so). `transformers` and `tokenizers` are imported only here, so the rest of export/ runs
without them.
"""
import dataclasses
import pathlib
from typing import Any

import numpy as np
from safetensors import numpy as safetensors_numpy

from data import tokenizers
from export import run_dir as run_dir_lib
from export import safetensors_io
from model import ModelConfig

WEIGHTS_FILE = "model.safetensors"
END_OF_DOCUMENT = tokenizers.BPE_END_OF_DOCUMENT


@dataclasses.dataclass(frozen=True)
class ExportedHF:
  """The written directory, whether it holds a tokenizer, and the run's provenance."""
  directory: pathlib.Path
  has_tokenizer: bool
  provenance: dict


def llama_config(model_config: ModelConfig, end_of_document_id: int | None) -> Any:
  """The `transformers.LlamaConfig` of `model_config` (float32, no biases, SiLU gate)."""
  import transformers  # pylint: disable=import-outside-toplevel
  return transformers.LlamaConfig(
      vocab_size=model_config.vocab_size, hidden_size=model_config.d_model,
      intermediate_size=model_config.d_ff, num_hidden_layers=model_config.n_layers,
      num_attention_heads=model_config.n_heads, num_key_value_heads=model_config.n_kv_heads,
      head_dim=model_config.head_dim, max_position_embeddings=model_config.seq_len,
      rms_norm_eps=model_config.norm_eps,
      rope_parameters={"rope_type": "default", "rope_theta": float(model_config.rope_theta)},
      tie_word_embeddings=model_config.tie_embeddings, hidden_act="silu", attention_bias=False,
      mlp_bias=False, bos_token_id=None, eos_token_id=end_of_document_id, pad_token_id=None,
      initializer_range=model_config.init_std, dtype="float32")


def hf_tensors(model_config: ModelConfig, params: dict[str, Any]) -> dict[str, np.ndarray]:
  """The run's parameters under HF Llama names and layouts (float32, contiguous)."""
  ours = safetensors_io.params_to_tensors(params)
  d_model = model_config.d_model
  tensors = {"model.embed_tokens.weight": ours["embed.embedding"],
             "model.norm.weight": ours["final_norm.scale"]}
  if not model_config.tie_embeddings:
    tensors["lm_head.weight"] = ours["head.kernel"].T
  for layer in range(model_config.n_layers):
    source, target = f"blocks.{layer}.", f"model.layers.{layer}."
    for name in ("query", "key", "value"):
      kernel = ours[f"{source}attention.{name}.kernel"]
      tensors[f"{target}self_attn.{name[0]}_proj.weight"] = kernel.reshape(d_model, -1).T
    tensors[f"{target}self_attn.o_proj.weight"] = (
        ours[f"{source}attention.output.kernel"].reshape(-1, d_model).T)
    for name in ("gate", "up", "down"):
      tensors[f"{target}mlp.{name}_proj.weight"] = ours[f"{source}mlp.{name}.kernel"].T
    tensors[f"{target}input_layernorm.weight"] = ours[f"{source}attention_norm.scale"]
    tensors[f"{target}post_attention_layernorm.weight"] = ours[f"{source}mlp_norm.scale"]
  return {name: np.ascontiguousarray(array, dtype=np.float32) for name, array in tensors.items()}


def byte_tokenizer_object() -> Any:
  """A `tokenizers.Tokenizer` equal to the byte tokenizer: id b is byte b, 256 ends a document."""
  from tokenizers import Tokenizer, decoders, models, pre_tokenizers  # pylint: disable=import-outside-toplevel
  from transformers.convert_slow_tokenizer import bytes_to_unicode  # pylint: disable=import-outside-toplevel
  vocab = {character: byte for byte, character in bytes_to_unicode().items()}
  tokenizer = Tokenizer(models.BPE(vocab=vocab, merges=[]))
  tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)
  tokenizer.decoder = decoders.ByteLevel()
  tokenizer.add_special_tokens([END_OF_DOCUMENT])
  return tokenizer


def hf_tokenizer(tokenizer: tokenizers.Tokenizer) -> Any | None:
  """A `transformers.PreTrainedTokenizerFast` equal to the run's tokenizer, or None when it has
  no HF counterpart here (SentencePiece, token ids)."""
  if isinstance(tokenizer, tokenizers.ByteTokenizer):
    backend = byte_tokenizer_object()
  elif isinstance(tokenizer, tokenizers.BpeTokenizer):
    backend = tokenizer.backend
  else:
    return None
  import transformers  # pylint: disable=import-outside-toplevel
  return transformers.PreTrainedTokenizerFast(
      tokenizer_object=backend, eos_token=END_OF_DOCUMENT,
      model_max_length=None, clean_up_tokenization_spaces=False)


def export_loaded_hf(loaded: run_dir_lib.LoadedRun, out_dir: str | pathlib.Path) -> ExportedHF:
  """Writes the HF directory of `loaded` into `out_dir` (created if needed)."""
  import transformers  # pylint: disable=import-outside-toplevel
  out_dir = pathlib.Path(out_dir)
  out_dir.mkdir(parents=True, exist_ok=True)
  end_of_document_id = loaded.tokenizer.end_of_document_id
  config = llama_config(loaded.model_config, end_of_document_id)
  config.save_pretrained(out_dir)
  transformers.GenerationConfig.from_model_config(config).save_pretrained(out_dir)
  tensors = hf_tensors(loaded.model_config, loaded.params)
  safetensors_numpy.save_file(tensors, str(out_dir / WEIGHTS_FILE), metadata={"format": "pt"})
  tokenizer = hf_tokenizer(loaded.tokenizer)
  if tokenizer is not None:
    tokenizer.save_pretrained(out_dir)
  return ExportedHF(out_dir, tokenizer is not None, loaded.provenance)


def export_run_hf(run_dir: str | pathlib.Path, out_dir: str | pathlib.Path) -> ExportedHF:
  """Exports the newest checkpoint of `run_dir` (finished or not) as a HF Llama directory."""
  return export_loaded_hf(run_dir_lib.load_run(run_dir), out_dir)
