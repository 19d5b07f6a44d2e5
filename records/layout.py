"""The names of every file in a run directory and a sweep directory: their one definition.

A run directory (`train.py --workdir=RUNDIR`, or `SWEEP/runs/RUN_ID/` in a sweep):
  config.json      the run config, written first (atomically) by train.py
  metrics.jsonl    one JSON record per line: train scalars, and eval points ("kind": "eval")
  tensorboard/     the same scalars for TensorBoard
  wandb/           the same scalars for Weights & Biases, when config.logging.wandb is on
  checkpoints/     the kept checkpoints (parameters, optimizer, data position, loop state)
  branch_points/   a trunk's checkpoints at its branch points, kept whatever the retention
                   (training/branch.py), until the sweep has finished every branch of one
  result.json      the run's result (records.result), written last and atomically: the only
                   'run finished' signal
  result.failed-STAMP-ATTEMPT.json  a failed attempt's result.json, set aside by the runner
                   before it retries
  train.log        the trainer's stdout and stderr (sweeps)
  runner.log       the runner's own log (sweeps)
  failures.jsonl   one record per failed attempt: attempt, exit_code, reason, time (sweeps)
  lease.json       the live runner's lease (sweeps; scaling/lease.py)
  tokenizer.json   a byte-level BPE run's trained tokenizer, copied from its prepared data
  hf/              the run exported for Hugging Face transformers (`python -m scaling evaluate`)
  downstream.json  lm-evaluation-harness scores of that export, per task (scaling/evaluate.py)

A sweep directory (`python -m scaling --workdir=SWEEP`):
  sweep.json       the run table: name, identity, lease_stale_seconds and one row per run
  runs/            one run directory per run, named by its run id
  results.csv      one row per finished run (records.results_csv), rebuilt from runs/
  throughput.json  measured training throughput, cached by dry runs

Either may hold `reproductions/K/` (`python -m scaling reproduce`): the K-th rerun of the run
(for a sweep, one run directory per run id under it).
"""
CONFIG_FILE = "config.json"
METRICS_FILE = "metrics.jsonl"
TENSORBOARD_DIR = "tensorboard"
WANDB_DIR = "wandb"  # the wandb library's own name for its folder under the run directory
CHECKPOINTS_DIR = "checkpoints"
BRANCH_POINTS_DIR = "branch_points"
RESULT_FILE = "result.json"
TRAIN_LOG = "train.log"
RUNNER_LOG = "runner.log"
FAILURES_FILE = "failures.jsonl"
LEASE_FILE = "lease.json"
BPE_TOKENIZER_FILE = "tokenizer.json"
HF_EXPORT_DIR = "hf"
DOWNSTREAM_FILE = "downstream.json"

SWEEP_FILE = "sweep.json"
RUNS_DIR = "runs"
RESULTS_FILE = "results.csv"
THROUGHPUT_FILE = "throughput.json"
REPRODUCTIONS_DIR = "reproductions"


def failed_result_file(stamp: int, attempt: int) -> str:
  """The name a failed attempt's result.json is set aside under (`stamp` in Unix seconds)."""
  return f"result.failed-{stamp}-{attempt}.json"
