"""result.json, the record a run leaves when it ends: its keys, their units, and its I/O.

Written once, last and atomically (`write_result`), by train.py at the end of a run
(training/loop.py), by train.py for a run that failed or was refused (training/results.py), or
by the sweep runner for a trainer that died without writing one (scaling/runner.py). Its
'status' is a `records.status.RunStatus`. Every key a writer may use is a `Key`, with its unit;
a key that is not one is a defect of the writer and is refused.

Units: losses in nats/token (natural-log cross-entropy per predicted token), tokens are
training tokens (predicted positions), FLOPs are training FLOPs (forward and backward), time in
seconds. Keys of a run that trained are absent or null where they do not apply (a diverged run
has no final eval loss); a failed run's record holds status, error or reason, and config.
"""
import enum
import pathlib
from typing import Any, Mapping

from records import atomic
from records import layout
from records import status as status_lib


class Key(enum.StrEnum):
  """A result.json key; `unit` is how its value is measured, `meaning` what it holds."""

  def __new__(cls, name: str, unit: str, meaning: str) -> "Key":
    member = str.__new__(cls, name)
    member._value_ = name
    member.unit = unit
    member.meaning = meaning
    return member

  STATUS = ("status", "RunStatus", "completed, diverged or failed")
  FINAL_EVAL_LOSS = ("final_eval_loss", "nats/token",
                     "mean loss on the validation tokens after the last step (null if diverged)")
  FINAL_TRAIN_LOSS = ("final_train_loss", "nats/token",
                      "bias-corrected moving average of the train loss at the last step")
  EVAL_LOSS_BY_POSITION = ("eval_loss_by_position", "nats/token",
                           "the final eval loss binned by position: {position, bin_width, loss}")
  EVAL_TOKENS = ("eval_tokens", "tokens", "validation tokens the final eval loss averages over")
  N_PARAMS_TOTAL = ("n_params_total", "parameters", "all parameters, embeddings included")
  N_PARAMS_EMBEDDING = ("n_params_embedding", "parameters", "token-embedding parameters")
  N_PARAMS_NON_EMBEDDING = ("n_params_non_embedding", "parameters",
                            "parameters less the token embedding (Kaplan's N)")
  TOKENS = ("tokens", "tokens", "training tokens trained on (up to the divergence, if any)")
  STEPS = ("steps", "steps", "optimizer steps taken")
  EPOCHS = ("epochs", "passes", "passes over the training split that `tokens` amounts to")
  FLOPS_6ND = ("flops_6nd", "FLOPs", "6 x n_params_non_embedding x tokens (Kaplan's C = 6ND)")
  FLOPS_EXACT = ("flops_exact", "FLOPs",
                 "training FLOPs counted per matmul, attention and the output head included")
  FLOPS_SPENT = ("flops_spent", "FLOPs",
                 "exact training FLOPs of the steps this run trained itself (a branch: its "
                 "decay; the trunk it starts from is counted in the trunk's record)")
  SCHEDULE = ("schedule", "name",
              "learning-rate schedule: cosine, constant, wsd, wsd_trunk or wsd_branch")
  TRUNK_ID = ("trunk_id", "run id", "a branch's trunk (its workdir's name); '' otherwise")
  BRANCH_TOKENS = ("branch_tokens", "tokens",
                   "where a branch leaves its trunk (its trunk checkpoint); 0 otherwise")
  DECAY_TOKENS = ("decay_tokens", "tokens",
                  "tokens of the learning-rate decay (wsd), 0 for schedules without one")
  WALL_SECONDS = ("wall_seconds", "seconds", "wall time of the run over all its launches")
  TOKENS_PER_SECOND = ("tokens_per_second", "tokens/second",
                       "steady-state training throughput (no compilation, evals or saves)")
  MFU = ("mfu", "fraction", "model FLOPs utilisation: matmul FLOPs per second / peak_flops")
  PEAK_FLOPS = ("peak_flops", "FLOP/s", "the peak of the devices that MFU is measured against")
  BITS_PER_BYTE = ("bits_per_byte", "bits/byte",
                   "final_eval_loss per UTF-8 byte of validation text (text corpora only)")
  LOSS_FLOOR = ("loss_floor", "nats/token",
                "the lowest expected final_eval_loss any model can reach on this validation set "
                "(the Bayes predictor's; corpora that know it only: data.synthetic_kind=topics)")
  DIVERGED_STEP = ("diverged_step", "step", "the step whose train loss was non-finite")
  CONFIG = ("config", "dict", "the resolved run config (config.json)")
  CONFIG_HASH = ("config_hash", "sha256 hex", "hash of the canonical JSON of the config")
  CODE_VERSION = ("code_version", "git commit", "the checkout's commit, '-dirty' if changed")
  VERSIONS = ("versions", "dict", "versions of jax, flax and optax")
  MACHINE = ("machine", "text", "the CPU model and the devices the run trained on (floating-point "
             "results are bit-exact only on the same machine, code and versions)")
  DATA_MANIFEST = ("data_manifest", "dict", "key and content_hash of the prepared data")
  ERROR = ("error", "text", "why train.py refused or failed the run, on one line")
  TRACEBACK = ("traceback", "text", "the traceback of a run that failed while running")
  REASON = ("reason", "text", "why the runner ended the run (its trainer died), on one line")
  EXIT_CODE = ("exit_code", "exit code", "the trainer's last exit code (runner records)")


def check_result(record: Mapping[str, Any]) -> None:
  """Raises TypeError unless `record` is a result.json: known keys and a RunStatus."""
  unknown = sorted(set(record) - set(Key))
  if unknown:
    raise TypeError(f"result.json keys {unknown} are not in records.result.Key; add them there "
                    "with their units")
  if record.get(Key.STATUS) not in set(status_lib.RunStatus):
    raise TypeError(f"result.json status {record.get(Key.STATUS)!r} is not one of "
                    f"{[str(status) for status in status_lib.RunStatus]}")


def write_result(run_dir: str | pathlib.Path, record: Mapping[str, Any]) -> pathlib.Path:
  """Checks `record` (`check_result`) and writes it as RUNDIR/result.json, atomically."""
  check_result(record)
  path = pathlib.Path(run_dir) / layout.RESULT_FILE
  atomic.write_json_atomic(path, dict(record))
  return path


def read_result(run_dir: str | pathlib.Path) -> dict[str, Any] | None:
  """RUNDIR/result.json, or None when the run has not ended (no such file).

  Raises ValueError naming the file when it is not valid JSON or not a JSON object.
  """
  path = pathlib.Path(run_dir) / layout.RESULT_FILE
  record = atomic.read_json(path)
  if record is not None and not isinstance(record, dict):
    raise ValueError(f"{path} holds {type(record).__name__}, not a JSON object; restore it or "
                     "delete it")
  return record
