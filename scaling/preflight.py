"""Checks of a planned sweep before any run starts: every run config passes train.py's validator.

A run config that train.py would reject (a negative learning rate, a batch the mesh cannot
split, a vocabulary below the tokenizer's) stops the launch and the dry run with one line naming
the run, the field and the sweep field that sets it; nothing is written or started.

Device count: the validator checks the mesh against the devices a run will see. The launcher
knows that number when it hands each run its devices (`launch.gpus_per_run` on the local
backend, `launch.num_gpus` on Ray); otherwise every run sees all the devices of the machine it
lands on, which the launcher does not measure (that would initialize an accelerator), so the
mesh is checked against its fixed axes (data x fsdp x tensor, a -1 axis counted as 1) and train.py
checks the rest when it starts. A run of `launch.hosts_per_run` processes has that many times
the devices of one, and its batch must split into whole sequences per process.
"""
import math
import re

import ml_collections

from scaling import hosts as hosts_lib
from scaling import runs
from training import mesh as mesh_lib
from training import validate

_FIELD = re.compile(r"config\.([a-z_]+(?:\.[a-z_]+)*)")
_SET_BY_SWEEP = {
    "train.train_tokens": "sweep.grid (the run's token budget)",
    "train.warmup_tokens": "sweep.schedule.warmup_fraction",
    "train.eval_every_tokens": "sweep.schedule.evals_per_run",
    "train.ckpt_every_tokens": "sweep.schedule.checkpoints_per_run",
    "seed": "sweep.seeds",
}


def run_device_count(sweep: ml_collections.ConfigDict, backend: str) -> int | None:
  """Devices each run sees (over all its processes) when the launcher assigns them; None when
  it is every device of the machines it lands on."""
  settings = sweep.launch
  hosts = int(settings.hosts_per_run)
  if backend == "local" and hosts > 1 and settings.devices_per_host > 0:
    return hosts * int(settings.devices_per_host)
  if backend == "local" and settings.gpus_per_run > 0:
    return int(settings.gpus_per_run)
  if backend == "ray" and settings.tpu_topology:
    _, chips_per_host = hosts_lib.slice_hosts(settings.tpu_topology, settings.tpu_version)
    return hosts * chips_per_host
  if backend == "ray" and settings.num_gpus >= 1:
    return hosts * int(settings.num_gpus)
  return None


def _fixed_mesh_devices(mesh: ml_collections.ConfigDict) -> int:
  """data x fsdp x tensor with a -1 (fill) axis counted as 1 (invalid sizes: the validator's)."""
  return math.prod(max(1, int(mesh[axis])) for axis in mesh_lib.MESH_AXES)


def sweep_field(key: str, sweep: ml_collections.ConfigDict, run: runs.PlannedRun) -> str:
  """The sweep config field that sets the run-config field `key` (dotted, without 'config.')."""
  if key == "optimizer.peak_learning_rate" and sweep.hparams.learning_rate.rule != "base":
    return "sweep.hparams.learning_rate"
  if key == "train.batch_size" and sweep.hparams.batch_size.rule != "base":
    return "sweep.hparams.batch_size"
  if key.startswith("model.") and key in run.spec.overrides:
    return "sweep.grid (the run's size)"
  return _SET_BY_SWEEP.get(key, f"sweep.base.{key}")


def check_runs(sweep: ml_collections.ConfigDict, planned: list[runs.PlannedRun],
               backend: str) -> None:
  """Raises ValueError (one line) naming the first run train.py would reject, and how many
  (first the hosts of a run: `scaling.hosts.check`)."""
  hosts_lib.check(sweep.launch, backend)
  devices = run_device_count(sweep, backend)
  rejected = []
  shared = validate.SharedSections()  # run configs share sections: each is checked once
  for run in planned:
    try:
      validate.validate_config(
          run.config, devices or shared.once(_fixed_mesh_devices, run.config.mesh),
          int(sweep.launch.hosts_per_run), shared)
    except ValueError as error:
      rejected.append((run, str(error)))
  if not rejected:
    return
  run, message = rejected[0]
  match = _FIELD.search(message)
  fix = (f"set {sweep_field(match.group(1), sweep, run)} in the sweep config" if match
         else "fix the sweep config")
  others = f" (and {len(rejected) - 1} more of {len(planned)} runs)" if len(rejected) > 1 else ""
  raise ValueError(f"run {run.run_id}{others}: {message}; {fix}; nothing was started")
