"""A resolved run config, as written to a run's workdir (`config.json`).

  python train.py --config=configs/resolved.py:RUNDIR/config.json --workdir=RUNDIR

The JSON overrides the base schema (configs/base.py); unknown keys are an error.
"""
import json
import pathlib

import ml_collections

from configs import schema


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  if not arg:
    raise ValueError("configs/resolved.py needs the path of a config.json: "
                     "--config=configs/resolved.py:RUNDIR/config.json")
  path = pathlib.Path(arg)
  if not path.is_file():
    raise ValueError(f"configs/resolved.py: {path} is not a file; pass a run's config.json")
  return schema.RUN.from_dict(json.loads(path.read_text()))
