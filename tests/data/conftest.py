"""Data-test helpers: the data config of a small file corpus in the test's directory."""
import ml_collections
import pytest

from configs import base


@pytest.fixture
def files_config(tmp_path):
  """`files_config(**overrides)`: `config.data` for the files under tmp_path/corpus (20% held
  out), prepared into tmp_path/cache, with `overrides` applied."""

  def make(**overrides) -> ml_collections.ConfigDict:
    data = base.get_config().data
    data.update(dict(corpus="files", path=str(tmp_path / "corpus"), val_fraction=0.2,
                     prepared_dir=str(tmp_path / "cache")))
    data.update(overrides)
    return data

  return make
