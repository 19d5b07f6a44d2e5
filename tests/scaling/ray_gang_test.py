"""The Ray backend's gangs on a simulated 2-node cluster on loopback: a sweep of two 2-host runs,
one host's worker killed mid-run, the whole gang retried, each run in results.csv once."""
import csv
import json
import os
import pathlib
import signal
import textwrap
import threading
import time

import pytest

from configs.sweeps import tiny
from records import layout
from scaling import gang, launch

pytestmark = [pytest.mark.slow, pytest.mark.entry]

# A train.py stand-in for gang members: records its gang variables and its worker, sleeps
# (RUNDIR/fake.json {"sleep": s}, first attempt only), and process 0 writes result.json.
GANG_TRAINER = textwrap.dedent('''
    import json, os, pathlib, sys, time
    workdir = pathlib.Path(dict(a.split("=", 1) for a in sys.argv[1:])["--workdir"])
    names = ("JAX_COORDINATOR_ADDRESS", "JAX_NUM_PROCESSES", "JAX_PROCESS_ID")
    member = {name: os.environ.get(name) for name in names}
    members = workdir / "members.jsonl"
    attempt = sum(json.loads(line)["JAX_PROCESS_ID"] == member["JAX_PROCESS_ID"]
                  for line in (members.read_text().splitlines() if members.exists() else []))
    with open(members, "a") as stream:
      stream.write(json.dumps(dict(member, pid=os.getpid(), worker=os.getppid(),
                                   attempt=attempt)) + "\\n")
    control = json.loads((workdir / "fake.json").read_text())
    time.sleep(control["sleep"] if attempt == 0 else 0.2)
    if member["JAX_PROCESS_ID"] == "0":
      config = json.loads((workdir / "config.json").read_text())
      tokens = config["train"]["train_tokens"]
      result = dict(status="completed", final_eval_loss=1e6 / tokens, final_train_loss=1.0,
                    n_params_total=100, n_params_embedding=10, n_params_non_embedding=90,
                    tokens=tokens, flops_6nd=540 * tokens, flops_exact=600 * tokens,
                    wall_seconds=0.1, tokens_per_second=1e6, config=config)
      (workdir / ".result.tmp").write_text(json.dumps(result))
      os.replace(workdir / ".result.tmp", workdir / "result.json")
''')


@pytest.fixture
def two_node_ray(monkeypatch):
  """A Ray cluster of two 1-CPU nodes in this machine, every address 127.0.0.1."""
  monkeypatch.setenv("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
  ray = pytest.importorskip("ray")
  from ray import cluster_utils  # pylint: disable=import-outside-toplevel
  node = dict(num_cpus=1, node_ip_address="127.0.0.1", include_dashboard=False,
              dashboard_host="127.0.0.1")
  cluster = cluster_utils.Cluster(initialize_head=True, head_node_args=node)
  try:
    cluster.add_node(**{key: value for key, value in node.items()
                        if key not in ("include_dashboard", "dashboard_host")})
    ray.init(address=cluster.address, _node_ip_address="127.0.0.1", logging_level="WARNING")
    assert {entry["NodeManagerAddress"] for entry in ray.nodes()} == {"127.0.0.1"}
    yield cluster
  finally:
    ray.shutdown()
    cluster.shutdown()


def _members(run_dir: pathlib.Path) -> list[dict]:
  path = run_dir / "members.jsonl"
  return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


@pytest.mark.usefixtures("two_node_ray")
def test_a_sweep_of_two_host_runs_retries_the_whole_gang(tmp_path, monkeypatch):
  trainer = tmp_path / "gang_train.py"
  trainer.write_text(GANG_TRAINER)
  sweep = tiny.get_config("quick=True")
  sweep.grid.sizes = (10_000,)
  sweep.launch.update(hosts_per_run=2, num_cpus=1.0, max_retries=1)
  sweep_dir = tmp_path / "sweep"
  killed = []

  def kill_a_member_of_the_sleeping_gang() -> None:
    deadline = time.time() + 300
    while time.time() < deadline:
      for run_dir in (sweep_dir / "runs").glob("*/"):
        try:
          if json.loads((run_dir / "fake.json").read_text())["sleep"] < 60:
            continue  # the other run: its gang may end before a kill lands
        except (OSError, ValueError):
          continue  # not written yet
        members = _members(run_dir)
        if len(members) == 2 and all(member["attempt"] == 0 for member in members):
          os.kill(members[1]["worker"], signal.SIGKILL)  # process 1's Ray worker
          killed.append(run_dir)
          return
      time.sleep(0.05)

  original = launch.runs.materialize

  def materialize_with_sleeps(planned, *args, **kwargs):
    original(planned, *args, **kwargs)
    for index, run in enumerate(planned):  # the first run sleeps until it is killed
      (run.run_dir / "fake.json").write_text(json.dumps({"sleep": 120 if index == 0 else 0.2}))

  monkeypatch.setattr(launch.runs, "materialize", materialize_with_sleeps)
  killer = threading.Thread(target=kill_a_member_of_the_sleeping_gang, daemon=True)
  killer.start()
  outcome = launch.launch(sweep, sweep_dir, backend="ray", trainer=trainer)
  killer.join(timeout=1)
  assert outcome.exit_code == 0
  assert killed, "no gang member was caught mid-run"
  with open(sweep_dir / layout.RESULTS_FILE) as results:
    rows = list(csv.DictReader(results))
  assert len(rows) == 2 and len({row["run_id"] for row in rows}) == 2
  for run_dir in (sweep_dir / "runs").glob("*/"):
    members = _members(run_dir)
    attempts = 2 if run_dir == killed[0] else 1
    assert sorted((m["attempt"], m["JAX_PROCESS_ID"]) for m in members) == sorted(
        (attempt, str(index)) for attempt in range(attempts) for index in range(2))
    for attempt in range(attempts):
      gang_members = [member for member in members if member["attempt"] == attempt]
      assert {member["JAX_NUM_PROCESSES"] for member in gang_members} == {"2"}
      addresses = {member["JAX_COORDINATOR_ADDRESS"] for member in gang_members}
      assert len(addresses) == 1 and addresses.pop().startswith("127.0.0.1:")
  failures = (killed[0] / layout.FAILURES_FILE).read_text().splitlines()
  assert len(failures) == 1 and json.loads(failures[0])["exit_code"] == 1
  assert gang.log_name(1) in os.listdir(killed[0])
