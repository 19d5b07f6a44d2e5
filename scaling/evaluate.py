"""The `evaluate` command: lm-evaluation-harness tasks on every finished run's HF export.

  python -m scaling evaluate SWEEP|RUNDIR --tasks=NAME[,NAME...] --task_dir=DIR
      [--eval_batch_size=8] [--eval_limit=0]

`--task_dir` is a folder of lm-evaluation-harness task YAMLs over local files (e.g.
`dataset_path: json` with `dataset_kwargs.data_files` naming a .jsonl file); nothing is
downloaded (the Hugging Face libraries run offline). Each completed run is exported once into
`RUNDIR/hf/` (export/hf.py, needs a byte or bpe tokenizer) and scored with lm-eval's HF model
(CPU, float32). The scores go to `RUNDIR/downstream.json`:

  {"tasks": {TASK: {"metric": NAME, "score": VALUE, "metrics": {NAME: VALUE, ...}}},
   "step": checkpoint step, "lm_eval_version": ...}

where `score` is the task's first metric (in its YAML's metric_list order; e.g. bits_per_byte,
bits per UTF-8 byte, for a loglikelihood_rolling task). For a sweep, results.csv is then rebuilt
with one column per task (scaling/collect.py), so that

  python -m analysis fit --data=SWEEP/results.csv \\
      --columns=n:n_params_non_embedding,d:tokens,loss:TASK

fits the downstream score.
"""
import os
import pathlib
from typing import Any

from absl import flags
from absl import logging

from export import hf
from export import sample
from records import atomic
from records import layout
from records import results_csv
from scaling import collect

_TASKS = flags.DEFINE_list("tasks", None, "evaluate: lm-evaluation-harness task names.")
_TASK_DIR = flags.DEFINE_string(
    "task_dir", None, "evaluate: the folder of task YAMLs (over local data files).")
_EVAL_BATCH_SIZE = flags.DEFINE_integer("eval_batch_size", 8, "evaluate: sequences per batch.")
_EVAL_LIMIT = flags.DEFINE_integer(
    "eval_limit", 0, "evaluate: at most this many documents per task (0: all).")
_OFFLINE = ("HF_DATASETS_OFFLINE", "HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")
_NOT_METRICS = ("alias", "name", "sample_len")


def task_manager(task_dir: str | pathlib.Path, tasks: list[str]) -> Any:
  """lm-eval's TaskManager over `task_dir` only; ValueError (one line) for a missing folder or a
  task name it does not define, or one that is also a results.csv column."""
  from lm_eval import tasks as lm_eval_tasks  # pylint: disable=import-outside-toplevel
  task_dir = pathlib.Path(task_dir)
  if not task_dir.is_dir():
    raise ValueError(f"--task_dir={task_dir} is not a folder: pass the folder holding the task "
                     "YAMLs")
  manager = lm_eval_tasks.TaskManager(include_path=str(task_dir), include_defaults=False)
  known = sorted(manager.all_tasks)
  for task in tasks:
    if task not in known:
      raise ValueError(f"--tasks: unknown task {task!r}; the tasks in --task_dir={task_dir} are "
                       f"{', '.join(known) or 'none (no task YAML there)'}")
    if task in results_csv.COLUMNS:
      raise ValueError(f"--tasks: task {task!r} has the name of a results.csv column: rename "
                       "the task in its YAML")
  return manager


def scores(results: dict[str, Any], tasks: list[str]) -> dict[str, dict[str, Any]]:
  """{task: {metric, score, metrics}} from lm_eval.simple_evaluate's results (metric names lose
  their ',filter' suffix; standard errors are left out)."""
  found = {}
  for task in tasks:
    metrics = {key.split(",")[0]: value for key, value in results["results"][task].items()
               if key not in _NOT_METRICS and "_stderr" not in key}
    first = next(iter(metrics))
    found[task] = dict(metric=first, score=metrics[first], metrics=metrics)
  return found


def evaluate_run(run_dir: pathlib.Path, tasks: list[str], manager: Any, *, batch_size: int,
                 limit: int | None) -> dict[str, Any]:
  """Exports `run_dir` to RUNDIR/hf, scores it on `tasks` and writes RUNDIR/downstream.json."""
  import lm_eval  # pylint: disable=import-outside-toplevel
  from lm_eval.models import huggingface  # pylint: disable=import-outside-toplevel
  exported = hf.export_run_hf(run_dir, run_dir / layout.HF_EXPORT_DIR)
  if not exported.has_tokenizer:
    raise ValueError(f"{run_dir} has no text tokenizer with a Hugging Face form (byte or bpe): "
                     "lm-evaluation-harness needs one")
  model = huggingface.HFLM(pretrained=str(exported.directory), device="cpu", dtype="float32",
                           batch_size=batch_size)
  results = lm_eval.simple_evaluate(model=model, tasks=tasks, task_manager=manager, limit=limit,
                                    log_samples=False)
  record = dict(tasks=scores(results, tasks), step=exported.provenance["step"],
                lm_eval_version=lm_eval.__version__)
  atomic.write_json_atomic(run_dir / layout.DOWNSTREAM_FILE, record)
  return record


def evaluate(path: str | pathlib.Path, tasks: list[str], task_dir: str | pathlib.Path, *,
             batch_size: int = 8, limit: int | None = None) -> dict[str, dict[str, Any]]:
  """Scores every completed run of a sweep (or one run directory) on `tasks`: {run id: its
  downstream.json}; a sweep's results.csv is rebuilt with the task columns."""
  for name in _OFFLINE:
    os.environ.setdefault(name, "1")
  manager = task_manager(task_dir, tasks)
  path = pathlib.Path(path)
  done = {run.name: evaluate_run(run, tasks, manager, batch_size=batch_size, limit=limit)
          for run in sample.finished_runs(path)}
  if (path / layout.RUNS_DIR).is_dir():
    collect.write_results(path)
  return done


def main(argv: list[str]) -> int:
  """Runs `argv` = ['evaluate', PATH]; bad input raises ValueError (one line, exit status 2)."""
  if len(argv) != 2:
    raise ValueError(f"usage: python -m scaling evaluate SWEEP|RUNDIR --tasks=... "
                     f"--task_dir=DIR; got {argv}")
  if not _TASKS.value:
    raise ValueError("evaluate needs --tasks=NAME[,NAME...], tasks defined in --task_dir")
  if not _TASK_DIR.value:
    raise ValueError("evaluate needs --task_dir=DIR, a folder of lm-evaluation-harness task "
                     "YAMLs over local data files")
  if _EVAL_BATCH_SIZE.value < 1 or _EVAL_LIMIT.value < 0:
    raise ValueError("need --eval_batch_size >= 1 and --eval_limit >= 0")
  logging.set_verbosity(logging.WARNING)  # orbax and lm-eval report every step at INFO
  done = evaluate(argv[1], _TASKS.value, _TASK_DIR.value, batch_size=_EVAL_BATCH_SIZE.value,
                  limit=_EVAL_LIMIT.value or None)
  for run_id, record in done.items():
    line = ", ".join(f"{task} {block['metric']} {block['score']:.4f}"
                     for task, block in record["tasks"].items())
    print(f"{run_id}: {line}")
  return 0
