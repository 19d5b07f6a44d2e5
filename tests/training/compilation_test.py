"""Tests for training/compilation.py: the persistent cache is written where asked, an
environment setting wins, '' leaves it off (each in a fresh process: jax reads its cache
settings once)."""
import os
import pathlib
import subprocess
import sys

import pytest

from training import compilation

_COMPILE = ("import sys; import jax; from training import compilation; "
            "compilation.enable(sys.argv[1], 0.0); "
            "print(float(jax.jit(lambda x: x * 3.0 + 1.0)(2.0)))")


def _compile_in_a_process(directory: str, environment_cache: str | None) -> None:
  environment = {name: value for name, value in os.environ.items()
                 if not name.startswith("JAX_PERSISTENT_CACHE")
                 and name != compilation.ENVIRONMENT_VARIABLE}
  if environment_cache is not None:
    environment[compilation.ENVIRONMENT_VARIABLE] = environment_cache
  completed = subprocess.run([sys.executable, "-c", _COMPILE, directory], env=environment,
                             capture_output=True, text=True, timeout=120)
  assert completed.returncode == 0, completed.stderr[-2000:]
  assert completed.stdout.strip() == "7.0"


def _entries(directory: pathlib.Path) -> list[pathlib.Path]:
  return [path for path in directory.rglob("*") if path.is_file()] if directory.exists() else []


@pytest.mark.entry
def test_the_cache_goes_where_asked_unless_the_environment_names_one(tmp_path):
  asked, named, off = tmp_path / "asked", tmp_path / "named", tmp_path / "off"
  _compile_in_a_process(str(asked), None)
  assert _entries(asked)
  _compile_in_a_process(str(off), str(named))
  assert _entries(named) and not _entries(off)
  before = {path.name for path in _entries(asked)}
  _compile_in_a_process("", None)
  assert {path.name for path in _entries(asked)} == before
