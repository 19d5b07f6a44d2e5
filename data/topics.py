"""A synthetic language that scales in N and D and whose Bayes-optimal loss is exact.

Every document draws one of K topics from a Zipf law (P(topic k) proportional to
1 / k**topic_zipf, k = 1..K) and a length T >= 1 from a geometric law of mean
`document_tokens` (the end hazard h = 1 / document_tokens after every token). Its T tokens
come from the topic's own sparse order-n Markov chain over the V = vocab_size - 1 content ids;
the last id, V, ends a document and follows every one (as the tokenizers' end-of-document id
does). Structure sits at three scales. For each topic and newest token v, a seeded random set
of `successors` distinct tokens can follow (a first-order signal: the set); the whole context of
n tokens decides in which order they are ranked, and the token of rank r (r = 1..successors) has
probability w_r proportional to 1 / r**2 (the order-n signal); and the sets and rankings differ
between topics, so the topic must be inferred from the context. Frequent topics are learnt from
little data and by small models, rare ones need more of both.

A document starts from its topic's stationary n-gram law (computed by power iteration), so every
position of a document, and so every window that starts inside one, sees the chain in its
stationary state; with memoryless lengths, the law of what a window sees does not depend on where
in a document it starts.

The floor, `bayes_losses`, is the cross-entropy of the Bayes predictor that knows every table,
the prior and h, on the windows that training/evaluate.py scores (data/pipeline.py): window
tokens [0, L] with targets 1..L, each predicted from the tokens before it in the same window.
It tracks the topic posterior of the current document fragment (since the window's start or
its last end-of-document id) with the forward algorithm in log space.
"""
import dataclasses
from typing import Iterator

import numpy as np

MAX_TABLE_ENTRIES = 1 << 25  # topics * (vocab_size - 1)**order * successors, at most
_BLOCK_DOCUMENTS = 256  # documents generated together
_POWER_ITERATIONS = 100_000  # at most, for a stationary law; converged at 1e-15 (L1) before


@dataclasses.dataclass(frozen=True)
class TopicLanguage:
  """The generator's parameters.

  ranked[k, c, r]: the next token of rank r of topic k after the context of n tokens whose
  base-V index (oldest digit first) is c; it has probability rank_weights[r], the same after
  every context (shape [successors]), or rank_weights[k, c, r] (shape [K, V**n, successors], as
  data/teacher.py builds it); they sum to 1 over r.
  stationary[k, c]: topic k's stationary law of n-grams, a document's first n tokens.
  prior[k]: P(topic k). end_probability: h, the probability that a document ends after each of
  its tokens.
  """
  ranked: np.ndarray
  rank_weights: np.ndarray
  stationary: np.ndarray
  prior: np.ndarray
  order: int
  end_probability: float

  @property
  def content_vocab(self) -> int:
    """V: content ids 0..V-1; id V ends a document."""
    return round(self.stationary.shape[1] ** (1 / self.order))

  @property
  def end_id(self) -> int:
    return self.content_vocab

  def context_index(self, tokens: np.ndarray) -> np.ndarray:
    """The base-V index of `tokens` [..., m] (oldest digit first), int64 [...]."""
    index = np.zeros(tokens.shape[:-1], dtype=np.int64)
    for column in range(tokens.shape[-1]):
      index = index * self.content_vocab + tokens[..., column]
    return index

  def weights_of(self, topic: np.ndarray, context: np.ndarray) -> np.ndarray:
    """P(ranked[topic, context, r]) for every rank r, float64 [..., successors]; `topic` and
    `context` broadcast against each other."""
    if self.rank_weights.ndim == 1:
      shape = np.broadcast_shapes(np.shape(topic), np.shape(context))
      return np.broadcast_to(self.rank_weights, shape + self.rank_weights.shape)
    return self.rank_weights[topic, context]

  def log_marginals(self) -> list[np.ndarray]:
    """[m] = log P(first m tokens of a document | topic), float64 [K, V**m], m = 0..n."""
    topics, vocab = self.stationary.shape[0], self.content_vocab
    with np.errstate(divide="ignore"):
      return [np.log(self.stationary.reshape(topics, vocab**m, -1).sum(-1))
              for m in range(self.order + 1)]

  def sample(self, count: int, rng: np.random.Generator) -> tuple[np.ndarray, list[np.ndarray]]:
    """`count` documents: (their topics int [count], each one's tokens with its end id)."""
    topics = rng.choice(len(self.prior), size=count, p=self.prior)
    lengths = rng.geometric(self.end_probability, size=count)
    n, vocab = self.order, self.content_vocab
    width = max(int(lengths.max()), n)
    tokens = np.empty((count, width), dtype=np.int64)
    uniforms = rng.random(count)
    starts = np.empty(count, dtype=np.int64)
    cumulative = np.cumsum(self.stationary, axis=1)
    for topic in np.unique(topics):
      rows = topics == topic
      starts[rows] = np.searchsorted(cumulative[topic], uniforms[rows] * cumulative[topic, -1],
                                     side="right")
    starts = np.minimum(starts, vocab**n - 1)
    for column in range(n):
      tokens[:, column] = starts // vocab**(n - 1 - column) % vocab
    uniforms = rng.random((count, width))
    successors = self.ranked.shape[-1]
    for t in range(n, width):
      context = self.context_index(tokens[:, t - n:t])
      cumulative = np.cumsum(self.weights_of(topics, context), axis=-1)
      ranks = np.minimum((cumulative <= uniforms[:, t, None]).sum(-1), successors - 1)
      tokens[:, t] = self.ranked[topics, context, ranks]
    documents = [np.append(row[:length], self.end_id).astype(np.int32)
                 for row, length in zip(tokens, lengths)]
    return topics, documents


def stationary(ranked: np.ndarray, weights: np.ndarray, vocab: int) -> np.ndarray:
  """Each topic's stationary n-gram law [K, V**n]: power iteration of the lazy chain from
  uniform (it converges for any chain; a reducible one gives one of its stationary laws)."""
  topics, contexts, _ = ranked.shape
  following = (np.arange(contexts)[None, :, None] % (contexts // vocab) * vocab + ranked
               + np.arange(topics)[:, None, None] * contexts).ravel()
  law = np.full((topics, contexts), 1.0 / contexts)
  for _ in range(_POWER_ITERATIONS):
    moved = np.bincount(following, (law[:, :, None] * weights).ravel(),
                        minlength=topics * contexts).reshape(topics, contexts)
    new = 0.5 * (law + moved)
    new /= new.sum(1, keepdims=True)
    change = np.abs(new - law).sum(1).max()
    law = new
    if change < 1e-15:
      break
  return law


def check_chain(vocab_size: int, order: int, document_tokens: float, source: str) -> None:
  """Refuses, in one line naming the field, a vocabulary, Markov order or document length that
  no chain-of-documents source (`source`: topics, teacher) can use."""
  if vocab_size < 3:
    raise ValueError(f"data.synthetic_vocab={vocab_size}: use at least 3 ids for the {source} "
                     "source (2 content ids and the end-of-document id)")
  if order < 1:
    raise ValueError(f"data.synthetic_order={order}: use a Markov order of at least 1")
  if not document_tokens >= 2:
    raise ValueError(f"data.synthetic_document_tokens={document_tokens}: use a mean document "
                     "length of at least 2 tokens")


def make_topic_language(vocab_size: int, topics: int, topic_zipf: float, order: int,
                        successors: int, document_tokens: float, seed: int) -> TopicLanguage:
  """The seeded language of the module docstring; refuses settings it cannot build.

  Args:
    vocab_size: token ids (content ids and the end-of-document id).
    topics: K.
    topic_zipf: exponent of the topic prior (0: uniform).
    order: n, the tokens of context a topic's chain reads.
    successors: tokens that can follow a context.
    document_tokens: mean document length in tokens, end-of-document id excluded.
    seed: decides every table.
  """
  check_chain(vocab_size, order, document_tokens, "topics")
  content = vocab_size - 1
  if topics < 1:
    raise ValueError(f"data.synthetic_topics={topics}: use at least 1 topic")
  if not topic_zipf >= 0:
    raise ValueError(f"data.synthetic_topic_zipf={topic_zipf}: use an exponent >= 0 (0: uniform)")
  if not 1 <= successors <= content:
    raise ValueError(f"data.synthetic_successors={successors}: use 1..{content} (the content "
                     f"ids, data.synthetic_vocab - 1) successors per context")
  entries = topics * max(content**order, content**2) * successors
  if entries > MAX_TABLE_ENTRIES:
    raise ValueError(f"data.synthetic_topics * (data.synthetic_vocab - 1)**max(2, "
                     f"data.synthetic_order) * data.synthetic_successors = {entries} table "
                     f"entries, more than {MAX_TABLE_ENTRIES}: lower one of them")
  rng = np.random.default_rng([seed, 2])
  sets = rng.random((topics, content, content)).argsort(-1)[..., :successors]
  contexts = content**order
  ranking = rng.random((topics, contexts, successors)).argsort(-1)
  newest = np.arange(contexts) % content
  ranked = np.take_along_axis(sets[:, newest], ranking, axis=-1).astype(np.uint16)
  weights = 1.0 / np.arange(1, successors + 1) ** 2
  weights /= weights.sum()
  prior = 1.0 / np.arange(1, topics + 1) ** topic_zipf
  return TopicLanguage(ranked, weights, stationary(ranked, weights, content), prior / prior.sum(),
                       order, 1.0 / document_tokens)


def _log_sum_exp(values: np.ndarray) -> np.ndarray:
  """log sum exp over the last axis; rows of -inf give -inf."""
  peak = np.max(values, axis=-1, keepdims=True)
  peak = np.where(np.isfinite(peak), peak, 0.0)
  with np.errstate(divide="ignore"):
    return np.log(np.sum(np.exp(values - peak), axis=-1)) + peak[..., 0]


def bayes_losses(language: TopicLanguage, windows: np.ndarray) -> np.ndarray:
  """-log P_Bayes(window[i + 1] | window[:i + 1]) for every window and i, nats, float64 [W, L].

  `windows`: int [W, L + 1], as data/pipeline.py cuts them from a split. The predictor's
  context is its window only, from the window's start or from the last end-of-document id in
  it, whichever is later: an end id resets the topic posterior to the prior, and every content
  token of the fragment, the window's unscored first one included, updates it. Targets are
  every token but the window's first, end ids included (P = h after a content token, 0 after
  an end id). Impossible tokens get an infinite loss. The floor is the mean, nats/token.
  """
  windows = np.asarray(windows, dtype=np.int64)
  count, length = windows.shape[0], windows.shape[1] - 1
  n, end = language.order, language.end_id
  clipped = np.minimum(windows, end - 1)  # end ids only reach lookups whose result is unused
  log_marginals = language.log_marginals()
  with np.errstate(divide="ignore"):
    log_prior = np.log(language.prior)
    log_h, log_continue = np.log(language.end_probability), np.log1p(-language.end_probability)
  # A window that starts inside a document: its first token is evidence on the topic too.
  log_posterior = log_prior + np.where(windows[:, :1] == end, 0.0,
                                       log_marginals[1][:, clipped[:, 0]].T)
  log_posterior -= _log_sum_exp(log_posterior)[:, None]
  fragment = np.zeros(count, dtype=np.int64)  # content tokens of the current fragment so far
  topic_index = np.arange(len(language.prior))[None, :]
  losses = np.empty((count, length))
  for i in range(length):
    current, target = windows[:, i], windows[:, i + 1]
    after_end = current == end
    fragment = np.where(after_end, 0, fragment + 1)
    log_posterior[after_end] = log_prior
    # log P(target | the fragment so far, topic k) [W, K] for a content target: the chain when
    # the fragment holds n tokens, else the stationary law of the fragment's first tokens.
    log_conditional = np.empty_like(log_posterior)
    if i >= n - 1:
      context = language.context_index(clipped[:, i - n + 1:i + 1])
      ranked = language.ranked[topic_index, context[:, None]]  # [W, K, successors]
      hit = ranked == clipped[:, i + 1, None, None]
      with np.errstate(divide="ignore"):
        chain = np.log((hit * language.weights_of(topic_index, context[:, None])).sum(-1))
      rows = fragment >= n
      log_conditional[rows] = chain[rows]
    for m in range(min(n, i + 2)):
      rows = fragment == m
      if rows.any():
        seen = language.context_index(clipped[rows, i - m + 1:i + 1])
        log_conditional[rows] = (log_marginals[m + 1][:, seen * end + clipped[rows, i + 1]].T
                                 - log_marginals[m][:, seen].T)
    log_content = _log_sum_exp(log_posterior + log_conditional)
    log_content = log_content + np.where(after_end, 0.0, log_continue)
    log_end = np.where(after_end, -np.inf, log_h)
    losses[:, i] = -np.where(target == end, log_end, log_content)
    update = target != end
    if update.any():
      posterior = log_posterior[update] + log_conditional[update]
      log_posterior[update] = posterior - _log_sum_exp(posterior)[:, None]
  return losses


def language_from_manifest(source_manifest: dict) -> TopicLanguage | None:
  """The language a prepared corpus's `manifest["source"]` was generated from (None when that
  corpus is not the topics source)."""
  if source_manifest.get("source") != "synthetic" or source_manifest.get("kind") != "topics":
    return None
  return make_topic_language(
      source_manifest["vocab_size"], source_manifest["topics"], source_manifest["topic_zipf"],
      source_manifest["order"], source_manifest["successors"],
      source_manifest["document_tokens"], source_manifest["generator_seed"])


class LanguageSource:
  """Documents of a `TopicLanguage`; `manifest()` names its kind and parameters.

  Documents are generated in blocks of 256 from one seeded stream until at least
  `total_tokens` tokens (end ids included) are out, so a larger total extends a smaller one.
  """

  def __init__(self, language: TopicLanguage, kind: str, parameters: dict, total_tokens: int,
               seed: int):
    if total_tokens < 1 / language.end_probability:
      raise ValueError(f"data.synthetic_tokens={total_tokens}: use at least "
                       f"data.synthetic_document_tokens ({1 / language.end_probability:g})")
    self.language = language
    self.vocab_size = language.end_id + 1
    self.total_tokens = total_tokens
    self.seed = seed
    self._kind = kind
    self._parameters = parameters

  def manifest(self) -> dict:
    return dict(source="synthetic", kind=self._kind, vocab_size=self.vocab_size,
                end_of_document_id=self.language.end_id, tokens=self.total_tokens,
                generator_seed=self.seed, **self._parameters)

  def token_documents(self) -> Iterator[tuple[str, np.ndarray]]:
    """(key, int32 tokens ending with the end id) per document, in a stable order."""
    rng = np.random.default_rng([self.seed, 3])
    written, index = 0, 0
    while written < self.total_tokens:
      _, documents = self.language.sample(_BLOCK_DOCUMENTS, rng)
      for tokens in documents:
        if written >= self.total_tokens:
          return
        yield f"{self._kind}-{index}", tokens
        written += len(tokens)
        index += 1


class TopicSource(LanguageSource):
  """Documents of the topics language (`make_topic_language`)."""

  def __init__(self, vocab_size: int, topics: int, topic_zipf: float, order: int,
               successors: int, document_tokens: float, total_tokens: int, seed: int):
    super().__init__(
        make_topic_language(vocab_size, topics, topic_zipf, order, successors, document_tokens,
                            seed),
        "topics", dict(topics=topics, topic_zipf=topic_zipf, order=order,
                       successors=successors, document_tokens=document_tokens),
        total_tokens, seed)
