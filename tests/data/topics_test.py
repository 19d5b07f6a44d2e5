"""Tests for data/topics.py and data/teacher.py: the floor against brute force, seeding,
statistics, bad settings."""
import collections
import itertools
import math
import re

import numpy as np
import pytest

from configs import base
from data import pipeline
from data import teacher
from data import topics

# The tiny instances: 4 content ids + the end id, order 2, windows of 5 targets; 3 topics, or
# one dense chain from a teacher of 8 units.
TINY = dict(vocab_size=5, topics=3, topic_zipf=1.0, order=2, successors=2, document_tokens=3.0)
TINY_TEACHER = dict(vocab_size=5, order=2, width=8, decay=1.0, scale=3.0, document_tokens=3.0)
SOURCES = {"topics": lambda total, seed: topics.TopicSource(**TINY, total_tokens=total,
                                                            seed=seed),
           "teacher": lambda total, seed: teacher.TeacherSource(**TINY_TEACHER,
                                                                total_tokens=total, seed=seed)}
TARGETS = 5


def _next_tokens(language: topics.TopicLanguage, state: tuple, prefix: tuple[int, ...]
                 ) -> list[tuple[int, float, tuple]]:
  """(token, probability, next state) of every generative step from `state` = (topic, tokens
  of its start n-gram still to emit, content tokens of the document so far; 0: a new one)."""
  topic, pending, fragment = state
  n, vocab, end, h = language.order, language.content_vocab, language.end_id, \
      language.end_probability
  if fragment == 0:  # a new document: its topic and its first n-gram, then its first token
    steps = []
    for k in range(len(language.prior)):
      for ngram in itertools.product(range(vocab), repeat=n):
        probability = language.prior[k] * language.stationary[k, language.context_index(
            np.array(ngram))]
        steps.append((ngram[0], probability, (k, ngram[1:], 1)))
    return steps
  steps = [(end, h, (None, (), 0))]
  if pending:
    return steps + [(pending[0], 1 - h, (topic, pending[1:], fragment + 1))]
  context = language.context_index(np.array(prefix[-n:]))
  for rank, weight in enumerate(language.weights_of(topic, context)):
    steps.append((int(language.ranked[topic, context, rank]), (1 - h) * weight,
                  (topic, (), fragment + 1)))
  return steps


def _enumerate(language: topics.TopicLanguage, start: tuple[int, ...], length: int
               ) -> dict[tuple[int, ...], float]:
  """P(window) of every window of `length` tokens that begins with `start` and then a new
  document, by summing over every path of the generative process (topics, n-grams, ranks)."""
  probabilities: dict[tuple[int, ...], float] = collections.defaultdict(float)

  def walk(prefix, probability, state):
    if len(prefix) == length:
      probabilities[prefix] += probability
      return
    for token, step, next_state in _next_tokens(language, state, prefix):
      if step > 0:
        walk(prefix + (token,), probability * step, next_state)

  walk(start, 1.0, (None, (), 0))
  return dict(probabilities)


def _brute_force_losses(probabilities: dict[tuple[int, ...], float]) -> dict:
  """-log P(x[i+1] | x[:i+1]) of every window and target, from prefix sums of P(window)."""
  prefix_probability = collections.defaultdict(float)
  for window, probability in probabilities.items():
    for stop in range(1, len(window) + 1):
      prefix_probability[window[:stop]] += probability
  return {window: np.array([-math.log(prefix_probability[window[:i + 2]]
                                      / prefix_probability[window[:i + 1]])
                            for i in range(len(window) - 1)])
          for window in probabilities}


@pytest.fixture(scope="module", params=sorted(SOURCES))
def kind(request) -> str:
  return request.param


@pytest.fixture(scope="module")
def tiny_language(kind):
  return SOURCES[kind](1000, 4).language


@pytest.fixture(scope="module")
def stationary_windows(tiny_language):
  """P(window) of a window of the stream at a point far from its start: it begins inside a
  document (as a new document: the source is stationary) w.p. 1 / (1 + h), else on an end id."""
  h = tiny_language.end_probability
  windows = {w: p / (1 + h)
             for w, p in _enumerate(tiny_language, (), TARGETS + 1).items()}
  for window, probability in _enumerate(tiny_language, (tiny_language.end_id,),
                                        TARGETS + 1).items():
    windows[window] = probability * h / (1 + h)
  return windows


def test_floor_equals_brute_force_on_every_window(tiny_language, stationary_windows):
  assert sum(stationary_windows.values()) == pytest.approx(1.0, abs=1e-12)
  brute_force = _brute_force_losses(stationary_windows)
  windows = np.array(list(stationary_windows))
  weights = np.array(list(stationary_windows.values()))
  losses = topics.bayes_losses(tiny_language, windows)
  np.testing.assert_allclose(losses, np.stack([brute_force[tuple(w)] for w in windows]),
                             rtol=1e-10, atol=1e-12)
  expected_floor = float(weights @ np.stack([brute_force[tuple(w)] for w in windows]).mean(1))
  assert float(weights @ losses.mean(1)) == pytest.approx(expected_floor, rel=1e-12)
  assert 0.3 < expected_floor < math.log(tiny_language.content_vocab)


def test_monte_carlo_floor_of_a_generated_stream_matches_brute_force(kind, tiny_language,
                                                                     stationary_windows):
  """Windows cut every TARGETS tokens from a long generated stream (as data/pipeline.py cuts
  them), mostly starting inside a document, against the exact expectation."""
  brute_force = _brute_force_losses(stationary_windows)
  expected = sum(p * brute_force[w].mean() for w, p in stationary_windows.items())
  source = SOURCES[kind](600_000, 4)
  stream = np.concatenate([tokens for _, tokens in source.token_documents()])[100:]
  count = (len(stream) - 1) // TARGETS
  windows = stream[np.arange(count)[:, None] * TARGETS + np.arange(TARGETS + 1)]
  per_window = topics.bayes_losses(source.language, windows).mean(1)
  batches = per_window[:count // 100 * 100].reshape(100, -1).mean(1)  # batch means: correlation
  standard_error = batches.std(ddof=1) / math.sqrt(len(batches))
  assert abs(per_window.mean() - expected) < 4 * standard_error
  assert standard_error < 0.01


def test_source_is_seeded_and_extends(kind):
  def documents(total, seed):
    return [tokens for _, tokens in SOURCES[kind](total, seed).token_documents()]

  first, again, longer = documents(5_000, 1), documents(5_000, 1), documents(20_000, 1)
  assert len(first) == len(again) and all(map(np.array_equal, first, again))
  assert all(map(np.array_equal, first, longer[:len(first)]))
  assert not np.array_equal(first[0], documents(5_000, 2)[0])
  assert sum(map(len, first)) >= 5_000 > sum(map(len, first[:-1]))
  assert all(d[-1] == 4 and np.all(d[:-1] < 4) and d.dtype == np.int32 for d in first)
  np.testing.assert_array_equal(SOURCES[kind](10, 1).language.rank_weights,
                                SOURCES[kind](10, 1).language.rank_weights)


def test_stationary_law_is_stationary(tiny_language):
  ranked, law = tiny_language.ranked, tiny_language.stationary
  vocab = tiny_language.content_vocab
  moved = np.zeros_like(law)
  for k, context, rank in itertools.product(*map(range, ranked.shape)):
    following = context % vocab * vocab + ranked[k, context, rank]
    moved[k, following] += law[k, context] * tiny_language.weights_of(k, context)[rank]
  np.testing.assert_allclose(moved, law, atol=1e-14)
  np.testing.assert_allclose(law.sum(1), 1.0)


def test_topics_lengths_and_transitions_follow_the_parameters():
  language = topics.make_topic_language(vocab_size=5, topics=5, topic_zipf=1.2, order=2,
                                        successors=3, document_tokens=20.0, seed=3)
  chosen, documents = language.sample(20_000, np.random.default_rng(5))
  counts = np.bincount(chosen, minlength=5)
  expected = 20_000 * language.prior
  assert np.all(np.abs(counts - expected) < 4 * np.sqrt(expected * (1 - language.prior)))
  lengths = np.array([len(d) - 1 for d in documents])
  assert abs(lengths.mean() - 20) < 4 * 20 / math.sqrt(len(lengths))
  assert all(d[-1] == 4 and np.all(d[:-1] < 4) for d in documents)
  for topic in (0, 4):
    mine = [d[:-1] for d, k in zip(documents, chosen) if k == topic]
    transitions = np.zeros((16, 4))  # [context, next]
    for document in mine:
      np.add.at(transitions, (document[:-2] * 4 + document[1:-1], document[2:]), 1)
    table = np.zeros((16, 4))
    for rank, weight in enumerate(language.rank_weights):
      np.add.at(table, (np.arange(16), language.ranked[topic, :, rank]), weight)
    seen = transitions.sum(1) > 200
    assert seen.sum() >= 8
    np.testing.assert_allclose(transitions[seen] / transitions[seen].sum(1, keepdims=True),
                               table[seen], atol=0.05 if topic == 4 else 0.03)
    starts = np.bincount([d[0] * 4 + d[1] for d in mine if len(d) >= 2], minlength=16)
    np.testing.assert_allclose(starts / starts.sum(), language.stationary[topic],
                               atol=4 * math.sqrt(0.25 / starts.sum()))


MAKERS = {"topics": lambda **settings: topics.make_topic_language(**dict(TINY, **settings)),
          "teacher": lambda **settings: teacher.make_teacher_language(**dict(TINY_TEACHER,
                                                                             **settings))}


@pytest.mark.parametrize("kind_refused, overrides, field", [
    ("topics", dict(vocab_size=2), "data.synthetic_vocab=2"),
    ("topics", dict(topics=0), "data.synthetic_topics=0"),
    ("topics", dict(topic_zipf=-1.0), "data.synthetic_topic_zipf=-1.0"),
    ("topics", dict(order=0), "data.synthetic_order=0"),
    ("topics", dict(successors=5), "data.synthetic_successors=5"),
    ("topics", dict(successors=0), "data.synthetic_successors=0"),
    ("topics", dict(document_tokens=1.0), "data.synthetic_document_tokens=1.0"),
    ("topics", dict(vocab_size=65, topics=4096, order=3), "table entries"),
    ("teacher", dict(vocab_size=2), "data.synthetic_vocab=2"),
    ("teacher", dict(order=0), "data.synthetic_order=0"),
    ("teacher", dict(width=0), "data.synthetic_teacher_width=0"),
    ("teacher", dict(decay=-0.5), "data.synthetic_teacher_decay=-0.5"),
    ("teacher", dict(scale=-1.0), "data.synthetic_teacher_scale=-1.0"),
    ("teacher", dict(embed=0), "data.synthetic_teacher_embed=0"),
    ("teacher", dict(embed_decay=-1.0), "data.synthetic_teacher_embed_decay=-1.0"),
    ("teacher", dict(document_tokens=1.0), "data.synthetic_document_tokens=1.0"),
    ("teacher", dict(vocab_size=257, order=3), "table entries"),
])
def test_bad_settings_are_refused(kind_refused, overrides, field):
  with pytest.raises(ValueError, match=re.escape(field)) as error:
    MAKERS[kind_refused](**overrides, seed=0)
  assert re.search(r": (use|lower) ", str(error.value))


def test_prepared_corpus_knows_its_floor(tmp_path):
  data = base.get_config().data
  data.update(corpus="synthetic", synthetic_kind="topics", synthetic_vocab=9, synthetic_topics=4,
              synthetic_tokens=40_000, synthetic_document_tokens=64.0, val_fraction=0.2,
              prepared_dir=str(tmp_path))
  prepared = pipeline.prepare(data, seq_len=16, progress=None)
  assert prepared.manifest["source"]["kind"] == "topics"
  assert prepared.manifest["vocab_size"] == 9 and prepared.val_tokens.max() <= 8
  floor = pipeline.validation_floor(prepared, seq_len=16, eval_tokens=16 * 64)
  windows = np.concatenate(pipeline.validation_batches(prepared, 4, 16, 16 * 64))
  language = topics.make_topic_language(9, 4, 1.0, 2, 3, 64.0, seed=0)
  assert floor == pytest.approx(topics.bayes_losses(language, windows).mean(), rel=1e-12)
  assert 0.5 < floor < math.log(8)
  data.update(synthetic_kind="markov", synthetic_states=4)
  assert pipeline.validation_floor(pipeline.prepare(data, progress=None), 16, 16 * 64) is None
  data.synthetic_kind = "bigrams"
  with pytest.raises(ValueError,
                     match="^data.synthetic_kind='bigrams': use markov, topics or teacher"):
    pipeline.prepare(data, progress=None)


def test_teacher_chain_follows_its_network():
  language = teacher.make_teacher_language(**dict(TINY_TEACHER, document_tokens=20.0), seed=2)
  table = language.rank_weights[0]  # [contexts, next id]
  assert table.shape == (16, 4) and np.all(language.ranked == np.arange(4))
  np.testing.assert_allclose(table.sum(1), 1.0)
  assert table.max() > 0.5  # a scale of 3 makes some next tokens likely
  uniform = teacher.make_teacher_language(**dict(TINY_TEACHER, scale=0.0), seed=2)
  np.testing.assert_allclose(uniform.rank_weights, 0.25)
  # With one unit dominating (a steep decay), log-probability differences between next ids are
  # one context-dependent activation times fixed output weights: a rank-one [16, 3] matrix.
  steep = teacher.make_teacher_language(**dict(TINY_TEACHER, decay=40.0), seed=2)
  log_table = np.log(steep.rank_weights[0])
  singular = np.linalg.svd(log_table[:, 1:] - log_table[:, :1], compute_uv=False)
  assert singular[1] < 1e-9 * singular[0]
  _, documents = language.sample(5_000, np.random.default_rng(5))
  transitions = np.zeros((16, 4))
  for document in documents:
    body = document[:-1]
    np.add.at(transitions, (body[:-2] * 4 + body[1:-1], body[2:]), 1)
  seen = transitions.sum(1) > 300
  assert seen.sum() >= 8
  counts = transitions[seen].sum(1, keepdims=True)
  standard_errors = np.sqrt(table[seen] * (1 - table[seen]) / counts)
  assert np.all(np.abs(transitions[seen] / counts - table[seen]) <= 4 * standard_errors + 1e-3)


def test_prepared_teacher_corpus_knows_its_floor(tmp_path):
  data = base.get_config().data
  data.update(corpus="synthetic", synthetic_kind="teacher", synthetic_vocab=9, synthetic_order=2,
              synthetic_teacher_width=16, synthetic_tokens=40_000,
              synthetic_document_tokens=64.0, val_fraction=0.2, prepared_dir=str(tmp_path))
  prepared = pipeline.prepare(data, seq_len=16, progress=None)
  assert prepared.manifest["source"]["kind"] == "teacher"
  floor = pipeline.validation_floor(prepared, seq_len=16, eval_tokens=16 * 64)
  windows = np.concatenate(pipeline.validation_batches(prepared, 4, 16, 16 * 64))
  language = teacher.make_teacher_language(9, 2, 16, 1.0, 3.0, 64.0, seed=0)
  assert floor == pytest.approx(topics.bayes_losses(language, windows).mean(), rel=1e-12)
  assert 0.3 < floor < math.log(8)


def test_teacher_embedding_spectrum_is_named_and_rebuilt(tmp_path):
  data = base.get_config().data
  data.update(corpus="synthetic", synthetic_kind="teacher", synthetic_vocab=9, synthetic_order=2,
              synthetic_teacher_width=16, synthetic_teacher_embed=6,
              synthetic_teacher_embed_decay=1.5, synthetic_tokens=40_000,
              synthetic_document_tokens=64.0, val_fraction=0.2, prepared_dir=str(tmp_path))
  prepared = pipeline.prepare(data, seq_len=16, progress=None)
  source = prepared.manifest["source"]
  assert (source["embed"], source["embed_decay"]) == (6, 1.5)
  language = teacher.make_teacher_language(9, 2, 16, 1.0, 3.0, 64.0, seed=0, embed=6,
                                           embed_decay=1.5)
  np.testing.assert_array_equal(teacher.language_from_manifest(source).rank_weights,
                                language.rank_weights)
  windows = np.concatenate(pipeline.validation_batches(prepared, 4, 16, 16 * 64))
  floor = pipeline.validation_floor(prepared, seq_len=16, eval_tokens=16 * 64)
  assert floor == pytest.approx(topics.bayes_losses(language, windows).mean(), rel=1e-12)
  # The default embedding (16 equal dimensions) is not named, so earlier corpora keep their ids.
  default = teacher.TeacherSource(**TINY_TEACHER, total_tokens=100, seed=0).manifest()
  assert "embed" not in default and "embed_decay" not in default

