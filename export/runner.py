"""Runs a model exported by `python -m scaling export`: numpy and safetensors only, no jax or flax.

  python run.py model.safetensors --prompt="def " [--max_new_tokens=N] [--temperature=0.8]
      [--top_k=40] [--top_p=0.95] [--seed=0] [--sliding_window]

The file's metadata holds the model config, the tokenizer (SentencePiece as base64 of its model
proto; `sentencepiece` is imported only then) and the provenance. The network is the project's:
embedding, pre-norm blocks x + attention(rmsnorm(x)), x + swiglu(rmsnorm(x)), final RMSNorm,
tied or untied head; RMSNorm is x / sqrt(mean(x^2) + eps) * scale; RoPE rotates feature pairs
(i, i + H/2) by position * theta^(-2i/H); query head n reads key/value head n // (n_heads /
n_kv_heads). Logits are in nats. A key/value cache makes each new token cost one position. The
context window is the trained seq_len: a longer prompt, or prompt plus --max_new_tokens, is
refused unless --sliding_window is given; then the context keeps the prompt's last seq_len
tokens, and when full its last seq_len // 2 tokens are re-encoded from position 0 (positions
restart, as in training, whose windows start anywhere in the text).
"""
import argparse
import base64
import json
import os
import sys
import time

# One BLAS thread unless the caller says otherwise: decoding multiplies small matrices, and on
# a busy 2-core machine threaded OpenBLAS made a 128-token forward pass ~15x slower.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
import numpy as np  # noqa: E402  # pylint: disable=wrong-import-position

FORMAT = "scaling-lab"
FORMAT_VERSION = "1"
CONFIG_FIELDS = ("vocab_size", "d_model", "n_layers", "n_heads", "n_kv_heads", "d_ff", "seq_len",
                 "rope_theta", "norm_eps", "tie_embeddings")


def tensor_shapes(config: dict) -> dict[str, tuple[int, ...]]:
  """The name and shape of every tensor a model with `config` (the metadata's dict) needs."""
  d_model, d_ff, vocab = config["d_model"], config["d_ff"], config["vocab_size"]
  n_heads, n_kv_heads = config["n_heads"], config["n_kv_heads"]
  head_dim = d_model // n_heads
  shapes = {"embed.embedding": (vocab, d_model), "final_norm.scale": (d_model,)}
  if not config["tie_embeddings"]:
    shapes["head.kernel"] = (d_model, vocab)
  for layer in range(config["n_layers"]):
    shapes.update({
        f"blocks.{layer}.attention_norm.scale": (d_model,),
        f"blocks.{layer}.attention.query.kernel": (d_model, n_heads, head_dim),
        f"blocks.{layer}.attention.key.kernel": (d_model, n_kv_heads, head_dim),
        f"blocks.{layer}.attention.value.kernel": (d_model, n_kv_heads, head_dim),
        f"blocks.{layer}.attention.output.kernel": (n_heads, head_dim, d_model),
        f"blocks.{layer}.mlp_norm.scale": (d_model,),
        f"blocks.{layer}.mlp.gate.kernel": (d_model, d_ff),
        f"blocks.{layer}.mlp.up.kernel": (d_model, d_ff),
        f"blocks.{layer}.mlp.down.kernel": (d_ff, d_model)})
  return shapes


def check_tensors(config: dict, tensors: dict[str, np.ndarray], source: str) -> None:
  """Raises ValueError (one line) for a missing or unexpected tensor, or one whose shape the
  config denies."""
  shapes = tensor_shapes(config)
  unexpected = sorted(set(tensors) - set(shapes))
  if unexpected:
    raise ValueError(f"{source} holds tensor {unexpected[0]!r}, which the model config in its "
                     "metadata does not have: config and tensors differ")
  for name, shape in shapes.items():
    if name not in tensors:
      raise ValueError(f"{source} lacks tensor {name!r}: the file is incomplete; export it again")
    if tuple(tensors[name].shape) != shape:
      raise ValueError(f"{source}: tensor {name!r} has shape {tuple(tensors[name].shape)} but the "
                       f"model config in its metadata implies {shape}: config and tensors differ")


def load(path: str) -> tuple[dict[str, str], dict[str, np.ndarray]]:
  """(metadata, float32 tensors) of an exported parameter file; ValueError with one line if the
  file is unreadable, not an export, or inconsistent with its own config."""
  from safetensors import safe_open  # pylint: disable=import-outside-toplevel
  try:
    with safe_open(path, framework="numpy") as handle:
      metadata = handle.metadata() or {}
      tensors = {name: handle.get_tensor(name).astype(np.float32) for name in handle.keys()}
  except FileNotFoundError:
    raise ValueError(f"{path}: no such file") from None
  except Exception as error:  # pylint: disable=broad-except  # SafetensorError has no base here
    raise ValueError(f"{path} is not a readable safetensors file (truncated or corrupt?): "
                     f"{error}") from None
  if metadata.get("format") != FORMAT:
    raise ValueError(f"{path} is a safetensors file without {FORMAT} metadata: it was not "
                     "written by `python -m scaling export`")
  if metadata.get("format_version") != FORMAT_VERSION:
    raise ValueError(f"{path} has format version {metadata.get('format_version')!r}; this "
                     f"runner reads version {FORMAT_VERSION}: use the run.py exported beside it")
  config = model_config(metadata)
  check_tensors(config, tensors, path)
  return metadata, tensors


def model_config(metadata: dict[str, str]) -> dict:
  """The model config stored in the metadata; ValueError naming a missing field."""
  config = json.loads(metadata.get("model_config", "{}"))
  missing = [name for name in CONFIG_FIELDS if name not in config]
  if missing:
    raise ValueError(f"the metadata's model_config lacks {missing}: export the run again")
  return config


def rms_norm(x_LxD: np.ndarray, scale_D: np.ndarray, eps: float) -> np.ndarray:
  mean_square_Lx1 = np.mean(np.square(x_LxD), axis=-1, keepdims=True)
  return x_LxD / np.sqrt(mean_square_Lx1 + np.float32(eps)) * scale_D


def rope(x_LxNxH: np.ndarray, positions_L: np.ndarray, theta: float) -> np.ndarray:
  """Rotates the feature pairs (i, i + H/2) of every head by position * theta^(-2i/H)."""
  head_dim = x_LxNxH.shape[-1]
  exponents = np.arange(head_dim // 2, dtype=np.float32) * np.float32(2.0 / head_dim)
  inverse_frequencies = np.float32(theta) ** -exponents
  angles_LxH2 = positions_L.astype(np.float32)[:, None] * inverse_frequencies[None, :]
  sin, cos = np.sin(angles_LxH2)[:, None, :], np.cos(angles_LxH2)[:, None, :]
  first, second = np.split(x_LxNxH, 2, axis=-1)
  return np.concatenate([first * cos - second * sin, second * cos + first * sin], axis=-1)


def _project(x_LxD: np.ndarray, kernel_DxNxH: np.ndarray) -> np.ndarray:
  """x @ kernel as one matrix product (BLAS), returned as [L, N, H]."""
  return (x_LxD @ kernel_DxNxH.reshape(kernel_DxNxH.shape[0], -1)).reshape(
      len(x_LxD), *kernel_DxNxH.shape[1:])


class Model:
  """The transformer over one sequence with a key/value cache of `seq_len` positions."""

  def __init__(self, config: dict, tensors: dict[str, np.ndarray]):
    check_tensors(config, tensors, "the parameters")
    self.config, self.tensors = config, tensors
    self.seq_len = int(config["seq_len"])
    head_dim = config["d_model"] // config["n_heads"]
    cache_shape = (config["n_layers"], self.seq_len, config["n_kv_heads"], head_dim)
    self.keys = np.zeros(cache_shape, np.float32)
    self.values = np.zeros(cache_shape, np.float32)
    self.length = 0

  def reset(self) -> None:
    """Empties the cache: the next tokens start at position 0."""
    self.length = 0

  def forward(self, tokens: np.ndarray) -> np.ndarray:
    """Float32 next-token logits [len(tokens), vocab_size] for tokens that continue the cached
    ones (positions length .. length + len - 1); appends their keys and values to the cache."""
    count = len(tokens)
    start, end = self.length, self.length + count
    if end > self.seq_len:
      raise ValueError(f"{end} positions exceed the context window of {self.seq_len} tokens")
    config, weights = self.config, self.tensors
    eps, theta = config["norm_eps"], config["rope_theta"]
    groups = config["n_heads"] // config["n_kv_heads"]
    positions_L = np.arange(start, end)
    visible_LxS = positions_L[:, None] >= np.arange(end)[None, :]
    x_LxD = weights["embed.embedding"][np.asarray(tokens)]
    for layer in range(config["n_layers"]):
      name = f"blocks.{layer}."
      h_LxD = rms_norm(x_LxD, weights[name + "attention_norm.scale"], eps)
      query_LxNxH = rope(_project(h_LxD, weights[name + "attention.query.kernel"]),
                         positions_L, theta)
      self.keys[layer, start:end] = rope(
          _project(h_LxD, weights[name + "attention.key.kernel"]), positions_L, theta)
      self.values[layer, start:end] = _project(h_LxD, weights[name + "attention.value.kernel"])
      keys_SxKxH, values_SxKxH = self.keys[layer, :end], self.values[layer, :end]
      query_LxKxGxH = query_LxNxH.reshape(count, -1, groups, query_LxNxH.shape[-1])
      scores_KxGxLxS = np.einsum("lkgh,skh->kgls", query_LxKxGxH, keys_SxKxH)
      scores_KxGxLxS = scores_KxGxLxS / np.sqrt(np.float32(query_LxNxH.shape[-1]))
      scores_KxGxLxS = np.where(visible_LxS, scores_KxGxLxS, -np.inf)
      scores_KxGxLxS = np.exp(scores_KxGxLxS - scores_KxGxLxS.max(axis=-1, keepdims=True))
      weights_KxGxLxS = scores_KxGxLxS / scores_KxGxLxS.sum(axis=-1, keepdims=True)
      attended_LxKxGxH = np.einsum("kgls,skh->lkgh", weights_KxGxLxS, values_SxKxH)
      output_NHxD = weights[name + "attention.output.kernel"].reshape(-1, x_LxD.shape[-1])
      x_LxD = x_LxD + attended_LxKxGxH.reshape(count, -1) @ output_NHxD
      h_LxD = rms_norm(x_LxD, weights[name + "mlp_norm.scale"], eps)
      gate_LxF = h_LxD @ weights[name + "mlp.gate.kernel"]
      hidden_LxF = gate_LxF / (1 + np.exp(-gate_LxF)) * (h_LxD @ weights[name + "mlp.up.kernel"])
      x_LxD = x_LxD + hidden_LxF @ weights[name + "mlp.down.kernel"]
    x_LxD = rms_norm(x_LxD, weights["final_norm.scale"], eps)
    self.length = end
    if config["tie_embeddings"]:
      return x_LxD @ weights["embed.embedding"].T
    return x_LxD @ weights["head.kernel"]


def sample_next(logits_V: np.ndarray, temperature: float, top_k: int, top_p: float,
                rng: np.random.Generator) -> int:
  """One token id: the argmax when temperature is 0, else a draw from softmax(logits / T)
  restricted to the top_k most likely ids (0: all) and then to the smallest set whose
  probability reaches top_p (1: all)."""
  if temperature == 0:
    return int(np.argmax(logits_V))
  scaled_V = logits_V.astype(np.float64) / temperature
  if 0 < top_k < len(scaled_V):
    scaled_V = np.where(scaled_V < np.sort(scaled_V)[-top_k], -np.inf, scaled_V)
  probabilities_V = np.exp(scaled_V - scaled_V.max())
  probabilities_V /= probabilities_V.sum()
  if top_p < 1:
    order = np.argsort(-probabilities_V, kind="stable")
    before = np.cumsum(probabilities_V[order]) - probabilities_V[order]
    probabilities_V[order[before >= top_p]] = 0
    probabilities_V /= probabilities_V.sum()
  return int(rng.choice(len(probabilities_V), p=probabilities_V))


def generate(model: Model, prompt: list[int], max_new_tokens: int, *, temperature: float = 0.0,
             top_k: int = 0, top_p: float = 1.0, seed: int = 0, vocab_size: int | None = None,
             stop_id: int | None = None, sliding_window: bool = False) -> list[int]:
  """Up to max_new_tokens ids that continue `prompt` (stopping after `stop_id`); only the
  first `vocab_size` ids (the tokenizer's) are ever drawn. See the module doc for the window."""
  window = model.seq_len
  if not prompt:
    raise ValueError("the prompt is empty: give at least one token")
  if not sliding_window and len(prompt) > window:
    raise ValueError(f"the prompt is {len(prompt)} tokens, longer than the context window of "
                     f"{window} tokens: shorten it or pass --sliding_window")
  if not sliding_window and len(prompt) + max_new_tokens > window:
    raise ValueError(f"the prompt ({len(prompt)} tokens) plus {max_new_tokens} new tokens exceeds "
                     f"the context window of {window} tokens: shorten the prompt, lower "
                     "--max_new_tokens or pass --sliding_window")
  rng = np.random.default_rng(seed)
  tokens = list(prompt)
  model.reset()
  logits_V = model.forward(np.asarray(tokens[-window:]))[-1]
  generated = []
  while len(generated) < max_new_tokens:
    token = sample_next(logits_V[:vocab_size], temperature, top_k, top_p, rng)
    generated.append(token)
    tokens.append(token)
    if token == stop_id or len(generated) == max_new_tokens:
      break
    if model.length == window:
      model.reset()
      logits_V = model.forward(np.asarray(tokens[-(window // 2):]))[-1]
    else:
      logits_V = model.forward(np.asarray([token]))[-1]
  return generated


class Tokenizer:
  """The run's tokenizer from the metadata: 'byte', 'sentencepiece' or 'token_ids'."""

  def __init__(self, metadata: dict[str, str]):
    info = json.loads(metadata.get("tokenizer", "{}"))
    self.kind = info.get("kind")
    self.vocab_size = info.get("vocab_size")
    self.end_of_document_id = info.get("end_of_document_id")
    if self.kind == "sentencepiece":
      try:
        import sentencepiece  # pylint: disable=import-outside-toplevel
      except ImportError:
        raise ValueError("this model uses a SentencePiece tokenizer: pip install "
                         "sentencepiece") from None
      if "tokenizer_model" not in metadata:
        raise ValueError("the metadata names a SentencePiece tokenizer but lacks its "
                         "'tokenizer_model': export the run again")
      proto = base64.b64decode(metadata["tokenizer_model"])
      self._processor = sentencepiece.SentencePieceProcessor(model_proto=proto)
    elif self.kind not in ("byte", "token_ids"):
      raise ValueError(f"the metadata names tokenizer {self.kind!r}; this runner knows 'byte', "
                       "'sentencepiece' and 'token_ids'")

  def encode(self, text: str) -> list[int]:
    if self.kind == "byte":
      return list(text.encode("utf-8"))
    if self.kind == "sentencepiece":
      return list(self._processor.encode(text))
    try:
      return [int(word) for word in text.split()]
    except ValueError:
      raise ValueError(f"this model reads token ids, not text: give --prompt as space-separated "
                       f"ids below {self.vocab_size}, e.g. --prompt='3 17 5'") from None

  def continue_text(self, prompt: str, ids: list[int]) -> str:
    """The prompt followed by the text of the generated `ids`."""
    return prompt + (" " if self.kind == "token_ids" else "") + self.decode(ids)

  def decode(self, ids: list[int]) -> str:
    if self.kind == "byte":
      return bytes(i for i in ids if i < 256).decode("utf-8", errors="replace")
    if self.kind == "sentencepiece":
      return self._processor.decode([i for i in ids if i != self.end_of_document_id])
    return " ".join(str(i) for i in ids)


def _arguments(argv: list[str]) -> argparse.Namespace:
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("parameters", help="the exported model.safetensors")
  parser.add_argument("--prompt", required=True, help="text to continue")
  parser.add_argument("--max_new_tokens", type=int, default=None,
                      help="tokens to generate (default: until the context window is full)")
  parser.add_argument("--temperature", type=float, default=0.8, help="0 decodes greedily")
  parser.add_argument("--top_k", type=int, default=0, help="keep the k likeliest tokens (0: all)")
  parser.add_argument("--top_p", type=float, default=1.0, help="nucleus probability (1: all)")
  parser.add_argument("--seed", type=int, default=0, help="seed of the sampler")
  parser.add_argument("--sliding_window", action="store_true",
                      help="slide the context window instead of refusing long sequences")
  arguments = parser.parse_args(argv)
  if arguments.temperature < 0 or arguments.top_k < 0 or not 0 < arguments.top_p <= 1:
    parser.error("need --temperature >= 0, --top_k >= 0 and 0 < --top_p <= 1")
  if arguments.max_new_tokens is not None and arguments.max_new_tokens < 1:
    parser.error("--max_new_tokens must be at least 1")
  return arguments


def main(argv: list[str]) -> int:
  """The command line; errors are one line on stderr and exit status 2."""
  arguments = _arguments(argv)
  try:
    metadata, tensors = load(arguments.parameters)
    tokenizer = Tokenizer(metadata)
    model = Model(model_config(metadata), tensors)
    prompt = tokenizer.encode(arguments.prompt)
    max_new_tokens = arguments.max_new_tokens or max(1, model.seq_len - len(prompt))
    started = time.perf_counter()
    generated = generate(model, prompt, max_new_tokens, temperature=arguments.temperature,
                         top_k=arguments.top_k, top_p=arguments.top_p, seed=arguments.seed,
                         vocab_size=tokenizer.vocab_size, stop_id=tokenizer.end_of_document_id,
                         sliding_window=arguments.sliding_window)
    seconds = time.perf_counter() - started
  except ValueError as error:
    print(f"error: {error}", file=sys.stderr)
    return 2
  print(tokenizer.continue_text(arguments.prompt, generated))
  print(f"{len(generated)} tokens in {seconds:.3f} s: {len(generated) / seconds:.1f} tokens/s "
        f"(prompt {len(prompt)} tokens)", file=sys.stderr)
  return 0


if __name__ == "__main__":
  sys.exit(main(sys.argv[1:]))
