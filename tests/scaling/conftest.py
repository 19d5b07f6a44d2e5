"""Fixtures for the launcher tests: a fake trainer script and small sweep configs."""
import pathlib
import textwrap

import pytest

FAKE_TRAINER = textwrap.dedent('''
    """Stands in for train.py: same arguments, result.json last, exit codes 0/1/3.

    Behaviour per run directory from RUNDIR/fake.json: {"crash_attempts": k} crashes the first
    k attempts, {"diverge": true} diverges, {"sleep": s} trains for s seconds.
    """
    import json, os, pathlib, sys, time
    arguments = dict(argument.split("=", 1) for argument in sys.argv[1:])
    workdir = pathlib.Path(arguments["--workdir"])
    config = json.loads((workdir / "config.json").read_text())
    control = {}
    if (workdir / "fake.json").exists():
      control = json.loads((workdir / "fake.json").read_text())
    attempts_path = workdir / "fake_attempts"
    attempt = int(attempts_path.read_text()) if attempts_path.exists() else 0
    attempts_path.write_text(str(attempt + 1))
    with open(workdir / "fake_pids", "a") as pids:
      pids.write(f"{os.getpid()}\\n")
    started = time.time()
    time.sleep(control.get("sleep", 0.0))
    (workdir / "fake_devices").write_text(json.dumps(
        [os.environ.get("CUDA_VISIBLE_DEVICES"), started, time.time()]))
    if attempt < control.get("crash_attempts", 0):
      print("RuntimeError: injected crash", flush=True)
      sys.exit(1)
    tokens = config["train"]["train_tokens"]
    with open(workdir / "metrics.jsonl", "a") as metrics:
      metrics.write(json.dumps({"kind": "eval", "tokens": tokens, "eval_loss": 1.0}) + "\\n")
    status = "diverged" if control.get("diverge") else "completed"
    result = dict(status=status, final_eval_loss=None if status == "diverged" else 1e6 / tokens,
                  final_train_loss=1.0, n_params_total=100, n_params_embedding=10,
                  n_params_non_embedding=90, tokens=tokens, flops_6nd=540 * tokens,
                  flops_exact=600 * tokens, wall_seconds=0.1, tokens_per_second=1e6,
                  config=config)
    (workdir / ".result.tmp").write_text(json.dumps(result))
    os.replace(workdir / ".result.tmp", workdir / "result.json")
    sys.exit(3 if status == "diverged" else 0)
''')


@pytest.fixture
def fake_trainer(tmp_path: pathlib.Path) -> pathlib.Path:
  """Path of a script that behaves like train.py without jax (see FAKE_TRAINER)."""
  path = tmp_path / "fake_train.py"
  path.write_text(FAKE_TRAINER)
  return path
