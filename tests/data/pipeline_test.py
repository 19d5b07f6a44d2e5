"""Tests for data/pipeline.py."""
import json

import numpy as np
import pytest

from configs import base
from data import pipeline
from data import synthetic

SEQ_LEN = 8


@pytest.fixture(scope="module")
def prepared(tmp_path_factory):
  """A small synthetic corpus: 48 documents of 1024 tokens, ~10 of them for validation."""
  data = base.get_config().data
  data.update(dict(corpus="synthetic", synthetic_vocab=50, synthetic_states=5,
                   synthetic_tokens=48 * synthetic.DOCUMENT_TOKENS, val_fraction=0.2,
                   prepared_dir=str(tmp_path_factory.mktemp("cache"))))
  return pipeline.prepare(data, seq_len=SEQ_LEN, progress=None)


def _window_starts(prepared, batch: np.ndarray) -> list[int]:
  """Where each row of `batch` starts in the training tokens (rows are unique windows)."""
  tokens = np.asarray(prepared.train_tokens, dtype=np.int32)
  starts = []
  for row in batch:
    candidates = np.flatnonzero(
        np.all(np.lib.stride_tricks.sliding_window_view(tokens, SEQ_LEN + 1)[::SEQ_LEN] == row,
               axis=1))
    assert len(candidates) == 1
    starts.append(int(candidates[0]) * SEQ_LEN)
  return starts


def test_batches_are_windows_every_seq_len_tokens(prepared):
  iterator = pipeline.train_iterator(prepared, global_batch_size=4, seq_len=SEQ_LEN, seed=0)
  batch = next(iterator)
  assert batch.shape == (4, SEQ_LEN + 1) and batch.dtype == np.int32
  for start, row in zip(_window_starts(prepared, batch), batch):
    np.testing.assert_array_equal(row, prepared.train_tokens[start:start + SEQ_LEN + 1])


def test_each_epoch_is_a_different_permutation_of_all_windows(prepared):
  windows = pipeline.window_count(prepared.train_tokens, SEQ_LEN)
  tokens = np.asarray(prepared.train_tokens, dtype=np.int32)
  order = np.stack([tokens[i * SEQ_LEN:i * SEQ_LEN + SEQ_LEN + 1] for i in range(windows)])
  index_of = {row.tobytes(): i for i, row in enumerate(order)}
  assert len(index_of) == windows
  iterator = pipeline.train_iterator(prepared, global_batch_size=16, seq_len=SEQ_LEN, seed=3)
  rows = np.concatenate([next(iterator) for _ in range(2 * windows // 16 + 1)])
  indices = [index_of[row.tobytes()] for row in rows]
  first, second = indices[:windows], indices[windows:2 * windows]
  assert sorted(first) == list(range(windows)) == sorted(second)
  assert first != second and first != list(range(windows))
  other_seed = pipeline.train_iterator(prepared, global_batch_size=16, seq_len=SEQ_LEN, seed=4)
  assert not np.array_equal(next(other_seed), rows[:16])


@pytest.mark.parametrize("epochs_before_save", [0.01, 1.3])
def test_restored_iterator_yields_the_same_batches(prepared, epochs_before_save):
  """Saves early in the first epoch and in the middle of the second."""
  steps_before_save = max(1, int(
      epochs_before_save * pipeline.window_count(prepared.train_tokens, SEQ_LEN) / 16))

  def make():
    return pipeline.train_iterator(prepared, global_batch_size=16, seq_len=SEQ_LEN, seed=1)

  uninterrupted = make()
  for _ in range(steps_before_save):
    next(uninterrupted)
  state = json.loads(json.dumps(uninterrupted.get_state()))
  expected = [next(uninterrupted) for _ in range(5)]
  resumed = make()
  next(resumed)
  resumed.set_state(state)
  for batch in expected:
    np.testing.assert_array_equal(next(resumed), batch)


def test_hosts_see_disjoint_rows_that_make_up_the_global_batch(prepared):
  single = pipeline.train_iterator(prepared, global_batch_size=8, seq_len=SEQ_LEN, seed=2)
  hosts = [pipeline.train_iterator(prepared, global_batch_size=8, seq_len=SEQ_LEN, seed=2,
                                   process_index=i, process_count=2) for i in range(2)]
  for _ in range(3):
    global_batch = next(single)
    parts = [next(host) for host in hosts]
    assert parts[0].shape == (4, SEQ_LEN + 1)
    assert not {r.tobytes() for r in parts[0]} & {r.tobytes() for r in parts[1]}
    np.testing.assert_array_equal(np.concatenate(parts), global_batch)


def test_validation_is_the_first_windows_and_fixed(prepared):
  batches = pipeline.validation_batches(prepared, batch_size=4, seq_len=SEQ_LEN, eval_tokens=128)
  assert len(batches) == 4 and all(b.shape == (4, SEQ_LEN + 1) for b in batches)
  rows = np.concatenate(batches)
  for index, row in enumerate(rows):
    np.testing.assert_array_equal(row, prepared.val_tokens[index * SEQ_LEN:][:SEQ_LEN + 1])
  again = pipeline.validation_batches(prepared, batch_size=4, seq_len=SEQ_LEN, eval_tokens=128)
  np.testing.assert_array_equal(np.concatenate(again), rows)
  host_one = pipeline.validation_batches(prepared, 4, SEQ_LEN, 128, process_index=1,
                                         process_count=2)
  np.testing.assert_array_equal(host_one[0], batches[0][2:])


def test_epochs_for(prepared, caplog):
  tokens_per_epoch = pipeline.window_count(prepared.train_tokens, SEQ_LEN) * SEQ_LEN
  assert pipeline.epochs_for(prepared, tokens_per_epoch // 2, SEQ_LEN) == pytest.approx(0.5)
  assert pipeline.epochs_for(prepared, 3 * tokens_per_epoch, SEQ_LEN) == pytest.approx(3.0)
  assert "3.00 epochs" in caplog.text


def test_errors(prepared):
  with pytest.raises(ValueError, match="train.batch_size=6 does not divide over 4 hosts"):
    pipeline.train_iterator(prepared, 6, SEQ_LEN, 0, process_index=0, process_count=4)
  with pytest.raises(ValueError, match=r"process_index=2 is not in \[0, process_count=2\)"):
    pipeline.train_iterator(prepared, 4, SEQ_LEN, 0, process_index=2, process_count=2)
  with pytest.raises(ValueError, match="the training split has .* fewer than model.seq_len"):
    pipeline.train_iterator(prepared, 4, 10**7, 0)
  with pytest.raises(ValueError, match="the validation split has .* too few for "
                     "train.eval_tokens=65536 at seq_len 8"):
    pipeline.validation_batches(prepared, batch_size=4, seq_len=SEQ_LEN, eval_tokens=65_536)
  with pytest.raises(ValueError, match="not a positive multiple of the batch size 3"):
    pipeline.validation_batches(prepared, batch_size=3, seq_len=SEQ_LEN, eval_tokens=128)
