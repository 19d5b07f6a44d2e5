"""Runs larger than one process, for real: train.py as 2 processes x 2 CPU devices (gloo, the
coordinator on loopback), started by the runner's local gang, against the same run as 1
process x 4 devices; a member killed mid-run; the global batch the processes assemble."""
import json
import os
import pathlib
import subprocess
import sys
import time

import ml_collections
import numpy as np
import pytest

from configs import base, schema
from data import pipeline
from records import atomic
from scaling import gang, runner

pytestmark = pytest.mark.slow

STEPS, TOKENS_PER_STEP = 32, 256


def _config(prepared_dir: str) -> ml_collections.ConfigDict:
  """A tiny run (d_model 32, 8 x 32 tokens a step) of 32 steps, evaluated every 16 and
  checkpointed every 8, over every device of the run (data=-1)."""
  config = base.get_config()
  config.model.update(vocab_size=64, d_model=32, n_layers=2, n_heads=4, n_kv_heads=2, d_ff=64,
                      seq_len=32)
  config.data.update(corpus="synthetic", synthetic_vocab=64, synthetic_states=8,
                     synthetic_tokens=100_000, val_fraction=0.2, prepared_dir=prepared_dir)
  config.train.update(batch_size=8, train_tokens=STEPS * TOKENS_PER_STEP, warmup_tokens=512,
                      eval_every_tokens=16 * TOKENS_PER_STEP, eval_tokens=512,
                      ckpt_every_tokens=8 * TOKENS_PER_STEP, keep_checkpoints=2,
                      log_every_steps=8)
  config.mesh.update(data=-1, fsdp=1, tensor=1)
  return config


def _runner(run_dir: pathlib.Path) -> subprocess.Popen:
  """The sweep runner of `run_dir` as a gang of 2 processes x 2 CPU devices, no retries."""
  return subprocess.Popen(
      [sys.executable, "-m", "scaling.runner", str(run_dir), "--max_retries=0",
       "--stale_seconds=60", "--heartbeat_seconds=0.5", "--hosts_per_run=2",
       "--devices_per_host=2"], cwd=runner.PROJECT_ROOT)


def _start_members(run_dir: pathlib.Path) -> list[subprocess.Popen]:
  """train.py as 2 processes x 2 CPU devices on `run_dir`, started by hand (no runner)."""
  coordinator, environment = f"127.0.0.1:{gang.free_port()}", dict(os.environ)
  members = []
  for index in range(2):
    with open(run_dir / gang.log_name(index), "ab") as log:
      members.append(subprocess.Popen(
          runner.train_command(run_dir), cwd=runner.PROJECT_ROOT, stdout=log,
          stderr=subprocess.STDOUT, env={**environment,
                                         **gang.member_environment(coordinator, 2, index),
                                         **gang.device_environment(environment, 2, index)}))
  return members


def _kill_member_zero_mid_run(run_dir: pathlib.Path) -> dict:
  """Starts the 2 processes, SIGKILLs process 0 (the coordinator's) once a checkpoint is on
  disk; returns the seconds process 1 then took to end, its exit code and the steps done."""
  members = _start_members(run_dir)
  while not any(path.name.isdigit() for path in (run_dir / "checkpoints").glob("*")):
    assert members[0].poll() is None, "the run ended before it could be killed"
    time.sleep(0.05)
  members[0].kill()
  killed = time.monotonic()
  code = members[1].wait(timeout=120)
  members[0].wait()
  return dict(survivor_seconds=time.monotonic() - killed, survivor_code=code,
              steps=max(int(path.name) for path in (run_dir / "checkpoints").glob("*")
                        if path.name.isdigit()))


@pytest.fixture(scope="module")
def runs(tmp_path_factory, monkeypatch_module):
  """Final results of: 1 process x 4 devices and, beside it, 2 x 2 uninterrupted (by the
  runner); then 2 x 2 with process 0 killed after the first checkpoint, relaunched (by the
  runner)."""
  monkeypatch_module.setenv("SCALING_LAB_PEAK_FLOPS", "1e11")
  root = tmp_path_factory.mktemp("multihost")
  config = _config(str(root / "prepared"))
  run_dirs = {name: root / name for name in ("one", "two", "killed")}
  for run_dir in run_dirs.values():
    run_dir.mkdir()
    atomic.write_json_atomic(run_dir / "config.json", schema.config_to_dict(config))
  environment = dict(os.environ, **gang.device_environment(dict(os.environ), 4, 0))
  one = subprocess.Popen(runner.train_command(run_dirs["one"]), cwd=runner.PROJECT_ROOT,
                         env=environment, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
  assert _runner(run_dirs["two"]).wait(timeout=600) == runner.EXIT_FINISHED
  assert one.wait(timeout=600) == 0
  outcome = _kill_member_zero_mid_run(run_dirs["killed"])
  assert _runner(run_dirs["killed"]).wait(timeout=600) == runner.EXIT_FINISHED
  results = {name: json.loads((run_dir / "result.json").read_text())
             for name, run_dir in run_dirs.items()}
  return dict(config=config, root=root, outcome=outcome, **results)


@pytest.fixture(scope="module")
def monkeypatch_module():
  with pytest.MonkeyPatch.context() as patch:
    yield patch


def test_two_processes_end_with_the_loss_of_one(runs):
  assert runs["two"]["status"] == "completed" and runs["two"]["steps"] == STEPS
  assert runs["two"]["final_eval_loss"] == pytest.approx(runs["one"]["final_eval_loss"],
                                                         rel=1e-5)
  assert runs["two"]["eval_tokens"] == runs["one"]["eval_tokens"]


def test_only_process_zero_writes_the_run_files(runs):
  run_dir = runs["root"] / "two"
  records = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
  assert [record["step"] for record in records] == [16, 32]  # one writer: no duplicates
  assert len(list((run_dir / "tensorboard").glob("events.*"))) == 1
  data = sorted(path.name for path in (run_dir / "checkpoints" / str(STEPS) / "data").iterdir()
                if path.suffix == ".json")
  assert data == ["process_0-of-2.json", "process_1-of-2.json"]  # each process its own
  assert "jax.distributed initialized: process 1 of 2" in (
      run_dir / "train.process1.log").read_text()


def test_a_killed_process_stops_its_peer_and_a_relaunch_resumes(runs):
  outcome = runs["outcome"]
  assert outcome["survivor_seconds"] < 60 and outcome["survivor_code"] != 0
  assert outcome["steps"] < STEPS
  log = (runs["root"] / "killed" / "train.log").read_text()
  assert f"resumed from the checkpoint at step {outcome['steps']}" in log
  assert runs["killed"]["status"] == "completed"
  assert runs["killed"]["final_eval_loss"] == runs["two"]["final_eval_loss"]


_GATHER_BATCHES = """
import json, sys
import numpy as np
from training import mesh as mesh_lib
mesh_lib.maybe_initialize_distributed()
import jax
from jax.experimental import multihost_utils
from configs import schema
from data import pipeline
config = schema.RUN.from_dict(json.loads(open(sys.argv[1]).read()))
mesh = mesh_lib.make_mesh(config.mesh)
prepared = pipeline.prepare(config.data, seq_len=config.model.seq_len)
rows = pipeline.train_iterator(prepared, config.train.batch_size, config.model.seq_len,
                               config.data.shuffle_seed, jax.process_index(),
                               jax.process_count())
sharding = mesh_lib.batch_sharding(mesh)
batches = [jax.make_array_from_process_local_data(sharding, next(rows)) for _ in range(3)]
gathered = [multihost_utils.process_allgather(batch, tiled=True) for batch in batches]
if jax.process_index() == 0:
  np.save(sys.argv[2], np.stack(gathered))
"""


def test_the_processes_global_batch_is_the_one_process_batch(runs, tmp_path):
  """Each process reads its rows; the global arrays they assemble are the 1-process batches:
  the union of their tokens, in order."""
  config_path, out = tmp_path / "config.json", tmp_path / "batches.npy"
  config_path.write_text(json.dumps(schema.config_to_dict(runs["config"])))
  coordinator = f"127.0.0.1:{gang.free_port()}"
  processes = [subprocess.Popen(
      [sys.executable, "-c", _GATHER_BATCHES, str(config_path), str(out)],
      cwd=runner.PROJECT_ROOT, env={**os.environ, **gang.member_environment(coordinator, 2, index),
                                    **gang.device_environment(dict(os.environ), 2, index)})
      for index in range(2)]
  assert [process.wait(timeout=300) for process in processes] == [0, 0]
  config = runs["config"]
  prepared = pipeline.prepare(config.data, seq_len=config.model.seq_len)
  one = pipeline.train_iterator(prepared, config.train.batch_size, config.model.seq_len,
                                config.data.shuffle_seed)
  np.testing.assert_array_equal(np.load(out), np.stack([next(one) for _ in range(3)]))
