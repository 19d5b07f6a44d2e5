"""The training worker: runs trained in it match train.py's and reuse their programs, a failing
run fails alone, and a worker killed or stopped mid-run leaves the run to finish in train.py."""
import json
import os
import pathlib
import signal
import subprocess
import sys
import time

import ml_collections
import pytest

from configs import base, schema
from records import atomic, cli, layout
from scaling import local, rundir, runner, spool, worker
from training import loop, programs

# The tiny run of tests/training (8 steps of 8 x 32 tokens, evals every 4, checkpoints every 2).
_TINY_TRAIN = dict(batch_size=8, train_tokens=2048, warmup_tokens=512, eval_every_tokens=1024,
                   eval_tokens=512, ckpt_every_tokens=512, keep_checkpoints=2,
                   log_every_steps=4)


def _config(prepared_dir: pathlib.Path, **train) -> ml_collections.ConfigDict:
  config = base.get_config()
  config.model.update(vocab_size=64, d_model=32, n_layers=2, n_heads=4, n_kv_heads=2, d_ff=64,
                      seq_len=32)
  config.data.update(corpus="synthetic", synthetic_vocab=64, synthetic_states=8,
                     synthetic_tokens=100_000, val_fraction=0.2, prepared_dir=str(prepared_dir))
  config.train.update({**_TINY_TRAIN, **train})
  return config


def _run_dir(parent: pathlib.Path, name: str, config: ml_collections.ConfigDict) -> pathlib.Path:
  run_dir = parent / name
  run_dir.mkdir()
  atomic.write_json_atomic(run_dir / layout.CONFIG_FILE, schema.config_to_dict(config))
  return run_dir


def _request(run_dir: pathlib.Path) -> dict:
  return dict(id=run_dir.name, run_dir=str(run_dir), runner_pid=os.getpid())


def _losses(run_dir: pathlib.Path) -> tuple:
  """Every loss the run recorded: its result's and each metrics.jsonl record's."""
  result = atomic.read_json(run_dir / layout.RESULT_FILE)
  records = [json.loads(line) for line in (run_dir / layout.METRICS_FILE).read_text().splitlines()]
  return (result["final_eval_loss"], result["final_train_loss"],
          result["eval_loss_by_position"],
          [(r.get("step"), r.get("eval_loss"), r.get("train_loss")) for r in records])


@pytest.fixture
def prepared(tmp_path_factory) -> pathlib.Path:
  return tmp_path_factory.getbasetemp() / "worker_prepared"


@pytest.fixture(autouse=True)
def _fixed_peak(monkeypatch):
  monkeypatch.setenv("SCALING_LAB_PEAK_FLOPS", "1e11")


@pytest.mark.slow
def test_runs_match_train_py_and_the_second_reuses_the_programs(tmp_path, prepared):
  config = _config(prepared)
  serving = worker.Worker(tmp_path)
  first = _run_dir(tmp_path, "first", config)
  assert serving.train(_request(first)) == cli.EXIT_OK
  init_hits = programs.INITS.hits
  train_hits, eval_hits = programs.TRAIN_STEPS.hits, programs.EVAL_STEPS.hits
  second = _run_dir(tmp_path, "second", _config(prepared, eval_every_tokens=512))
  assert serving.train(_request(second)) == cli.EXIT_OK
  assert programs.INITS.hits == init_hits + 1
  assert programs.TRAIN_STEPS.hits == train_hits + 1
  assert programs.EVAL_STEPS.hits == eval_hits + 1

  alone = _run_dir(tmp_path, "alone", config)
  completed = subprocess.run(runner.train_command(alone), cwd=runner.PROJECT_ROOT,
                             capture_output=True, text=True, timeout=300)
  assert completed.returncode == 0, completed.stderr[-2000:]
  assert _losses(first) == _losses(alone)


def test_a_run_that_raises_fails_alone(tmp_path, prepared, monkeypatch, capsys):
  serving = worker.Worker(tmp_path)
  raising = _run_dir(tmp_path, "raising", _config(prepared))
  unreadable = tmp_path / "unreadable"
  unreadable.mkdir()
  (unreadable / layout.CONFIG_FILE).write_text("{not json")
  fine = _run_dir(tmp_path, "fine", _config(prepared))
  train_and_evaluate = loop.train_and_evaluate

  def raise_in_one(config, workdir, **options):
    if pathlib.Path(workdir) == raising:
      raise RuntimeError("injected failure")
    return train_and_evaluate(config, workdir, **options)

  monkeypatch.setattr(loop, "train_and_evaluate", raise_in_one)
  with capsys.disabled():  # pytest's capture replaces sys.stderr by one off file descriptor 2
    assert serving.train(_request(raising)) == cli.EXIT_FAILED
    assert serving.train(_request(unreadable)) == cli.EXIT_USAGE
  result = atomic.read_json(raising / layout.RESULT_FILE)
  assert result["status"] == "failed" and "injected failure" in result["traceback"]
  assert "error: run failed: RuntimeError: injected failure" in (
      raising / layout.TRAIN_LOG).read_text()
  assert (unreadable / layout.TRAIN_LOG).read_text().startswith("error: --config: ")
  assert serving.train(_request(fine)) == cli.EXIT_OK
  assert atomic.read_json(fine / layout.RESULT_FILE)["status"] == "completed"


def test_the_spool_pairs_requests_and_replies(tmp_path):
  request_id = spool.send_request(tmp_path, tmp_path / "run", 123)
  assert spool.take_reply(tmp_path, request_id) is None
  assert spool.take_request(tmp_path) == dict(id=request_id, run_dir=str(tmp_path / "run"),
                                              runner_pid=123)
  assert spool.take_request(tmp_path) is None
  spool.send_reply(tmp_path, request_id, 75)
  assert spool.take_reply(tmp_path, request_id) == 75
  assert list(tmp_path.iterdir()) == []


def test_workers_only_for_the_default_trainer_on_one_process(fake_trainer):
  settings = dict(max_retries=1, stale_seconds=30.0, heartbeat_seconds=1.0)
  assert local.LocalExecutor(**settings).uses_workers
  assert not local.LocalExecutor(trainer=fake_trainer, **settings).uses_workers
  assert not local.LocalExecutor(hosts_per_run=2, **settings).uses_workers
  assert not local.LocalExecutor(device_groups=["0"], **settings).uses_workers


class _Alive:
  """A worker process that is still running."""
  pid = 0

  def poll(self):
    return None


def test_runs_go_to_the_idle_worker_that_holds_their_programs(tmp_path):
  executor = local.LocalExecutor(max_retries=1, stale_seconds=30.0, heartbeat_seconds=1.0)
  config = base.get_config()
  small = _run_dir(tmp_path, "small", config)
  config.seed += 1
  other_seed = _run_dir(tmp_path, "other_seed", config)  # the seed is not in the programs
  config.model.d_model *= 2
  wide = _run_dir(tmp_path, "wide", config)
  config.model.d_model *= 2
  widest = _run_dir(tmp_path, "widest", config)
  busy, idle = (local._Worker(_Alive(), tmp_path / name) for name in ("busy", "idle"))  # pylint: disable=protected-access
  busy.runner_pid = 1
  busy.trained.append(local.program_key(wide))
  idle.trained.extend([local.program_key(widest), local.program_key(small)])
  executor.workers = [busy, idle]
  assert local.program_key(small) == local.program_key(other_seed)
  assert [executor.affinity(run) for run in (other_seed, wide, widest)] == [2, 0, 2]
  config.model.d_model *= 2
  assert executor.affinity(_run_dir(tmp_path, "new", config)) == 1
  busy.runner_pid = None  # now both idle: the one that trained `wide` gets it
  assert executor._idle_worker(local.program_key(wide)) is busy  # pylint: disable=protected-access
  assert list(busy.trained)[-1] == local.program_key(wide)


def test_the_worker_flags_go_together(tmp_path):
  completed = subprocess.run(
      [sys.executable, "-m", "scaling.runner", str(tmp_path), "--worker_pid=1"],
      cwd=runner.PROJECT_ROOT, capture_output=True, text=True, timeout=60)
  assert completed.returncode == cli.EXIT_USAGE
  assert completed.stderr.strip().splitlines()[-1] == (
      "error: --worker_spool and --worker_pid go together; give both or neither")


def _environment() -> dict[str, str]:
  """One CPU device (no fake devices): the run trains faster."""
  return {name: value for name, value in os.environ.items() if name != "XLA_FLAGS"}


def _checkpoint_steps(run_dir: pathlib.Path) -> list[int]:
  directory = run_dir / layout.CHECKPOINTS_DIR
  return sorted(int(path.name) for path in directory.iterdir()
                if path.name.isdigit()) if directory.is_dir() else []


@pytest.mark.slow
@pytest.mark.entry
@pytest.mark.parametrize("signum, attempt_exit", [(signal.SIGKILL, cli.EXIT_FAILED),
                                                  (signal.SIGTERM, cli.EXIT_PREEMPTED)],
                         ids=["sigkill", "sigterm"])
def test_a_worker_ended_mid_run_leaves_the_run_to_a_fresh_train_py(tmp_path, prepared, signum,
                                                                   attempt_exit):
  spool_dir = tmp_path / "spool"
  spool_dir.mkdir()
  run_dir = _run_dir(tmp_path, "run", _config(
      prepared, train_tokens=256 * 400, eval_every_tokens=256 * 200,
      ckpt_every_tokens=256 * 40, log_every_steps=100))
  serving = subprocess.Popen([sys.executable, "-m", "scaling.worker", str(spool_dir)],
                             cwd=runner.PROJECT_ROOT, env=_environment(),
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
  try:
    running = subprocess.Popen(
        [sys.executable, "-m", "scaling.runner", str(run_dir), "--max_retries=1",
         "--stale_seconds=30", "--heartbeat_seconds=0.2", f"--worker_spool={spool_dir}",
         f"--worker_pid={serving.pid}"], cwd=runner.PROJECT_ROOT, env=_environment())
    deadline = time.monotonic() + 240
    while not _checkpoint_steps(run_dir) and time.monotonic() < deadline:
      time.sleep(0.05)
    assert _checkpoint_steps(run_dir), "the worker saved no checkpoint in time"
    serving.send_signal(signum)
    assert serving.wait(timeout=60) == (0 if signum == signal.SIGTERM else -signal.SIGKILL)
    assert running.wait(timeout=300) == runner.EXIT_FINISHED
  finally:
    if serving.poll() is None:
      serving.kill()
  assert rundir.read_state(run_dir, 30).state == "done"
  failures = [json.loads(line) for line in
              (run_dir / layout.FAILURES_FILE).read_text().splitlines()]
  assert [failure["exit_code"] for failure in failures] == [attempt_exit]
  log = (run_dir / layout.TRAIN_LOG).read_text()
  assert log.count("resumed from the checkpoint at step") == 1
  if signum == signal.SIGTERM:
    stopped = int(log.split("preempted at step ")[1].split("/")[0])
    assert f"resumed from the checkpoint at step {stopped}" in log
  else:
    assert f"training worker {serving.pid} ended without a reply" in log
  evaluations = [json.loads(line)["step"] for line in
                 (run_dir / layout.METRICS_FILE).read_text().splitlines()]
  assert evaluations == [200, 400]  # each once: the run finished exactly once
  assert list(spool_dir.iterdir()) == []
