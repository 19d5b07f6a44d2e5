"""Runs of several hosts before anything starts: bad layouts refused in one line, the dry run's
gang line, and the gang's exit code and device split."""
import io

import pytest

from configs.sweeps import tiny, tpu_v4_32
from records import cli
from scaling import gang, launch


def _tiny(**launch_settings):
  sweep = tiny.get_config("quick=True")
  sweep.grid.sizes = (10_000,)
  sweep.launch.update(**launch_settings)
  return sweep


@pytest.mark.parametrize("sweep, backend, message", [
    (_tiny(hosts_per_run=3), "local",
     r"^run \S+ \(and 1 more of 2 runs\): config.train.batch_size=16 is not divisible by the 3 "
     r"processes \(each reads a whole number of sequences\); use a multiple of 3; set "
     r"sweep.base.train.batch_size in the sweep config; nothing was started$"),
    (_tiny(hosts_per_run=2, devices_per_host=2), "local",
     r"config.mesh: data x fsdp x tensor = 8 but there are 4 devices"),
    (_tiny(hosts_per_run=0), "local", r"^sweep.launch.hosts_per_run=0 must be a whole number"),
    (_tiny(hosts_per_run=2, devices_per_host=1, gpus_per_run=4), "local",
     r"^sweep.launch.gpus_per_run=4 is not hosts_per_run x devices_per_host = 2 x 1"),
    (_tiny(tpu_topology="2x2x4"), "ray", r"tpu_topology and tpu_version go together"),
])
def test_bad_layouts_are_refused_before_anything_starts(sweep, backend, message, tmp_path):
  if "mesh" in message:
    sweep.base.mesh.update(data=8)
  with pytest.raises(ValueError, match=message):
    launch.plan_checked(sweep, tmp_path / "sweep", backend=backend, stream=io.StringIO())
  assert not (tmp_path / "sweep").exists()


def test_hosts_must_divide_the_slice():
  pytest.importorskip("ray")
  sweep = tpu_v4_32.get_config()
  sweep.launch.hosts_per_run = 3
  with pytest.raises(ValueError, match=r"^sweep.launch.hosts_per_run=3 does not divide the 4 "
                                       r"hosts of a v4 2x2x4 slice; use one of 1, 2, 4$"):
    launch.hosts_lib.check(sweep.launch, "ray")


def test_the_dry_run_shows_the_gang_layout(tmp_path):
  pytest.importorskip("ray")
  stream = io.StringIO()
  launch.dry_run(tpu_v4_32.get_config(), tmp_path, max_parallel=1, backend="ray",
                 throughput=launch.estimate.Throughput(1.8e15, 0.0, "--throughput"), stream=stream)
  assert ("gang: each run is a placement group of 4 bundles {'TPU': 4} on a whole v4 2x2x4 "
          "slice, one train.py per bundle") in stream.getvalue()
  settings = tpu_v4_32.get_config().launch
  settings.devices_per_host = 4
  assert launch.hosts_lib.layout_line(settings, "local") == (
      "gang: each run is 4 train.py processes on this machine (4 devices each), process 0 the "
      "coordinator on 127.0.0.1")


@pytest.mark.parametrize("codes, expected", [
    ([0, 0], cli.EXIT_OK), ([0, -9], cli.EXIT_FAILED), ([1, 134], cli.EXIT_FAILED),
    ([2, 2], cli.EXIT_USAGE), ([75, 75], cli.EXIT_PREEMPTED), ([3, 0], cli.EXIT_DIVERGED)])
def test_one_exit_code_for_the_gang(codes, expected):
  assert gang.gang_exit_code(codes) == expected


def test_a_crashed_member_ends_the_gang_at_once_a_finished_one_after_the_grace():
  kills = []
  assert gang.end_members([None, None], None, 60.0, lambda: kills.append(1)) is None
  started = gang.end_members([0, None], None, 60.0, lambda: kills.append(1))
  assert started is not None and not kills
  gang.end_members([0, None], started - 61.0, 60.0, lambda: kills.append(1))
  gang.end_members([-9, None], None, 60.0, lambda: kills.append(2))
  assert kills == [1, 2]


def test_each_member_gets_its_own_devices():
  base = {"XLA_FLAGS": "--xla_cpu_use_onednn=true --xla_force_host_platform_device_count=8",
          "CUDA_VISIBLE_DEVICES": "4,5,6,7"}
  first, second = (gang.device_environment(base, 2, index) for index in range(2))
  assert first["XLA_FLAGS"] == ("--xla_cpu_use_onednn=true "
                                "--xla_force_host_platform_device_count=2")
  assert (first["CUDA_VISIBLE_DEVICES"], second["CUDA_VISIBLE_DEVICES"]) == ("4,5", "6,7")
  assert gang.device_environment(base, 0, 1) == {}
  with pytest.raises(ValueError, match="member 2 of the run has 0 of the 4 visible GPUs"):
    gang.device_environment(base, 2, 2)
