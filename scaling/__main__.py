"""The sweep command line.

  python -m scaling --config=configs/sweeps/<name>.py --workdir=SWEEP [--backend=local|ray]
      [--max_parallel=K] [--dry_run] [--ray_address=HOST:PORT]
  python -m scaling status --workdir=SWEEP
  python -m scaling export RUNDIR --out=DIR [--format=hf]
  python -m scaling evaluate SWEEP|RUNDIR --tasks=NAME,... --task_dir=DIR
  python -m scaling sample RUNDIR|SWEEP --prompt="..."
  python -m scaling reproduce RUNDIR|SWEEP [--out=DIR]

`run` is the default command. See scaling/launch.py (run), scaling/status.py (status),
export/cli.py (export, sample), scaling/evaluate.py (evaluate), scaling/reproduce.py
(reproduce); the demo (train the demo sweep, then fit it) is `python demo.py`, above this
package. Exit codes (records.cli): 0 every run completed or diverged, 1 a run failed, 2 bad
flags, config or paths (one line on stderr, nothing run), 75 interrupted (run the same command
again to resume).
"""
import pathlib

from absl import app, flags
from ml_collections import config_flags

from export import cli as export_cli
from records import cli
from scaling import estimate, evaluate, launch, status
from scaling import reproduce

_CONFIG = config_flags.DEFINE_config_file("config", None, "Sweep config (configs/sweeps/*.py).")
_WORKDIR = flags.DEFINE_string("workdir", None, "The sweep directory.")
_TOLERANCE = flags.DEFINE_float(
    "tolerance", reproduce.MACHINE_TOLERANCE,
    "reproduce: the relative final-loss difference accepted from a run recorded on another "
    "machine (on the same machine, code and versions a rerun must be bit-exact)")
_BACKEND = flags.DEFINE_string("backend", "local", f"One of {launch.BACKENDS}.")
_MAX_PARALLEL = flags.DEFINE_integer(
    "max_parallel", 0, "Local backend: runs at a time (0: sweep.launch.max_parallel).")
_DRY_RUN = flags.DEFINE_bool(
    "dry_run", False, "Print the run table and total compute; run nothing.")
_RETRY_FAILED = flags.DEFINE_bool("retry_failed", True,
                                  "Relaunch runs that failed in an earlier launch.")
_RAY_ADDRESS = flags.DEFINE_string("ray_address", None,
                                   "Ray backend: the cluster address (default: auto-detect).")
_THROUGHPUT = flags.DEFINE_float(
    "throughput", 0.0, "Dry run: sustained exact training FLOPs/s to assume instead of measuring.")


def _run(workdir: pathlib.Path) -> int:
  sweep = _CONFIG.value
  if sweep is None:
    raise app.UsageError("--config=configs/sweeps/<name>.py is required")
  launch.check_backend(_BACKEND.value)
  max_parallel = _MAX_PARALLEL.value or sweep.launch.max_parallel
  if _DRY_RUN.value:
    throughput = (estimate.Throughput(_THROUGHPUT.value, 0.0, "--throughput")
                  if _THROUGHPUT.value > 0 else None)
    launch.dry_run(sweep, workdir, max_parallel=max_parallel, backend=_BACKEND.value,
                   throughput=throughput)
    return cli.EXIT_OK
  return launch.launch(sweep, workdir, backend=_BACKEND.value, max_parallel=max_parallel,
                       retry_failed=_RETRY_FAILED.value, ray_address=_RAY_ADDRESS.value).exit_code


def _status(workdir: pathlib.Path) -> int:
  status.print_status(workdir)
  return cli.EXIT_OK


COMMANDS = {"run": _run, "status": _status}


def main(argv: list[str]) -> int:
  command = argv[1] if len(argv) > 1 else "run"
  if command in export_cli.COMMANDS:
    return export_cli.main(argv[1:])
  if command == "evaluate":
    return evaluate.main(argv[1:])
  if command == "reproduce":
    return reproduce.main(argv[1:], out=flags.FLAGS.out, tolerance=_TOLERANCE.value)
  if command not in COMMANDS or len(argv) > 2:
    raise app.UsageError(f"unknown command {argv[1:]}; commands: {', '.join(COMMANDS)}")
  if not _WORKDIR.value:
    raise app.UsageError("--workdir=SWEEP is required")
  return COMMANDS[command](pathlib.Path(_WORKDIR.value))


if __name__ == "__main__":
  cli.run(main)
