"""The input pipeline: seeded, resumable, host-sharded batches of token windows on grain.

A window is seq_len + 1 consecutive tokens (inputs are window[:-1], targets window[1:]). Training
windows start every seq_len tokens, so each token is predicted once per epoch. Their order is a
seeded shuffle of window indices that changes every epoch; each batch of indices is read with
one gather from the memmapped tokens. The stream repeats forever and the training budget
decides where it stops. Global batch k is windows [k * B, (k + 1) * B) of that stream; host p of
h takes its rows [p * B / h, (p + 1) * B / h), so the hosts' rows together are the global batch.
Validation is the first eval_tokens / seq_len windows of the validation split: the same tokens for
every run at a given seq_len.

The train iterator is a grain `DatasetIterator`: `get_state()` returns a small JSON-able dict and
`set_state(state)` resumes exactly where it was (orbax: `grain.checkpoint.CheckpointSave(it)`).
"""
from absl import logging
import grain
import numpy as np

from data.preparation import Prepared
from data.preparation import load_prepared
from data.preparation import prepare
from data.tokenizers import tokenizer_vocab_size
from data import teacher
from data import topics

__all__ = ["Prepared", "load_prepared", "prepare", "tokenizer_vocab_size", "train_iterator",
           "validation_batches", "validation_floor", "epochs_for", "window_count"]


def window_count(tokens: np.ndarray, seq_len: int) -> int:
  """Non-overlapping windows of seq_len + 1 tokens, starting every seq_len tokens, in `tokens`."""
  return max(0, (len(tokens) - 1) // seq_len)


class _GatherWindows:
  """Maps window indices [B] to windows int32 [B, seq_len + 1] with one gather from the memmap."""

  def __init__(self, tokens: np.ndarray, seq_len: int):
    self._tokens = tokens
    self._seq_len = seq_len
    self._offsets = np.arange(seq_len + 1)

  def __call__(self, window_indices: np.ndarray) -> np.ndarray:
    starts = np.asarray(window_indices, dtype=np.int64) * self._seq_len
    return np.asarray(self._tokens[starts[:, None] + self._offsets], dtype=np.int32)


def _check_sharding(batch_size: int, process_index: int, process_count: int, field: str) -> int:
  """Rows per host; an error when the batch does not split evenly over the hosts."""
  if batch_size <= 0:
    raise ValueError(f"{field}={batch_size}: use a positive number of sequences")
  if not 0 <= process_index < process_count:
    raise ValueError(f"process_index={process_index} is not in [0, process_count={process_count})")
  if batch_size % process_count:
    raise ValueError(f"{field}={batch_size} does not divide over {process_count} hosts: use a "
                     f"multiple of {process_count}")
  return batch_size // process_count


def train_iterator(prepared: Prepared, global_batch_size: int, seq_len: int, seed: int,
                   process_index: int = 0, process_count: int = 1, worker_count: int = 0,
                   prefetch: int = 2) -> grain.DatasetIterator:
  """An endless, resumable iterator of this host's int32 [global_batch_size // process_count,
  seq_len + 1] training batches.

  Args:
    prepared: from `prepare`.
    global_batch_size: sequences per step over all hosts.
    seq_len: tokens predicted per sequence (the model's context length).
    seed: shuffle seed (config.data.shuffle_seed); each epoch is shuffled differently.
    process_index, process_count: this host and the number of hosts (jax.process_*).
    worker_count: grain worker processes (0 reads in threads of this process).
    prefetch: batches read ahead of the consumer.
  """
  local_batch = _check_sharding(global_batch_size, process_index, process_count,
                                "train.batch_size")
  windows = window_count(prepared.train_tokens, seq_len)
  if windows == 0:
    raise ValueError(f"the training split has {len(prepared.train_tokens)} tokens, fewer than "
                     f"model.seq_len + 1 = {seq_len + 1}: shorten model.seq_len or add text")
  dataset = (grain.MapDataset.range(windows).shuffle(seed=seed).repeat(None)
             .batch(local_batch, drop_remainder=True)[process_index::process_count]
             .map(_GatherWindows(prepared.train_tokens, seq_len)))
  iterable = dataset.to_iter_dataset(
      grain.ReadOptions(num_threads=2, prefetch_buffer_size=max(1, prefetch)))
  if worker_count > 0:
    iterable = iterable.mp_prefetch(grain.MultiprocessingOptions(num_workers=worker_count))
  return iter(iterable)


def epochs_for(prepared: Prepared, train_tokens: int, seq_len: int) -> float:
  """Passes over the training split that a budget of `train_tokens` predicted tokens implies.

  Warns when it is more than one (the run repeats data); record it in the run's result.
  """
  tokens_per_epoch = window_count(prepared.train_tokens, seq_len) * seq_len
  if tokens_per_epoch == 0:
    raise ValueError(f"the training split has {len(prepared.train_tokens)} tokens, fewer than "
                     f"model.seq_len + 1 = {seq_len + 1}: shorten model.seq_len or add text")
  epochs = train_tokens / tokens_per_epoch
  if epochs > 1:
    logging.warning("the token budget %d is %.2f epochs of the %d-token training split: data "
                    "repeats", train_tokens, epochs, tokens_per_epoch)
  return epochs


def validation_batches(prepared: Prepared, batch_size: int, seq_len: int, eval_tokens: int,
                       process_index: int = 0, process_count: int = 1) -> list[np.ndarray]:
  """The fixed validation set: eval_tokens / seq_len windows from the start of the validation
  split, as this host's int32 [batch_size // process_count, seq_len + 1] batches.

  eval_tokens / seq_len must be a multiple of batch_size, so every batch is full.
  """
  local_batch = _check_sharding(batch_size, process_index, process_count, "eval batch_size")
  windows = eval_tokens // seq_len
  if windows <= 0 or windows % batch_size:
    raise ValueError(f"train.eval_tokens={eval_tokens} is {eval_tokens / seq_len:g} windows of "
                     f"seq_len {seq_len}, not a positive multiple of the batch size {batch_size}: "
                     f"use a multiple of {batch_size * seq_len} tokens")
  available = window_count(prepared.val_tokens, seq_len)
  if available < windows:
    raise ValueError(f"the validation split has {len(prepared.val_tokens)} tokens, too few for "
                     f"train.eval_tokens={eval_tokens} at seq_len {seq_len} (needs "
                     f"{windows * seq_len + 1}): lower train.eval_tokens or raise "
                     "data.val_fraction")
  all_windows = _GatherWindows(prepared.val_tokens, seq_len)(np.arange(windows))
  rows = slice(process_index * local_batch, (process_index + 1) * local_batch)
  return [batch[rows] for batch in all_windows.reshape(-1, batch_size, seq_len + 1)]


def validation_floor(prepared: Prepared, seq_len: int, eval_tokens: int) -> float | None:
  """The lowest expected eval loss any model can reach on this corpus's fixed validation set,
  in nats/token: the mean loss of the Bayes predictor (data/topics.py, `bayes_losses`) on exactly
  the windows of `validation_batches` (eval_tokens / seq_len windows; every target token of a
  window, end-of-document ids included, predicted from the tokens before it in that window).
  None for corpora that do not know it (all but data.synthetic_kind=topics and teacher).
  """
  source = prepared.manifest["source"]
  language = topics.language_from_manifest(source) or teacher.language_from_manifest(source)
  if language is None:
    return None
  windows = np.concatenate(validation_batches(prepared, 1, seq_len, eval_tokens))
  return float(topics.bayes_losses(language, windows).mean())
