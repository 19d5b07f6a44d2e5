"""The program cache: bounded LRU, and keys that change with the program and only with it."""
import jax
import pytest

from configs import base
from training import programs


def test_the_cache_is_a_bounded_lru_that_counts():
  cache = programs.ProgramCache(max_entries=2)
  assert cache.get("a", lambda: 1) == 1 and cache.get("b", lambda: 2) == 2
  assert cache.get("a", lambda: 0) == 1  # a is now the most recent
  assert cache.get("c", lambda: 3) == 3  # evicts b
  assert len(cache) == 2 and cache.get("b", lambda: 4) == 4
  assert (cache.hits, cache.misses) == (1, 4)
  cache.clear()
  assert (len(cache), cache.hits, cache.misses) == (0, 0, 0)


def test_a_cache_needs_an_entry():
  with pytest.raises(ValueError, match="max_entries=0 must be at least 1"):
    programs.ProgramCache(max_entries=0)


def _keys(**changes) -> tuple[str, str]:
  config = base.get_config()
  for path, value in changes.items():
    section, name = path.split("__") if "__" in path else (None, path)
    (config[section] if section else config)[name] = value
  mesh = jax.make_mesh((1,), ("data",), devices=jax.devices()[:1])
  return programs.train_step_key(config, mesh), programs.eval_step_key(config, mesh)


@pytest.mark.parametrize("change", [
    dict(seed=3), dict(data__corpus="synthetic"), dict(train__eval_every_tokens=131_072),
    dict(train__log_every_steps=7), dict(logging__wandb="offline"),
    # The schedule is the step's learning-rate input: a trunk and its branches share a program.
    dict(optimizer__peak_learning_rate=1e-3), dict(train__train_tokens=524_288),
    dict(optimizer__schedule="wsd", optimizer__decay_fraction=0.3),
    dict(train__warmup_tokens=0), dict(train__steps_per_call=4)])
def test_fields_no_step_reads_keep_both_keys(change):
  assert _keys(**change) == _keys()


@pytest.mark.parametrize("change, eval_changes", [
    (dict(model__d_model=32), True), (dict(optimizer__weight_decay=0.0), False),
    (dict(optimizer__b2=0.99), False), (dict(train__grad_accum_steps=2), False)])
def test_fields_a_step_reads_change_its_key(change, eval_changes):
  (train, evaluation), (train_before, eval_before) = _keys(**change), _keys()
  assert train != train_before
  assert (evaluation != eval_before) == eval_changes
