"""Tests for data/synthetic.py."""
import numpy as np
import pytest

from data import synthetic


def test_stated_entropy_matches_monte_carlo_to_one_percent():
  chain = synthetic.make_markov_chain(vocab_size=64, context_count=16, seed=0)
  tokens = chain.sample(16, 20_000, np.random.default_rng(1))
  log_probabilities = np.log(chain.transitions[tokens[:, :-1], tokens[:, 1:]])
  monte_carlo = -log_probabilities.mean()
  assert monte_carlo == pytest.approx(chain.entropy_rate, rel=0.01)
  assert chain.entropy_rate < chain.unigram_entropy < np.log(64)


def test_empirical_transition_frequencies_match_the_chain():
  chain = synthetic.make_markov_chain(vocab_size=8, context_count=3, seed=2)
  tokens = chain.sample(8, 25_000, np.random.default_rng(3))
  counts = np.zeros((8, 8))
  np.add.at(counts, (tokens[:, :-1].ravel(), tokens[:, 1:].ravel()), 1)
  np.testing.assert_allclose(counts / counts.sum(1, keepdims=True), chain.transitions, atol=0.02)
  np.testing.assert_allclose(np.bincount(tokens.ravel(), minlength=8) / tokens.size,
                             chain.stationary, atol=0.01)


def test_two_state_chain_closed_form():
  transitions = np.array([[0.9, 0.1], [0.4, 0.6]])
  stationary = synthetic.stationary_distribution(transitions)
  np.testing.assert_allclose(stationary, [0.8, 0.2])

  def entropy(p):
    return -np.sum(p * np.log(p))

  chain = synthetic.MarkovChain(transitions, stationary)
  expected = 0.8 * entropy(np.array([0.9, 0.1])) + 0.2 * entropy(np.array([0.4, 0.6]))
  assert chain.entropy_rate == pytest.approx(expected, rel=1e-12)


def test_zipf_rows_and_single_context():
  chain = synthetic.make_markov_chain(vocab_size=16, context_count=1, seed=0)
  np.testing.assert_allclose(chain.transitions, chain.transitions[:1].repeat(16, 0))
  zipf = 1 / np.arange(1, 17)
  np.testing.assert_allclose(np.sort(chain.transitions[0])[::-1], zipf / zipf.sum())
  assert chain.entropy_rate == pytest.approx(chain.unigram_entropy)


def test_source_is_seeded_and_reports_entropy():
  total = 2 * synthetic.DOCUMENT_TOKENS + 5
  first = synthetic.SyntheticSource(32, 4, total, seed=5)
  again = synthetic.SyntheticSource(32, 4, total, seed=5)
  other = synthetic.SyntheticSource(32, 4, total, seed=6)
  documents = list(first.token_documents())
  assert [key for key, _ in documents] == ["chain-0", "chain-1", "chain-2"]
  assert [len(tokens) for _, tokens in documents] == [synthetic.DOCUMENT_TOKENS] * 2 + [5]
  for (_, a), (_, b) in zip(documents, again.token_documents()):
    np.testing.assert_array_equal(a, b)
  assert not np.array_equal(documents[0][1], next(other.token_documents())[1])
  assert first.manifest()["entropy_nats_per_token"] == first.chain.entropy_rate


def test_bad_settings():
  with pytest.raises(ValueError, match="data.synthetic_states=20"):
    synthetic.make_markov_chain(16, 20, 0)
  with pytest.raises(ValueError, match="data.synthetic_vocab=1"):
    synthetic.make_markov_chain(1, 1, 0)
  with pytest.raises(ValueError, match="data.synthetic_tokens=10"):
    synthetic.SyntheticSource(16, 4, 10, 0)
