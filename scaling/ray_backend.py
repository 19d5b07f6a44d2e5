"""The Ray backend: each run is a Ray task with declared resources on an existing cluster.

The task starts `python -m scaling.runner RUNDIR` on the node Ray picks (the runner dies with the
task's worker, and the trainer with the runner), so Ray's own task retries (`max_retries`, on
worker or node loss) relaunch a run, which then resumes from its checkpoint under a fresh lease.
Crashes inside train.py are retried by the runner; divergence is never retried.

Requirements on a real cluster (TPU VMs or GPU nodes): every node has this project installed at
the same path with the same Python environment (one image, or `pip install -e .` on each), and
the sweep directory is on storage every node sees under the same path (NFS / Filestore, or a GCS
bucket mounted with gcsfuse). Start the cluster (`ray start --head` on one node, `ray start
--address=HEAD:6379` on the others, or a Ray cluster launcher YAML / KubeRay), then

  python -m scaling --config=configs/sweeps/<name>.py --workdir=/shared/SWEEP --backend=ray \
      --ray_address=HEAD:6379

Each run task asks for `sweep.launch.num_cpus`, `num_gpus` and custom `resources`; on TPU VMs
declare the chips of one host, e.g. `sweep.launch.resources = {"TPU": 4}`, so one run owns one
host. A run of `sweep.launch.hosts_per_run = k > 1` hosts is one multi-process jax program:
its task holds no resources and runs the run's runner, which reserves k bundles of those
resources on distinct nodes for each attempt and starts one train.py per bundle
(scaling/ray_gang.py; on TPU VMs the slice of `tpu_topology` / `tpu_version`). The lease, the
retries and the resume stay the run's: a lost host fails the attempt, and the retry restarts
the whole gang from the run's last checkpoint.
"""
import json
import os
import pathlib
import signal
import subprocess
import sys

import ray
from absl import logging

from records import layout
from scaling import runner

NODE_LOSS_RETRIES = 3


def _run_on_worker(run_dir: str, runner_arguments: list[str]) -> int:
  """The task body: runs the runner as a child process; returns its exit code."""
  with open(pathlib.Path(run_dir) / layout.RUNNER_LOG, "ab") as log_file:
    process = subprocess.Popen(
        [sys.executable, "-m", "scaling.runner", run_dir, f"--parent_pid={os.getpid()}",
         *runner_arguments], cwd=runner.PROJECT_ROOT, stdout=log_file, stderr=subprocess.STDOUT)
  try:
    return process.wait()
  except KeyboardInterrupt:
    process.send_signal(signal.SIGTERM)
    process.wait()
    raise


class RayExecutor:
  """Submits one Ray task per run to the cluster at `address` (or to an initialized Ray)."""

  def __init__(self, *, address: str | None, num_cpus: float, num_gpus: float,
               resources: dict[str, float], max_retries: int, stale_seconds: float,
               heartbeat_seconds: float, trainer: pathlib.Path = runner.DEFAULT_TRAINER,
               hosts_per_run: int = 1, tpu_topology: str = "", tpu_version: str = ""):
    if not ray.is_initialized():
      ray.init(address=address or "auto", logging_level="WARNING")
    self.arguments = [f"--max_retries={max_retries}", f"--stale_seconds={stale_seconds}",
                      f"--heartbeat_seconds={heartbeat_seconds}", f"--trainer={trainer}"]
    self.task = ray.remote(_run_on_worker)
    self.task_options = dict(num_cpus=num_cpus, num_gpus=num_gpus, resources=resources or None,
                             max_retries=NODE_LOSS_RETRIES, retry_exceptions=False)
    if hosts_per_run > 1 or tpu_topology:
      host = {"CPU": num_cpus, "GPU": num_gpus, **resources}
      self.arguments += [
          f"--ray_address={ray.get_runtime_context().gcs_address}",
          f"--hosts_per_run={hosts_per_run}",
          f"--host_resources={json.dumps({name: value for name, value in host.items() if value})}",
          f"--tpu_topology={tpu_topology}", f"--tpu_version={tpu_version}"]
      self.task_options.update(num_cpus=0, num_gpus=0, resources=None)

  def start(self, run_dir: pathlib.Path) -> ray.ObjectRef:
    """Submits the run's task."""
    run_dir = pathlib.Path(run_dir).resolve()
    return self.task.options(name=f"run:{run_dir.name}", **self.task_options).remote(
        str(run_dir), self.arguments)

  def poll(self, handle: ray.ObjectRef) -> int | None:
    """The runner's exit code, None while the task runs, -1 when the task itself failed."""
    ready, _ = ray.wait([handle], timeout=0)
    if not ready:
      return None
    try:
      return ray.get(handle)
    except ray.exceptions.RayError as error:
      logging.warning("run task failed after Ray's retries: %s", error)
      return -1

  def stop(self, handle: ray.ObjectRef) -> None:
    """Cancels the task; its runner is told to save and stop."""
    ray.cancel(handle)

  def close(self) -> None:
    """Nothing to end: Ray owns the processes of the tasks."""
