"""Fixtures for the launcher tests: a fake trainer script and a loopback-only Ray cluster."""
import ipaddress
import pathlib
import textwrap

import pytest

FAKE_TRAINER = textwrap.dedent('''
    """Stands in for train.py: same arguments, result.json last, exit codes 0/1/2/3.

    A trunk (train.branch_point_tokens) creates its branch_points/STEP directories a second
    after it starts; a branch (train.branch_from) is refused unless its point exists.
    Behaviour per run directory from RUNDIR/fake.json: {"crash_attempts": k} crashes the first
    k attempts, {"diverge": true} diverges, {"sleep": s} trains for s seconds, {"usage_error":
    "message"} rejects the run as train.py does a bad config (result.json 'failed', exit 2).
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
    train = config.get("train", {})
    tokens_per_step = train.get("batch_size", 1) * config.get("model", {}).get("seq_len", 1)
    if train.get("branch_point_tokens"):  # a trunk: saves its branch points a second late
      time.sleep(1.0)
      for point in train["branch_point_tokens"]:
        (workdir / "branch_points" / str(point // tokens_per_step)).mkdir(parents=True,
                                                                           exist_ok=True)
    if train.get("branch_from"):  # a branch: refused unless its point is saved
      steps = train["train_tokens"] // tokens_per_step
      point = steps - round(config["optimizer"]["decay_fraction"] * steps)
      trunk = pathlib.Path(os.path.normpath(workdir / train["branch_from"]))
      saved = (trunk / "branch_points" / str(point)).is_dir()
      (workdir / "fake_branch.json").write_text(json.dumps({"saved": saved}))
      if not saved:
        (workdir / "result.json").write_text(json.dumps(dict(
            status="failed", error="branch point not saved", config=config)))
        sys.exit(2)
    (workdir / "fake_devices").write_text(json.dumps(
        [os.environ.get("CUDA_VISIBLE_DEVICES"), started, time.time()]))
    if "usage_error" in control:
      (workdir / "result.json").write_text(json.dumps(dict(
          status="failed", error=control["usage_error"], config=config)))
      sys.exit(2)
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


def _is_loopback(address: str) -> bool:
  ip = ipaddress.ip_address(address.split("%")[0])
  mapped = getattr(ip, "ipv4_mapped", None)
  return (mapped or ip).is_loopback


def _cluster_listeners() -> list[tuple[str, int, str]]:
  """(address, port, process name) of every TCP socket listening in this process or below it."""
  psutil = pytest.importorskip("psutil")
  processes = {process.pid: process
               for process in [psutil.Process(), *psutil.Process().children(recursive=True)]}
  listeners = []
  for connection in psutil.net_connections(kind="tcp"):
    if connection.status == psutil.CONN_LISTEN and connection.pid in processes:
      try:
        name = processes[connection.pid].name()
      except psutil.NoSuchProcess:
        name = "?"
      listeners.append((connection.laddr.ip, connection.laddr.port, name))
  return listeners


@pytest.fixture
def loopback_ray(monkeypatch):
  """A one-node Ray cluster of 2 CPUs in this process whose processes listen on loopback only.

  With a loopback node address every Ray server binds 127.0.0.1; Ray on Linux replaces a
  loopback `_node_ip_address` by the machine's address unless RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0
  is set before ray is imported (see scaling/README.md). Fails if any cluster process listens
  on another address, once a task has run (workers listen too).
  """
  monkeypatch.setenv("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
  ray = pytest.importorskip("ray")
  ray.init(address="local", num_cpus=2, _node_ip_address="127.0.0.1", include_dashboard=False,
           dashboard_host="127.0.0.1", logging_level="WARNING")
  try:
    assert ray.nodes()[0]["NodeManagerAddress"] == "127.0.0.1", (
        "ray was imported before RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0 was set")
    ray.get(ray.remote(lambda: None).remote())
    exposed = [listener for listener in _cluster_listeners() if not _is_loopback(listener[0])]
    assert not exposed, f"Ray processes listen beyond loopback: {exposed}"
    yield ray
  finally:
    ray.shutdown()
