"""Sampling from one run, or from every finished run of a sweep ordered by N, with the runner.

The parameters come from each run's newest checkpoint (export/run_dir.py) and are decoded by
export/runner.py, the same code an exported run.py executes, with one seed for every run so
that differences between the samples come from the models.
"""
import dataclasses
import json
import pathlib
import time

from export import run_dir as run_dir_lib
from export import runner
from export import safetensors_io
from records import layout
from records.status import RunStatus


@dataclasses.dataclass(frozen=True)
class SampleOptions:
  """Decoding settings (see export/runner.py); max_new_tokens 0 fills the context window."""
  max_new_tokens: int = 0
  temperature: float = 0.8
  top_k: int = 0
  top_p: float = 1.0
  seed: int = 0
  sliding_window: bool = False


@dataclasses.dataclass(frozen=True)
class Sample:
  """One run's continuation of the prompt; `tokens_per_second` counts generated tokens."""
  run_id: str
  n_params_non_embedding: int
  tokens_trained: int
  final_eval_loss: float | None
  text: str
  new_tokens: int
  tokens_per_second: float


def finished_runs(path: str | pathlib.Path) -> list[pathlib.Path]:
  """[path] for a run directory; for a sweep, its completed runs ordered by non-embedding
  parameters N, then tokens D. ValueError when `path` is neither or has no finished run."""
  path = pathlib.Path(path)
  if (path / layout.CONFIG_FILE).is_file():
    return [path]
  if not (path / layout.RUNS_DIR).is_dir():
    raise ValueError(f"{path} is neither a run directory (no {layout.CONFIG_FILE}) nor a "
                     f"sweep (no {layout.RUNS_DIR}/): pass a train.py --workdir or a sweep "
                     "--workdir")
  keyed = []
  for run in sorted((path / layout.RUNS_DIR).iterdir()):
    result_file = run / layout.RESULT_FILE
    result = json.loads(result_file.read_text()) if result_file.is_file() else {}
    if result.get("status") == RunStatus.COMPLETED:
      keyed.append(((result.get("n_params_non_embedding") or 0, result.get("tokens") or 0,
                     run.name), run))
  if not keyed:
    raise ValueError(f"{path} has no finished run yet: see `python -m scaling status "
                     f"--workdir={path}`")
  return [run for _, run in sorted(keyed)]


def sample_loaded(loaded: run_dir_lib.LoadedRun, prompt: str, options: SampleOptions) -> Sample:
  """Continues `prompt` with the run's parameters through the standalone runner's code."""
  metadata = safetensors_io.build_metadata(loaded.model_config, loaded.tokenizer,
                                           loaded.provenance)
  tokenizer = runner.Tokenizer(metadata)
  model = runner.Model(runner.model_config(metadata),
                       safetensors_io.params_to_tensors(loaded.params))
  prompt_ids = tokenizer.encode(prompt)
  max_new_tokens = options.max_new_tokens or max(1, model.seq_len - len(prompt_ids))
  started = time.perf_counter()
  generated = runner.generate(
      model, prompt_ids, max_new_tokens, temperature=options.temperature, top_k=options.top_k,
      top_p=options.top_p, seed=options.seed, vocab_size=tokenizer.vocab_size,
      stop_id=tokenizer.end_of_document_id, sliding_window=options.sliding_window)
  seconds = time.perf_counter() - started
  provenance = loaded.provenance
  return Sample(provenance["run_id"], provenance["n_params_non_embedding"],
                provenance["tokens_trained"], provenance["final_eval_loss"],
                tokenizer.continue_text(prompt, generated), len(generated),
                len(generated) / seconds)


def sample_run(run_dir: str | pathlib.Path, prompt: str, options: SampleOptions) -> Sample:
  """Continues `prompt` with the newest checkpoint of `run_dir`."""
  return sample_loaded(run_dir_lib.load_run(run_dir), prompt, options)


def format_sample(sample: Sample) -> str:
  """A header line (run, N, D, loss, speed) and the text, for the terminal."""
  loss = "-" if sample.final_eval_loss is None else f"{sample.final_eval_loss:.4f}"
  return (f"== {sample.run_id}  N={sample.n_params_non_embedding:,}  "
          f"D={sample.tokens_trained:,} tokens  eval loss {loss} nats/token  "
          f"{sample.new_tokens} tokens at {sample.tokens_per_second:.0f} tokens/s\n{sample.text}")
