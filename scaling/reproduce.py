"""Reproduction: rerun finished runs from their saved resolved configs and compare the results.

  python -m scaling reproduce RUNDIR [--out=DIR]
  python -m scaling reproduce SWEEP [--out=DIR]

A run directory holds `config.json` (the resolved config) and `result.json`. The rerun is a fresh
`train.py` process on a copy of that config in a new directory (by default
`RUNDIR/reproductions/<k>` or `SWEEP/reproductions/<k>/<run id>`, the first free k), with this
process's environment (device count, XLA flags). Before it starts, the data the run recorded
(`result.json` "data_manifest": the prepared corpus key and content hash) is checked against the
data prepared now. Then the final losses (nats/token), the step counts and the sha256 of the
final parameters (from each run's last checkpoint) are compared: equal everywhere is
'bit-exact'; otherwise the differences are reported. On the same machine, code and versions a
run is expected to reproduce bit-exactly, and anything less fails. A run recorded on another
machine (`result.json` "machine": another CPU model or other devices reorder floating-point
sums) passes 'within tolerance' when its steps, tokens and status match and both final losses
agree within MACHINE_TOLERANCE (relative; `--tolerance` sets another).
"""
import dataclasses
import hashlib
import json
import pathlib
import shutil
import subprocess
import sys
from typing import Any, Callable

import jax
import numpy as np
import orbax.checkpoint as ocp

from configs import schema
from data import pipeline
from records import atomic
from records import layout
from records import status as status_lib
from scaling import rundir, runner

COMPARED_FIELDS = ("status", "final_eval_loss", "final_train_loss", "steps", "tokens",
                   "diverged_step")
LOSS_FIELDS = ("final_eval_loss", "final_train_loss")
# Relative final-loss difference accepted from another machine. Reordering the sums (one CPU
# device against a 2-device data mesh) moved the final losses of two demo runs by 6e-8 to 9e-8
# (214 steps) and 1.4e-6 to 4.7e-6 (5,244 steps); this leaves two orders of magnitude more for
# other instruction sets and longer runs, and stays well under a fitted law's ~1% residuals.
MACHINE_TOLERANCE = 1e-3


@dataclasses.dataclass(frozen=True)
class Comparison:
  """An original run against its rerun. Losses are final eval losses in nats/token."""
  run_id: str
  original_dir: pathlib.Path
  rerun_dir: pathlib.Path
  original_loss: float | None
  rerun_loss: float | None
  differing_fields: tuple[str, ...]   # COMPARED_FIELDS whose values differ
  params_match: bool | None           # None: a run has no checkpoint to compare
  data_note: str                      # '' when the recorded data matches the data prepared now
  notes: tuple[str, ...]              # versions or code that differ, a failed rerun
  other_machine: str = ""             # '' on the same machine; else 'run X, rerun Y'
  relative_loss_difference: float | None = None  # the largest over LOSS_FIELDS
  tolerance: float = MACHINE_TOLERANCE

  @property
  def within_tolerance(self) -> bool:
    """Not bit-exact, but from another machine with only its losses differing, each within
    `tolerance` (relative)."""
    return (not self.bit_exact and bool(self.other_machine)
            and set(self.differing_fields) <= set(LOSS_FIELDS)
            and self.relative_loss_difference is not None
            and self.relative_loss_difference <= self.tolerance)

  @property
  def passed(self) -> bool:
    """Bit-exact, or within tolerance from another machine."""
    return self.bit_exact or self.within_tolerance

  @property
  def bit_exact(self) -> bool:
    """Every compared field equal and the final parameters identical (when both are saved)."""
    return not self.differing_fields and self.params_match is not False

  @property
  def loss_difference(self) -> float | None:
    """Rerun minus original final eval loss (nats/token), when both exist."""
    if self.original_loss is None or self.rerun_loss is None:
      return None
    return self.rerun_loss - self.original_loss

  def verdict(self) -> str:
    """'bit-exact', or what differs (with the eval-loss difference)."""
    if self.bit_exact:
      return "bit-exact"
    parts = [f"within tolerance ({self.relative_loss_difference:.1e} <= {self.tolerance:g} "
             f"relative, another machine)"] if self.within_tolerance else []
    if self.loss_difference is not None and self.loss_difference != 0.0:
      parts.append(f"eval loss differs by {self.loss_difference:+.3g} nats/token")
    others = [field for field in self.differing_fields if field != "final_eval_loss"]
    if others:
      parts.append(f"{', '.join(others)} differ")
    if self.params_match is False:
      parts.append("final parameters differ")
    return "; ".join(parts) or "differs"


def params_hash(run_dir: pathlib.Path) -> str | None:
  """sha256 (hex) of the parameters in the run's newest checkpoint, or None without one.

  The hash covers every array's tree path, dtype, shape and bytes, in tree order.
  """
  directory = pathlib.Path(run_dir).absolute() / layout.CHECKPOINTS_DIR
  if not directory.is_dir():
    return None
  manager = ocp.CheckpointManager(directory, item_names=("params",))
  try:
    step = manager.latest_step()
    if step is None:
      return None
    restored = manager.restore(step, args=ocp.args.Composite(params=ocp.args.StandardRestore()))
  finally:
    manager.close()
  digest = hashlib.sha256()
  for path, leaf in jax.tree_util.tree_flatten_with_path(restored.params)[0]:
    array = np.asarray(leaf)
    digest.update(f"{jax.tree_util.keystr(path)}|{array.dtype}|{array.shape}|".encode())
    digest.update(np.ascontiguousarray(array).tobytes())
  return digest.hexdigest()


def data_manifest(data_config: Any, seq_len: int) -> dict[str, Any]:
  """Key and content hash of the corpus `data_config` names, prepared now (once, cached)."""
  manifest = pipeline.prepare(data_config, seq_len=seq_len).manifest
  return {"key": manifest.get("key"), "content_hash": manifest.get("content_hash")}


def check_data(result: dict[str, Any], current: dict[str, Any]) -> str:
  """'' when the run's recorded data manifest matches `current`; otherwise what differs."""
  recorded = result.get("data_manifest")
  if not recorded:
    return "the run recorded no data manifest; the data could not be checked"
  differing = [f"{name} {recorded.get(name)} (run) != {current.get(name)} (now)"
               for name in ("key", "content_hash") if recorded.get(name) != current.get(name)]
  if differing:
    return "data mismatch: " + "; ".join(differing)
  return ""


def _environment_notes(result: dict[str, Any], rerun: dict[str, Any]) -> list[str]:
  notes = []
  if result.get("versions") != rerun.get("versions"):
    notes.append(f"versions differ: {result.get('versions')} (run) != {rerun.get('versions')}")
  if result.get("code_version") != rerun.get("code_version"):
    notes.append(f"code differs: {result.get('code_version')} (run) != "
                 f"{rerun.get('code_version')}")
  return notes


def _read_finished(run_dir: pathlib.Path) -> dict[str, Any]:
  result = atomic.read_json(run_dir / layout.RESULT_FILE)
  if not (run_dir / layout.CONFIG_FILE).is_file() or result is None:
    raise ValueError(f"{run_dir} is not a finished run (no config.json and result.json); pass "
                     "a run directory or a sweep directory")
  if result.get("status") not in status_lib.FINISHED:
    raise ValueError(f"{run_dir}: status {result.get('status')!r}; only completed or diverged "
                     "runs can be reproduced")
  return result


def rerun(run_dir: pathlib.Path, out_dir: pathlib.Path,
          trainer: pathlib.Path = runner.DEFAULT_TRAINER) -> int:
  """Trains the run of `run_dir` again in the new directory `out_dir`; returns the exit code.

  `out_dir` gets the original config.json and the rerun's files (train.log holds its output).
  """
  out_dir = pathlib.Path(out_dir)
  if out_dir.exists() and any(out_dir.iterdir()):
    raise ValueError(f"--out={out_dir} is not empty; choose a new directory")
  out_dir.mkdir(parents=True, exist_ok=True)
  shutil.copyfile(pathlib.Path(run_dir) / layout.CONFIG_FILE, out_dir / layout.CONFIG_FILE)
  with open(out_dir / layout.TRAIN_LOG, "wb") as log_file:
    return subprocess.run(runner.train_command(out_dir, trainer), cwd=runner.PROJECT_ROOT,
                          stdout=log_file, stderr=subprocess.STDOUT, check=False).returncode


def _relative_loss_difference(result: dict[str, Any], rerun: dict[str, Any]) -> float | None:
  """The largest |rerun - run| / |run| over LOSS_FIELDS that both have; None if none."""
  differences = [abs(rerun[field] - result[field]) / abs(result[field]) for field in LOSS_FIELDS
                 if isinstance(result.get(field), float) and isinstance(rerun.get(field), float)
                 and result[field] != 0]
  return max(differences) if differences else None


def _machine_note(result: dict[str, Any], rerun: dict[str, Any]) -> str:
  """'' when both record the same machine; otherwise which machines (an unrecorded one counts
  as another machine)."""
  run_machine, rerun_machine = result.get("machine"), rerun.get("machine")
  if run_machine is not None and run_machine == rerun_machine:
    return ""
  return f"run {run_machine or 'not recorded'}, rerun {rerun_machine or 'not recorded'}"


def reproduce_run(run_dir: pathlib.Path, out_dir: pathlib.Path,
                  trainer: pathlib.Path = runner.DEFAULT_TRAINER,
                  tolerance: float = MACHINE_TOLERANCE) -> Comparison:
  """Checks the data, reruns one finished run into `out_dir` and compares the two."""
  run_dir = pathlib.Path(run_dir)
  result = _read_finished(run_dir)
  config = schema.RUN.from_dict(json.loads((run_dir / layout.CONFIG_FILE).read_text()))
  data_note = check_data(result, data_manifest(config.data, config.model.seq_len))
  exit_code = rerun(run_dir, out_dir, trainer)
  rerun_result = atomic.read_json(pathlib.Path(out_dir) / layout.RESULT_FILE) or {}
  notes = _environment_notes(result, rerun_result) if rerun_result else []
  if rerun_result.get("status") not in status_lib.FINISHED:
    notes.append(f"the rerun did not finish (exit code {exit_code}, status "
                 f"{rerun_result.get('status')!r}); see {pathlib.Path(out_dir) / layout.TRAIN_LOG}")
  differing = tuple(field for field in COMPARED_FIELDS
                    if result.get(field) != rerun_result.get(field))
  original_hash, rerun_hash = params_hash(run_dir), params_hash(out_dir)
  params_match = None if original_hash is None or rerun_hash is None else (
      original_hash == rerun_hash)
  return Comparison(
      run_id=run_dir.name, original_dir=run_dir, rerun_dir=pathlib.Path(out_dir),
      original_loss=result.get("final_eval_loss"),
      rerun_loss=rerun_result.get("final_eval_loss"), differing_fields=differing,
      params_match=params_match, data_note=data_note, notes=tuple(notes),
      other_machine=_machine_note(result, rerun_result) if rerun_result else "",
      relative_loss_difference=_relative_loss_difference(result, rerun_result),
      tolerance=tolerance)


def _next_free(parent: pathlib.Path) -> pathlib.Path:
  index = 1
  while (parent / str(index)).exists():
    index += 1
  return parent / str(index)


def finished_runs(sweep_dir: pathlib.Path) -> list[pathlib.Path]:
  """Run directories of a sweep's run table whose result.json says completed or diverged."""
  sweep_dir = pathlib.Path(sweep_dir)
  finished = []
  for row in rundir.read_table(sweep_dir):
    run_dir = sweep_dir / layout.RUNS_DIR / row["run_id"]
    result = atomic.read_json(run_dir / layout.RESULT_FILE)
    if result is not None and result.get("status") in status_lib.FINISHED:
      finished.append(run_dir)
  return finished


def reproduce(path: pathlib.Path, out: pathlib.Path | None = None, *,
              trainer: pathlib.Path = runner.DEFAULT_TRAINER,
              on_result: Callable[[Comparison], None] | None = None,
              tolerance: float = MACHINE_TOLERANCE) -> list[Comparison]:
  """Reproduces a run directory or every finished run of a sweep directory, one at a time.

  `out` (default: `path/reproductions/<first free k>`) receives the rerun (for a sweep, one
  subdirectory per run id). `on_result` is called after each run. Raises ValueError when `path`
  is neither a finished run nor a sweep with finished runs.
  """
  path = pathlib.Path(path)
  out = pathlib.Path(out) if out is not None else _next_free(path / layout.REPRODUCTIONS_DIR)
  if (path / layout.SWEEP_FILE).is_file():
    run_dirs = finished_runs(path)
    if not run_dirs:
      raise ValueError(f"sweep {path} has no finished runs to reproduce; run it first")
    targets = [(run_dir, out / run_dir.name) for run_dir in run_dirs]
  else:
    targets = [(path, out)]
  comparisons = []
  for run_dir, out_dir in targets:
    comparisons.append(reproduce_run(run_dir, out_dir, trainer, tolerance))
    if on_result is not None:
      on_result(comparisons[-1])
  return comparisons


def format_table(comparisons: list[Comparison]) -> str:
  """One line per run: id, original and rerun eval loss (nats/token), verdict; then notes."""
  width = max([len("run")] + [len(c.run_id) for c in comparisons])
  lines = [f"{'run':<{width}}  {'loss (run)':>12}  {'loss (rerun)':>12}  verdict"]
  notes = []
  for comparison in comparisons:
    losses = [f"{loss:12.6f}" if loss is not None else f"{'-':>12}"
              for loss in (comparison.original_loss, comparison.rerun_loss)]
    lines.append(f"{comparison.run_id:<{width}}  {losses[0]}  {losses[1]}  "
                 f"{comparison.verdict()}")
    notes.extend(f"{comparison.run_id}: {note}"
                 for note in ((comparison.data_note,) if comparison.data_note else ())
                 + ((f"machines differ: {comparison.other_machine}",)
                    if comparison.other_machine else ())
                 + comparison.notes)
  exact = sum(comparison.bit_exact for comparison in comparisons)
  close = sum(comparison.within_tolerance for comparison in comparisons)
  lines.append(f"{exact} of {len(comparisons)} run(s) bit-exact"
               + (f", {close} within tolerance from another machine" if close else ""))
  return "\n".join(lines + notes)



def main(argv: list[str], out: str | None = None, tolerance: float = MACHINE_TOLERANCE) -> int:
  """`reproduce PATH` (argv[0] is the command): prints each run as it finishes, then the table.

  Returns 0 when every run is bit-exact or, recorded on another machine, within `tolerance`;
  1 otherwise; a bad PATH or tolerance is one line and status 2.
  """
  if len(argv) != 2:
    print("usage: python -m scaling reproduce RUNDIR|SWEEP [--out=DIR] [--tolerance=REL]",
          file=sys.stderr)
    return 2
  if not 0 <= tolerance < 1:
    print(f"error: --tolerance={tolerance} must be a relative loss difference in [0, 1), e.g. "
          f"{MACHINE_TOLERANCE:g}", file=sys.stderr)
    return 2

  def show(comparison: Comparison) -> None:
    print(f"{comparison.run_id}: {comparison.verdict()} ({comparison.rerun_dir})", flush=True)

  try:
    comparisons = reproduce(pathlib.Path(argv[1]), pathlib.Path(out) if out else None,
                            on_result=show, tolerance=tolerance)
  except ValueError as error:
    print(f"error: {error}", file=sys.stderr)
    return 2
  print(format_table(comparisons))
  return 0 if all(comparison.passed for comparison in comparisons) else 1
