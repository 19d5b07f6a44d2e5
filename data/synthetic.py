"""A synthetic token source whose entropy rate is known exactly, to check a fitted loss floor E.

The source is a first-order Markov chain over `vocab_size` tokens. Each token belongs to one of
`context_count` contexts (a seeded random assignment); the next token is drawn from that
context's Zipf distribution (probability proportional to 1 / rank**zipf_exponent, over a seeded
random ranking of the whole vocabulary). All transition probabilities are positive, so the chain
is irreducible and aperiodic, and its entropy rate is exact:

  H = sum_s pi(s) * H(P(. | s))   nats/token,

with pi the stationary distribution. A model that has learnt the chain reaches a cross-entropy of
H nats/token and no lower. Documents are independent chains started from pi, so the stream of
tokens is stationary; only the first token of each document (one in `document_tokens`) is
unpredictable from the token before it (a
fraction 1 / DOCUMENT_TOKENS of the stream).
"""
import dataclasses
from typing import Iterator

import numpy as np

DOCUMENT_TOKENS = 1024  # length of one synthetic document (an independent chain), in tokens


@dataclasses.dataclass(frozen=True)
class MarkovChain:
  """Transition matrix `transitions[s, t] = P(next=t | current=s)` and stationary distribution."""
  transitions: np.ndarray
  stationary: np.ndarray

  @property
  def entropy_rate(self) -> float:
    """Entropy rate in nats/token: sum_s pi(s) H(P(.|s))."""
    row_entropy = -np.sum(self.transitions * np.log(self.transitions), axis=1)
    return float(self.stationary @ row_entropy)

  @property
  def unigram_entropy(self) -> float:
    """Entropy of the stationary token distribution in nats/token (a context-free model's floor)."""
    return float(-np.sum(self.stationary * np.log(self.stationary)))

  def sample(self, sequences: int, length: int, rng: np.random.Generator) -> np.ndarray:
    """`sequences` independent chains of `length` tokens, each started from pi; int32 [S, L]."""
    cumulative = np.cumsum(self.transitions, axis=1)
    cumulative[:, -1] = 1.0
    tokens = np.empty((sequences, length), dtype=np.int32)
    tokens[:, 0] = rng.choice(len(self.stationary), size=sequences, p=self.stationary)
    uniforms = rng.random((length, sequences))
    for step in range(1, length):
      rows = cumulative[tokens[:, step - 1]]
      tokens[:, step] = np.sum(rows < uniforms[step][:, None], axis=1)
    return tokens


def stationary_distribution(transitions: np.ndarray) -> np.ndarray:
  """The pi with pi @ transitions = pi and sum(pi) = 1, for an irreducible chain."""
  size = transitions.shape[0]
  system = np.vstack([transitions.T - np.eye(size), np.ones((1, size))])
  target = np.zeros(size + 1)
  target[-1] = 1.0
  solution, *_ = np.linalg.lstsq(system, target, rcond=None)
  return np.clip(solution, 0.0, None) / np.clip(solution, 0.0, None).sum()


def make_markov_chain(vocab_size: int, context_count: int, seed: int,
                      zipf_exponent: float = 1.0) -> MarkovChain:
  """The seeded chain described in the module docstring."""
  if vocab_size < 2:
    raise ValueError(f"data.synthetic_vocab={vocab_size}: use at least 2 tokens")
  if not 1 <= context_count <= vocab_size:
    raise ValueError(f"data.synthetic_states={context_count}: use 1..synthetic_vocab "
                     f"({vocab_size}) contexts")
  rng = np.random.default_rng(seed)
  zipf = 1.0 / np.arange(1, vocab_size + 1) ** zipf_exponent
  zipf /= zipf.sum()
  context_distributions = np.stack(
      [zipf[np.argsort(rng.permutation(vocab_size))] for _ in range(context_count)])
  context_of_token = rng.permutation(vocab_size) % context_count
  transitions = context_distributions[context_of_token]
  return MarkovChain(transitions, stationary_distribution(transitions))


class SyntheticSource:
  """Token documents from the seeded Markov chain; `manifest()` states the true entropy."""

  def __init__(self, vocab_size: int, context_count: int, total_tokens: int, seed: int):
    if total_tokens < DOCUMENT_TOKENS:
      raise ValueError(f"data.synthetic_tokens={total_tokens}: use at least {DOCUMENT_TOKENS}")
    self.chain = make_markov_chain(vocab_size, context_count, seed)
    self.vocab_size = vocab_size
    self.context_count = context_count
    self.total_tokens = total_tokens
    self.seed = seed

  def manifest(self) -> dict:
    return dict(source="synthetic", vocab_size=self.vocab_size,
                context_count=self.context_count, tokens=self.total_tokens,
                document_tokens=DOCUMENT_TOKENS, generator_seed=self.seed,
                entropy_nats_per_token=self.chain.entropy_rate,
                unigram_entropy_nats_per_token=self.chain.unigram_entropy)

  def token_documents(self) -> Iterator[tuple[str, np.ndarray]]:
    """(key, int32 tokens) per document, in a stable order, generated in blocks of 256 chains.

    Every document has DOCUMENT_TOKENS tokens except the last, which completes total_tokens.
    """
    documents = -(-self.total_tokens // DOCUMENT_TOKENS)
    rng = np.random.default_rng([self.seed, 1])
    for start in range(0, documents, 256):
      block = self.chain.sample(min(256, documents - start), DOCUMENT_TOKENS, rng)
      for offset, tokens in enumerate(block):
        index = start + offset
        yield f"chain-{index}", tokens[:self.total_tokens - index * DOCUMENT_TOKENS]
