"""Command line: prepare a corpus once and report its token counts and speed.

  python -m data prepare --corpus=stdlib --tokenizer=byte
  python -m data prepare --corpus=files --path='books/*.txt' --tokenizer=sentencepiece \
      --tokenizer_vocab_size=4096

Every field of `config.data` (configs/base.py) is a flag of the same name. A second call with the
same flags prints that the corpus is already prepared and does nothing. Bad flags, config or data
end as one `error:` line on stderr and exit code 2 (records/cli.py).
"""
import os
import sys
import time

from absl import app
from absl import flags

from configs import base
from data import pipeline
from records import cli

_DEFAULTS = base.get_config().data
_FLAG_DEFINERS = {bool: flags.DEFINE_bool, int: flags.DEFINE_integer, float: flags.DEFINE_float,
                  str: flags.DEFINE_string}
for _name, _default in _DEFAULTS.items():
  _FLAG_DEFINERS[type(_default)](_name, _default, f"config.data.{_name} (see configs/base.py)")
_SEQ_LEN = flags.DEFINE_integer("seq_len", None, "check that both splits hold a window this long")
_WORKERS = flags.DEFINE_integer("workers", os.cpu_count() or 1, "encoding processes")
_BAR_WIDTH = 30


def _progress_bar(fraction: float, tokens: int) -> None:
  filled = int(round(fraction * _BAR_WIDTH))
  sys.stderr.write(f"\r[{'#' * filled}{'.' * (_BAR_WIDTH - filled)}] {100 * fraction:5.1f}% "
                   f"{tokens:,} tokens")
  sys.stderr.flush()


def main(argv: list[str]) -> None:
  if argv[1:] != ["prepare"]:
    raise app.UsageError("usage: python -m data prepare [--corpus=...] [--tokenizer=...]")
  data_config = base.get_config().data
  for name in data_config:
    data_config[name] = flags.FLAGS[name].value
  start = time.perf_counter()
  prepared = pipeline.prepare(data_config, seq_len=_SEQ_LEN.value, workers=_WORKERS.value,
                              progress=_progress_bar)
  seconds = time.perf_counter() - start
  manifest = prepared.manifest
  tokens = manifest["train_tokens"] + manifest["val_tokens"]
  if manifest["already_prepared"]:
    print(f"already prepared: {prepared.directory} ({tokens:,} tokens); nothing to do")
    return
  sys.stderr.write("\n")
  print(f"prepared {tokens:,} tokens (train {manifest['train_tokens']:,}, validation "
        f"{manifest['val_tokens']:,}, vocabulary {manifest['vocab_size']}) in {seconds:.1f} s: "
        f"{tokens / seconds:,.0f} tokens/s -> {prepared.directory}")


if __name__ == "__main__":
  cli.run(main)
