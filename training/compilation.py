"""XLA's persistent compilation cache: a program compiled once is read back from disk by every
later process (the runs of one shape in a sweep, a relaunch, repeated fits), so only the first
pays for the compilation. A cached program is the same executable, so results are unchanged.

The programs that use it (train.py, `python -m analysis`) share the one `--compilation_cache`
flag defined here."""
import os
import pathlib

import jax
from absl import flags

DEFAULT_DIR = "~/.cache/scaling-lab/jax"
ENVIRONMENT_VARIABLE = "JAX_COMPILATION_CACHE_DIR"

CACHE_DIR = flags.DEFINE_string(
    "compilation_cache", DEFAULT_DIR,
    "folder for XLA's persistent compilation cache (a program compiled once loads from disk "
    "after); '' disables; JAX_COMPILATION_CACHE_DIR, when set, wins")


def enable(directory: str, min_compile_seconds: float) -> None:
  """Caches, in `directory`, every program that took at least `min_compile_seconds` (seconds)
  to compile. A cache named by the JAX_COMPILATION_CACHE_DIR environment variable (jax reads it
  at import) wins over `directory`; with neither, '' leaves the cache off."""
  named = os.environ.get(ENVIRONMENT_VARIABLE)
  if not (directory or named):
    return
  if not named:
    jax.config.update("jax_compilation_cache_dir", str(pathlib.Path(directory).expanduser()))
  jax.config.update("jax_persistent_cache_min_compile_time_secs", min_compile_seconds)
