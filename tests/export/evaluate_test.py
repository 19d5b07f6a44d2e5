"""`python -m scaling evaluate` (scaling/evaluate.py): a local lm-evaluation-harness task on a
sweep's HF exports, end to end, checked against our own forward pass."""
import json
import math
import shutil

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from analysis.table import observations
from data import tokenizers
from records import results_csv
from scaling import evaluate

pytest.importorskip("lm_eval")
pytest.importorskip("transformers")
DOCUMENTS = ["def f(x):", "import os", "x = [1, 2]", "print(0)"]  # each fits one window
TASK = """task: snippets
dataset_path: json
dataset_kwargs:
  data_files:
    test: {data}
test_split: test
output_type: loglikelihood_rolling
doc_to_text: ""
doc_to_target: "{{{{text}}}}"
metric_list:
  - metric: bits_per_byte
    aggregation: bits_per_byte
    higher_is_better: false
"""


def _bits_per_byte(model, documents: list[str]) -> float:
  """Our model's bits per byte on the documents, each read after the end-of-document id."""
  nats, total_bytes = 0.0, 0
  for text in documents:
    ids = tokenizers.ByteTokenizer().encode(text)
    inputs = np.concatenate([[tokenizers.BYTE_END_OF_DOCUMENT], ids[:-1]])
    log_probs = jax.nn.log_softmax(model(jnp.asarray(inputs)[None])[0], axis=-1)
    nats -= float(np.take_along_axis(np.asarray(log_probs), ids[:, None], axis=-1).sum())
    total_bytes += len(text.encode("utf-8"))
  return nats / math.log(2) / total_bytes


@pytest.fixture
def task_dir(tmp_path, monkeypatch):
  """A folder with the task 'snippets' over DOCUMENTS in a local .jsonl; HF caches in tmp."""
  monkeypatch.setenv("HF_HOME", str(tmp_path / "hf_home"))
  for name in ("HF_DATASETS_OFFLINE", "HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"):
    monkeypatch.setenv(name, "1")
  folder = tmp_path / "tasks"
  folder.mkdir()
  data = folder / "snippets.jsonl"
  data.write_text("".join(json.dumps({"text": text}) + "\n" for text in DOCUMENTS))
  (folder / "snippets.yaml").write_text(TASK.format(data=data))
  return folder


def test_sweep_is_scored_and_results_csv_gains_the_task(tiny_run, build_model, make_run_dir,
                                                        task_dir, tmp_path):
  path, model = tiny_run
  sweep = tmp_path / "sweep"
  shutil.copytree(path, sweep / "runs" / "run_a")
  untied = build_model(tie_embeddings=False)
  make_run_dir(sweep / "runs" / "run_b", untied, step=4,
               result=dict(status="completed", final_eval_loss=2.4, tokens=256,
                           n_params_non_embedding=2))
  done = evaluate.evaluate(sweep, ["snippets"], task_dir, batch_size=4)
  expected = {"run_a": _bits_per_byte(model, DOCUMENTS),
              "run_b": _bits_per_byte(untied, DOCUMENTS)}
  for run_id, bits in expected.items():
    record = json.loads((sweep / "runs" / run_id / "downstream.json").read_text())
    assert record == done[run_id]
    block = record["tasks"]["snippets"]
    assert block["metric"] == "bits_per_byte"
    assert block["score"] == pytest.approx(bits, rel=1e-4)
    assert (sweep / "runs" / run_id / "hf" / "config.json").is_file()
  assert expected["run_a"] != pytest.approx(expected["run_b"], rel=1e-3)
  table = observations.Observations.from_csv(
      sweep / "results.csv", dict(run_id="run_id", n="n_params_non_embedding", d="tokens",
                                  loss="snippets"))
  assert dict(zip(table.run_id, table.loss)) == pytest.approx(expected, rel=1e-4)


def test_unknown_tasks_and_missing_task_folders_are_refused(task_dir, tmp_path):
  with pytest.raises(ValueError, match="unknown task 'hellaswag'; the tasks in --task_dir=.* "
                                       "are snippets$"):
    evaluate.evaluate(tmp_path, ["hellaswag"], task_dir)
  with pytest.raises(ValueError, match="--task_dir=.*missing is not a folder"):
    evaluate.evaluate(tmp_path, ["snippets"], tmp_path / "missing")
  clashing = tmp_path / "clashing"
  clashing.mkdir()
  (clashing / "tokens.yaml").write_text((task_dir / "snippets.yaml").read_text().replace(
      "task: snippets", "task: tokens"))
  with pytest.raises(ValueError, match="task 'tokens' has the name of a results.csv column"):
    evaluate.evaluate(tmp_path, ["tokens"], clashing)
  with pytest.raises(ValueError, match="task 'tokens' has the name of a results.csv column"):
    results_csv.write_results(tmp_path / "results.csv", [], ["tokens"])
