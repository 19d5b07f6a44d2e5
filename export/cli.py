"""The `export` and `sample` commands of `python -m scaling`.

  python -m scaling export RUNDIR --out=DIR [--format=scaling-lab|hf]
  python -m scaling sample RUNDIR|SWEEP --prompt="def " [--max_new_tokens=N] [--temperature=0.8]
      [--top_k=K] [--top_p=P] [--sample_seed=S] [--sliding_window]

`export` writes DIR/model.safetensors and DIR/run.py (then `python DIR/run.py
DIR/model.safetensors --prompt=...` needs only numpy, safetensors and the tokenizer library).
`--format=hf` writes instead a Hugging Face Llama directory (export/hf.py) that
`transformers.AutoModelForCausalLM.from_pretrained(DIR)` loads.
`sample` decodes from one run, or from every finished run of a sweep ordered by N.
"""
from absl import flags
from absl import logging

from export import exporter
from export import sample

_OUT = flags.DEFINE_string("out", None, "export: the folder for model.safetensors and run.py.")
FORMATS = ("scaling-lab", "hf")
_FORMAT = flags.DEFINE_string(
    "format", "scaling-lab", "export: scaling-lab (the parameter file and run.py) or hf (a "
    "Hugging Face Llama directory).")
_PROMPT = flags.DEFINE_string("prompt", None, "sample: the text to continue.")
_MAX_NEW_TOKENS = flags.DEFINE_integer(
    "max_new_tokens", 0, "sample: tokens to generate (0: until the context window is full).")
_TEMPERATURE = flags.DEFINE_float("temperature", 0.8, "sample: 0 decodes greedily.")
_TOP_K = flags.DEFINE_integer("top_k", 0, "sample: keep the k likeliest tokens (0: all).")
_TOP_P = flags.DEFINE_float("top_p", 1.0, "sample: nucleus probability (1: all).")
_SAMPLE_SEED = flags.DEFINE_integer("sample_seed", 0, "sample: seed of the sampler.")
_SLIDING_WINDOW = flags.DEFINE_bool(
    "sliding_window", False, "sample: slide the context window instead of refusing long text.")

COMMANDS = ("export", "sample")


def _export_hf(path: str) -> int:
  from export import hf  # pylint: disable=import-outside-toplevel  # imports transformers
  exported = hf.export_run_hf(path, _OUT.value)
  provenance = exported.provenance
  tokenizer = ("with its tokenizer" if exported.has_tokenizer else
               "without a tokenizer (only byte and bpe tokenizers have a Hugging Face form)")
  print(f"wrote {exported.directory} (Hugging Face Llama, step {provenance['step']}, "
        f"{provenance['tokens_trained']:,} tokens) {tokenizer}")
  print(f"load it: transformers.AutoModelForCausalLM.from_pretrained({str(exported.directory)!r})")
  return 0


def _export(path: str) -> int:
  if not _OUT.value:
    raise ValueError("export needs --out=DIR, the folder to write model.safetensors and run.py")
  if _FORMAT.value not in FORMATS:
    raise ValueError(f"--format={_FORMAT.value!r}: use one of {', '.join(FORMATS)}")
  if _FORMAT.value == "hf":
    return _export_hf(path)
  exported = exporter.export_run(path, _OUT.value)
  provenance = exported.provenance
  print(f"wrote {exported.parameter_file} ({exported.parameter_file.stat().st_size:,} bytes: "
        f"step {provenance['step']}, {provenance['tokens_trained']:,} tokens, final eval loss "
        f"{provenance['final_eval_loss']}) and {exported.runner_file}")
  print(f"run it: python {exported.runner_file} {exported.parameter_file} --prompt=\"...\"")
  return 0


def _sample(path: str) -> int:
  if _PROMPT.value is None:
    raise ValueError('sample needs --prompt="text to continue"')
  if _TEMPERATURE.value < 0 or _TOP_K.value < 0 or not 0 < _TOP_P.value <= 1:
    raise ValueError("need --temperature >= 0, --top_k >= 0 and 0 < --top_p <= 1")
  options = sample.SampleOptions(
      max_new_tokens=_MAX_NEW_TOKENS.value, temperature=_TEMPERATURE.value, top_k=_TOP_K.value,
      top_p=_TOP_P.value, seed=_SAMPLE_SEED.value, sliding_window=_SLIDING_WINDOW.value)
  for run in sample.finished_runs(path):
    print(sample.format_sample(sample.sample_run(run, _PROMPT.value, options)), flush=True)
  return 0


def main(argv: list[str]) -> int:
  """Runs `argv` = [command, PATH]; a bad input raises ValueError (one line and exit status 2
  under `records.cli.run`)."""
  if len(argv) != 2 or argv[0] not in COMMANDS:
    raise ValueError(f"usage: python -m scaling {'|'.join(COMMANDS)} PATH [flags]; got {argv}")
  logging.set_verbosity(logging.WARNING)  # orbax reports every restore step at INFO
  return {"export": _export, "sample": _sample}[argv[0]](argv[1])
