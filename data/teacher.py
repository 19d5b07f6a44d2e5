"""A synthetic language learnt like a function, not a table, with an exact Bayes-optimal loss.

One dense order-n Markov chain over the V = vocab_size - 1 content ids whose next-token law is a
fixed random teacher network of the context (the student-teacher setting of scaling-law theory):

  logits(x_{t-n}, ..., x_{t-1}) = scale * W2^T (s * tanh(W1^T [e(x_{t-n}); ...; e(x_{t-1})] + b1))

with a random embedding e of `embed` dimensions per id (dimension j scaled by 1 / j**embed_decay,
so that the mean square over dimensions stays 1), `width` hidden units and unit k's output scale
s_k proportional to 1 / k**decay (unit L2 norm over k). The units are features of decreasing
weight: a student learns the strong ones from little data and with few parameters, and needs more
of both for each weaker one, so loss falls with N and D towards the floor. A decaying embedding
does the same for the student's width: a residual stream of d dimensions can hold only the
context's strongest directions, so the loss keeps falling with d_model over more sizes
(configs/sweeps/demo.py gives the measurements).
Documents are as in data/topics.py (one topic): each starts from the chain's stationary n-gram
law, has a geometric length of mean `document_tokens` and ends with the end id V.

The chain is tabulated (V**n contexts x V next tokens) as a `topics.TopicLanguage` with one
topic whose every context lists all V ids, so its sampling, stationary law and floor
(`topics.bayes_losses`: the cross-entropy of the Bayes predictor on the validation windows) are
the topics source's.
"""
import numpy as np

from data import topics

DEFAULT_EMBED = 16  # embedding dimensions per content id of the teacher's default, all alike


def _softmax_table(content: int, order: int, width: int, decay: float, scale: float, embed: int,
                   embed_decay: float, rng: np.random.Generator) -> np.ndarray:
  """P(next id | context) of the teacher for every context (base-V index), float64 [V**n, V]."""
  dimension_scales = np.arange(1, embed + 1, dtype=np.float64) ** -embed_decay
  dimension_scales *= np.sqrt(embed) / np.linalg.norm(dimension_scales)
  embedding = rng.normal(size=(content, embed)) * dimension_scales
  w1 = rng.normal(size=(order * embed, width)) / np.sqrt(order * embed)
  b1 = 0.5 * rng.normal(size=width)
  w2 = rng.normal(size=(width, content))
  unit_scales = np.arange(1, width + 1, dtype=np.float64) ** -decay
  unit_scales /= np.linalg.norm(unit_scales)
  contexts = np.arange(content**order)
  digits = np.stack([contexts // content**(order - 1 - j) % content for j in range(order)], 1)
  hidden = np.tanh(embedding[digits].reshape(len(contexts), -1) @ w1 + b1)
  logits = scale * (hidden * unit_scales) @ w2
  logits -= logits.max(axis=1, keepdims=True)
  probabilities = np.exp(logits)
  return probabilities / probabilities.sum(axis=1, keepdims=True)


def make_teacher_language(vocab_size: int, order: int, width: int, decay: float, scale: float,
                          document_tokens: float, seed: int, embed: int = DEFAULT_EMBED,
                          embed_decay: float = 0.0) -> topics.TopicLanguage:
  """The seeded language of the module docstring; refuses settings it cannot build.

  Args:
    vocab_size: token ids (content ids and the end-of-document id).
    order: n, the tokens of context the chain reads.
    width: hidden units of the teacher.
    decay: exponent of the units' output scales.
    scale: multiplies the logits: 0 gives uniform next tokens, larger a lower entropy.
    document_tokens: mean document length in tokens, end-of-document id excluded.
    seed: decides the teacher.
    embed: dimensions of the teacher's embedding of each content id.
    embed_decay: exponent of the embedding dimensions' scales (0: all alike).
  """
  topics.check_chain(vocab_size, order, document_tokens, "teacher")
  content = vocab_size - 1
  if width < 1:
    raise ValueError(f"data.synthetic_teacher_width={width}: use at least 1 hidden unit")
  if not decay >= 0:
    raise ValueError(f"data.synthetic_teacher_decay={decay}: use an exponent >= 0")
  if not scale >= 0:
    raise ValueError(f"data.synthetic_teacher_scale={scale}: use a logit scale >= 0")
  if embed < 1:
    raise ValueError(f"data.synthetic_teacher_embed={embed}: use at least 1 dimension")
  if not embed_decay >= 0:
    raise ValueError(f"data.synthetic_teacher_embed_decay={embed_decay}: use an exponent >= 0")
  entries = content**order * content
  if entries > topics.MAX_TABLE_ENTRIES:
    raise ValueError(f"(data.synthetic_vocab - 1)**(data.synthetic_order + 1) = {entries} table "
                     f"entries, more than {topics.MAX_TABLE_ENTRIES}: lower one of them")
  rng = np.random.default_rng([seed, 5])
  table = _softmax_table(content, order, width, decay, scale, embed, embed_decay, rng)[None]
  ranked = np.broadcast_to(np.arange(content, dtype=np.uint16), table.shape)
  return topics.TopicLanguage(ranked, table, topics.stationary(ranked, table, content),
                              np.ones(1), order, 1.0 / document_tokens)


def language_from_manifest(source_manifest: dict) -> topics.TopicLanguage | None:
  """The language a prepared corpus's `manifest["source"]` was generated from (None when that
  corpus is not the teacher source)."""
  if source_manifest.get("source") != "synthetic" or source_manifest.get("kind") != "teacher":
    return None
  return make_teacher_language(
      source_manifest["vocab_size"], source_manifest["order"], source_manifest["width"],
      source_manifest["decay"], source_manifest["scale"], source_manifest["document_tokens"],
      source_manifest["generator_seed"], source_manifest.get("embed", DEFAULT_EMBED),
      source_manifest.get("embed_decay", 0.0))


class TeacherSource(topics.LanguageSource):
  """Documents of the teacher language; `manifest()` names its parameters."""

  def __init__(self, vocab_size: int, order: int, width: int, decay: float, scale: float,
               document_tokens: float, total_tokens: int, seed: int, embed: int = DEFAULT_EMBED,
               embed_decay: float = 0.0):
    language = make_teacher_language(vocab_size, order, width, decay, scale, document_tokens,
                                     seed, embed, embed_decay)
    parameters = dict(order=order, width=width, decay=decay, scale=scale,
                      document_tokens=document_tokens)
    if (embed, embed_decay) != (DEFAULT_EMBED, 0.0):  # named only when set, so older corpora keep their ids
      parameters.update(embed=embed, embed_decay=embed_decay)
    super().__init__(language, "teacher", parameters, total_tokens, seed)
