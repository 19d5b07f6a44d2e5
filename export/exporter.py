"""`export_run`: a run directory -> DIR/model.safetensors + DIR/run.py, all a user needs.

The parameter file carries the parameters, model config, tokenizer and provenance (see
export/safetensors_io.py); run.py is a byte-for-byte copy of export/runner.py, which needs only
numpy, safetensors and, for SentencePiece models, sentencepiece.
"""
import dataclasses
import pathlib
import shutil

from export import run_dir as run_dir_lib
from export import runner
from export import safetensors_io

PARAMETER_FILE = "model.safetensors"
RUNNER_FILE = "run.py"


@dataclasses.dataclass(frozen=True)
class Exported:
  """The two files of an export and the provenance written into the parameter file."""
  parameter_file: pathlib.Path
  runner_file: pathlib.Path
  provenance: dict


def export_loaded(loaded: run_dir_lib.LoadedRun, out_dir: str | pathlib.Path) -> Exported:
  """Writes the two files of `loaded` into `out_dir` (created if needed; other files are left)."""
  out_dir = pathlib.Path(out_dir)
  metadata = safetensors_io.build_metadata(loaded.model_config, loaded.tokenizer,
                                           loaded.provenance)
  tensors = safetensors_io.params_to_tensors(loaded.params)
  parameter_file = safetensors_io.write(out_dir / PARAMETER_FILE, tensors, metadata)
  runner_file = out_dir / RUNNER_FILE
  shutil.copyfile(runner.__file__, runner_file)
  return Exported(parameter_file, runner_file, loaded.provenance)


def export_run(run_dir: str | pathlib.Path, out_dir: str | pathlib.Path) -> Exported:
  """Exports the newest checkpoint of `run_dir` (finished or not) into `out_dir`."""
  return export_loaded(run_dir_lib.load_run(run_dir), out_dir)
