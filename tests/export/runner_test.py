"""The numpy runner against the JAX model: logits, KV cache, sampling, context window."""
import dataclasses

import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from export import runner
from export import safetensors_io


def _runner_model(jax_model) -> runner.Model:
  tensors = safetensors_io.params_to_tensors(nnx.state(jax_model, nnx.Param))
  return runner.Model(dataclasses.asdict(jax_model.config), tensors)


def _tokens(count: int, seed: int = 0) -> np.ndarray:
  return np.random.default_rng(seed).integers(0, 256, count)


@pytest.mark.parametrize("tie_embeddings", [True, False])
def test_logits_equal_the_jax_model(build_model, tie_embeddings):
  jax_model = build_model(tie_embeddings=tie_embeddings)
  tokens = _tokens(16)
  expected = np.asarray(jax_model(jnp.asarray(tokens)[None]))[0]
  actual = _runner_model(jax_model).forward(tokens)
  assert actual.dtype == np.float32
  assert np.abs(expected).max() > 1.0  # far from uniform, so the comparison means something
  np.testing.assert_allclose(actual, expected, atol=1e-4, rtol=0)


def test_cached_chunks_equal_one_full_pass(build_model):
  model = _runner_model(build_model())
  tokens = _tokens(16, seed=1)
  full = model.forward(tokens)
  model.reset()
  chunks = [model.forward(tokens[start:stop]) for start, stop in ((0, 5), (5, 6), (6, 16))]
  np.testing.assert_allclose(np.concatenate(chunks), full, atol=1e-5, rtol=0)


def test_cached_greedy_decode_equals_full_recomputation(build_model):
  model = _runner_model(build_model())
  prompt = [72, 105, 33]
  cached = runner.generate(model, prompt, 13, temperature=0.0)
  sequence = list(prompt)
  for _ in range(13):
    model.reset()
    sequence.append(int(np.argmax(model.forward(np.asarray(sequence))[-1])))
  assert cached == sequence[len(prompt):]
  assert len(set(cached)) > 1


def test_sampling_with_a_seed_is_deterministic(build_model):
  model = _runner_model(build_model())
  options = dict(temperature=1.5, top_k=50, top_p=0.95)
  first = runner.generate(model, [1, 2], 12, seed=7, **options)
  assert first == runner.generate(model, [1, 2], 12, seed=7, **options)
  others = [runner.generate(model, [1, 2], 12, seed=seed, **options) for seed in range(8, 11)]
  assert any(other != first for other in others)


def test_top_k_and_top_p_restrict_the_draws():
  logits = np.log(np.array([0.5, 0.3, 0.15, 0.05]))
  rng = np.random.default_rng(0)
  draws = [runner.sample_next(logits, 1.0, 2, 1.0, rng) for _ in range(300)]
  assert set(draws) == {0, 1}
  draws = [runner.sample_next(logits, 1.0, 0, 0.7, rng) for _ in range(300)]
  assert set(draws) == {0, 1}  # 0.5 < 0.7, 0.5 + 0.3 >= 0.7
  draws = [runner.sample_next(logits, 1.0, 0, 0.5, rng) for _ in range(50)]
  assert set(draws) == {0}
  draws = [runner.sample_next(logits, 1.0, 0, 1.0, rng) for _ in range(2000)]
  np.testing.assert_allclose(np.bincount(draws, minlength=4) / 2000, np.exp(logits), atol=0.04)
  assert runner.sample_next(np.array([0.0, 3.0, 1.0]), 0.0, 0, 1.0, rng) == 1


def test_draws_stay_in_the_tokenizer_vocabulary(build_model):
  model = _runner_model(build_model())
  drawn = runner.generate(model, [5], 15, temperature=5.0, seed=0, vocab_size=3)
  assert set(drawn) <= {0, 1, 2}


def test_generation_stops_after_the_stop_id(build_model):
  model = _runner_model(build_model())
  greedy = runner.generate(model, [9, 9], 10, temperature=0.0)
  stopped = runner.generate(model, [9, 9], 10, temperature=0.0, stop_id=greedy[2])
  assert stopped == greedy[:greedy.index(greedy[2]) + 1]


def test_long_sequences_are_refused_without_a_sliding_window(build_model):
  model = _runner_model(build_model())
  with pytest.raises(ValueError, match="longer than the context window of 16 tokens"):
    runner.generate(model, list(range(17)), 1)
  with pytest.raises(ValueError, match="exceeds the context window of 16 tokens"):
    runner.generate(model, list(range(10)), 7)
  assert len(runner.generate(model, list(range(10)), 6)) == 6


def test_sliding_window_follows_its_documented_rule(build_model):
  model = _runner_model(build_model())
  window = model.seq_len
  prompt = list(_tokens(20, seed=3))
  generated = runner.generate(model, prompt, 30, temperature=0.0, sliding_window=True)
  sequence, context_start = list(prompt), len(prompt) - window
  for _ in range(30):
    if len(sequence) - context_start > window:
      context_start = len(sequence) - window // 2
    model.reset()
    sequence.append(int(np.argmax(model.forward(np.asarray(sequence[context_start:]))[-1])))
  assert generated == sequence[len(prompt):]
