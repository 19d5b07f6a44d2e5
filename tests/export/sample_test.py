"""Sampling one run or a sweep's finished runs ordered by N."""
import json

import numpy as np
import pytest

from export import run_dir
from export import runner
from export import sample
from export import safetensors_io


def _finish(path, n_params_non_embedding, tokens):
  (path / "result.json").write_text(json.dumps({
      "status": "completed", "n_params_non_embedding": n_params_non_embedding,
      "tokens": tokens, "final_eval_loss": 2.0}))


def test_sweep_runs_are_ordered_by_n_then_d(tmp_path):
  for name, n, d in (("a", 300, 10), ("b", 100, 20), ("c", 100, 10), ("d", 50, 5)):
    (tmp_path / "runs" / name).mkdir(parents=True)
    if name != "d":
      _finish(tmp_path / "runs" / name, n, d)
  (tmp_path / "runs" / "d" / "result.json").write_text(json.dumps({"status": "failed"}))
  assert [p.name for p in sample.finished_runs(tmp_path)] == ["c", "b", "a"]


def test_paths_that_are_neither_are_refused(tmp_path):
  with pytest.raises(ValueError, match="neither a run directory"):
    sample.finished_runs(tmp_path)
  (tmp_path / "runs").mkdir()
  with pytest.raises(ValueError, match="no finished run"):
    sample.finished_runs(tmp_path)


def test_greedy_sample_is_the_runners_decode(tiny_run):
  path, _ = tiny_run
  options = sample.SampleOptions(max_new_tokens=6, temperature=0.0)
  result = sample.sample_run(path, "ab", options)
  loaded = run_dir.load_run(path)
  model = runner.Model(runner.model_config(safetensors_io.build_metadata(
      loaded.model_config, loaded.tokenizer, loaded.provenance)),
      safetensors_io.params_to_tensors(loaded.params))
  expected = runner.generate(model, [97, 98], 6, stop_id=256)
  assert result.text == "ab" + bytes(t for t in expected if t < 256).decode(errors="replace")
  assert result.new_tokens == len(expected) and result.tokens_per_second > 0
  header = sample.format_sample(result).splitlines()[0]
  assert "run_a" in header and "eval loss 2.5000" in header
  seeded = sample.SampleOptions(max_new_tokens=6, temperature=1.0, seed=4)
  assert sample.sample_run(path, "ab", seeded).text == sample.sample_run(path, "ab", seeded).text
  assert np.isfinite(result.tokens_per_second)
