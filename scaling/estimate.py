"""Run-time estimates for the dry-run table, from a measured throughput.

A run is modelled as a fixed start-up cost (imports, data, compile, checkpoints, evaluation) plus
its exact training FLOPs at a sustained rate: seconds = overhead_seconds + flops / flops_per_second.
Both are measured: from the sweep's own finished runs when there are any, otherwise by training
the sweep's smallest run for a few steps once. That calibration is kept in SWEEP/throughput.json
and in a per-machine cache keyed by the run's step shape (`MACHINE_CACHE`), so that another sweep
whose smallest run has the same shape, on the same machine, need not measure it again. The
estimate is rough: small models reach a lower share of the machine's peak than large ones.
"""
import dataclasses
import hashlib
import importlib.metadata
import json
import math
import os
import pathlib
import socket
import statistics
import subprocess
import sys
import tempfile

from records import atomic
from records import cli
from records import layout
from records.result import Key
from records.status import RunStatus
from scaling import grid, runner, runs, spool

CALIBRATION_STEPS = 8
MAX_CALIBRATION_RUNS = 256  # finished runs whose result.json a throughput median reads
# Calibrations of this machine, by step shape (`machine_key`); delete the file to measure again.
MACHINE_CACHE = pathlib.Path("~/.cache/scaling-lab/throughput.json")


@dataclasses.dataclass(frozen=True)
class Throughput:
  """Sustained exact training FLOPs per second and start-up seconds per run."""
  flops_per_second: float
  overhead_seconds: float
  source: str

  def seconds(self, flops_exact: float) -> float:
    """Estimated wall seconds of a run of `flops_exact` training FLOPs."""
    return self.overhead_seconds + flops_exact / self.flops_per_second


def from_results(results: list[dict]) -> Throughput | None:
  """Medians over finished runs' result.json (tokens_per_second, wall_seconds); None if none."""
  rates, overheads = [], []
  for result in results:
    if result.get(Key.STATUS) != RunStatus.COMPLETED or not result.get(Key.TOKENS_PER_SECOND):
      continue
    train_seconds = result[Key.TOKENS] / result[Key.TOKENS_PER_SECOND]
    rates.append(result[Key.FLOPS_EXACT] / train_seconds)
    overheads.append(max(0.0, result[Key.WALL_SECONDS] - train_seconds))
  if not rates:
    return None
  return Throughput(statistics.median(rates), statistics.median(overheads),
                    f"median of {len(rates)} finished runs")


def finished_results(sweep_dir: pathlib.Path, at_most: int = MAX_CALIBRATION_RUNS) -> list[dict]:
  """The result.json of the runs under SWEEP/runs that have one: all of them, or `at_most`
  spread evenly over the run ids (a median needs no more, and a large sweep's thousands of
  files would take seconds to read)."""
  runs_dir = pathlib.Path(sweep_dir) / layout.RUNS_DIR
  paths = sorted(runs_dir.glob(f"*/{layout.RESULT_FILE}"))
  if len(paths) > at_most:
    step = (len(paths) - 1) / (at_most - 1)
    paths = [paths[round(i * step)] for i in range(at_most)]
  return [atomic.read_json(path) for path in paths]


class Calibration:
  """A throughput measurement in progress. Made before the sweep is planned, it starts a training
  worker (`scaling.worker`), whose imports overlap the planning; `time(run)` then hands it `run`'s
  config trained for CALIBRATION_STEPS steps in a temporary directory (at a constant learning
  rate, on its own: a trunk's or branch's schedule does not change the time of a step), and the
  caller goes on (the dry run checks its run configs meanwhile). `result()` waits for it;
  `cancel()` stops the worker, measuring or not. The worker dies with this process."""

  def __init__(self):
    self._workdir = tempfile.TemporaryDirectory(prefix="scaling-calibration-")
    root = pathlib.Path(self._workdir.name)
    self._spool, self._run_dir = root / "spool", root / "run"
    self._spool.mkdir()
    self._run_dir.mkdir()
    self._worker_log = self._spool / spool.WORKER_LOG
    with open(self._worker_log, "ab") as log:
      self._worker = subprocess.Popen(
          [sys.executable, "-m", "scaling.worker", str(self._spool), f"--parent_pid={os.getpid()}"],
          cwd=runner.PROJECT_ROOT, stdout=log, stderr=subprocess.STDOUT)
    self._attempt: spool.WorkerAttempt | None = None
    self._label = ""

  def time(self, run: grid.RunSpec) -> None:
    """Hands the worker `run`, shortened to CALIBRATION_STEPS steps."""
    tokens_per_step = run.config.train.batch_size * run.config.model.seq_len
    config = grid.apply_overrides(run.config, {
        "train.train_tokens": CALIBRATION_STEPS * tokens_per_step, "train.warmup_tokens": 0,
        "train.eval_every_tokens": 0, "train.ckpt_every_tokens": 0,
        "train.eval_tokens": tokens_per_step, "train.branch_point_tokens": (),
        "train.branch_from": "", "optimizer.schedule": "constant"})
    self._label = f"size {run.shape.label}"
    atomic.write_json_atomic(self._run_dir / layout.CONFIG_FILE, runs.config_json(config))
    self._attempt = spool.WorkerAttempt(self._spool, self._worker.pid, self._run_dir)

  def result(self) -> Throughput:
    """Waits for the run; its throughput, or ValueError (a config train.py refuses) or
    RuntimeError (any other failure), one line naming the fix."""
    exit_code = self._attempt.wait(timeout=math.inf)
    result = atomic.read_json(self._run_dir / layout.RESULT_FILE)
    tail = self._last_line()
    self.cancel()
    if exit_code != cli.EXIT_OK or result is None:
      message = (f"the throughput calibration run of {self._label} failed (train.py exit code "
                 f"{exit_code}: {tail}); fix the config, or pass "
                 f"--throughput=FLOPS_PER_SECOND to skip the measurement")
      raise (ValueError if exit_code == cli.EXIT_USAGE else RuntimeError)(message)
    return dataclasses.replace(from_results([result]),
                               source=f"{CALIBRATION_STEPS}-step run of {self._label}")

  def cancel(self) -> None:
    """Stops the worker and removes the measurement's directory."""
    self._worker.kill()
    self._worker.wait()
    self._workdir.cleanup()

  def _last_line(self) -> str:
    """The last line the run (else the worker) wrote."""
    for log in (self._run_dir / layout.TRAIN_LOG, self._worker_log):
      lines = log.read_text(errors="replace").strip().splitlines() if log.exists() else []
      if lines:
        return lines[-1]
    return "no output"


def known_throughput(sweep_dir: pathlib.Path) -> Throughput | None:
  """From the sweep's finished runs, else from its cached calibration; None if neither."""
  sweep_dir = pathlib.Path(sweep_dir)
  measured = from_results(finished_results(sweep_dir))
  if measured is not None:
    return measured
  cached = atomic.read_json(sweep_dir / layout.THROUGHPUT_FILE)
  return Throughput(**cached) if cached is not None else None


def calibration_run(specs: list[grid.RunSpec]) -> grid.RunSpec:
  """The run a calibration times: the sweep's smallest (the fewest FLOPs per token)."""
  return min(specs, key=lambda spec: spec.flops_exact / spec.tokens)


def machine_key(run: grid.RunSpec) -> str:
  """What a step's time depends on besides the code: this host, jax's version, the devices it is
  given (JAX_PLATFORMS, XLA_FLAGS) and the run's model, batch and mesh."""
  config = runs.config_json(run.config)
  shape = dict(model=config["model"], mesh=config["mesh"],
               batch=[config["train"]["batch_size"], config["train"]["grad_accum_steps"]])
  digest = hashlib.sha256(json.dumps(shape, sort_keys=True).encode()).hexdigest()[:16]
  return "|".join([socket.gethostname(), f"jax {importlib.metadata.version('jax')}",
                   os.environ.get("JAX_PLATFORMS", ""), os.environ.get("XLA_FLAGS", ""), digest])


def machine_throughput(run: grid.RunSpec) -> Throughput | None:
  """This machine's cached calibration of `run`'s step shape (`MACHINE_CACHE`); None if none."""
  known = atomic.read_json(MACHINE_CACHE.expanduser()) or {}
  cached = known.get(machine_key(run))
  if cached is None:
    return None
  return Throughput(**dict(cached, source=f"{cached['source']}, this machine's cache"))


def save_calibration(sweep_dir: pathlib.Path, run: grid.RunSpec,
                     throughput: Throughput) -> None:
  """Caches a calibration of `run` in SWEEP/throughput.json and in `MACHINE_CACHE`, for later
  dry runs."""
  sweep_dir = pathlib.Path(sweep_dir)
  sweep_dir.mkdir(parents=True, exist_ok=True)
  atomic.write_json_atomic(sweep_dir / layout.THROUGHPUT_FILE, dataclasses.asdict(throughput))
  cache = MACHINE_CACHE.expanduser()
  cache.parent.mkdir(parents=True, exist_ok=True)
  known = atomic.read_json(cache) or {}
  known[machine_key(run)] = dataclasses.asdict(throughput)
  atomic.write_json_atomic(cache, known)
