"""How every command line ends: an exit code and, on error, one line that names the fix.

Each entry point (train.py, `python -m data`, `python -m scaling`, `python -m analysis`) runs its
`main` through `run`. Errors are caught once, there:
- `UsageError`, any other `ValueError` (bad flags, config fields, data) and `OSError` (a path that
  is missing, read-only, full or loops) print `error: <message>` on stderr and exit with
  `EXIT_USAGE`. Their messages name the bad field or file and the fix.
- Anything else is a defect: one line on stderr names the exception and the file that holds its
  traceback, and the exit code is `EXIT_FAILED`.
No flag help is ever printed unasked.
"""
import errno
import sys
import tempfile
import traceback
from typing import Callable, NoReturn, Sequence

from absl import app
from absl import flags

EXIT_OK = 0
EXIT_FAILED = 1   # a run failed (or, for a sweep, at least one of its runs)
EXIT_USAGE = 2    # bad flags, config, data or paths: nothing was run
EXIT_DIVERGED = 3   # train.py: the run ended with a non-finite loss (a result, not a failure)
EXIT_PREEMPTED = 75  # EX_TEMPFAIL: stopped with its work saved; relaunch the same command

_OS_FIXES = {
    errno.ENOENT: "create it or correct the path",
    errno.ENOTDIR: "a parent of it is a file: correct the path",
    errno.EROFS: "the file system is read-only: choose a writable location",
    errno.EACCES: "permission denied: choose a location you can write, or fix its permissions",
    errno.EPERM: "permission denied: choose a location you can write, or fix its permissions",
    errno.ENOSPC: "the disk is full: free space or choose another disk",
    errno.EDQUOT: "the disk quota is exceeded: free space or choose another disk",
    errno.ELOOP: "it goes through a symbolic-link loop: remove the loop or name the files",
    errno.EISDIR: "it is a directory: name a file",
}


class UsageError(ValueError):
  """Bad input to a command: its message names the flag, field or file and the fix."""


def describe_os_error(error: OSError) -> str:
  """One line for a failed file operation: the path, what went wrong, and the fix."""
  path = error.filename if error.filename is not None else ""
  reason = " ".join(line.strip() for line in (error.strerror or str(error)).splitlines()
                    if line.strip())
  fix = _OS_FIXES.get(error.errno, "check the path and the disk")
  return f"{path}: {reason} ({fix})" if path else f"{reason} ({fix})"


def one_line(error: BaseException) -> str:
  """The message of `error` on one line (an OSError also gets its fix)."""
  if isinstance(error, OSError):
    return describe_os_error(error)
  lines = [line.strip() for line in str(error).splitlines() if line.strip()]
  return " ".join(lines) or type(error).__name__


def _report_defect(error: BaseException) -> None:
  with tempfile.NamedTemporaryFile("w", prefix="scaling-lab-traceback-", suffix=".txt",
                                   delete=False) as stream:
    traceback.print_exception(error, file=stream)
  sys.stderr.write(f"error: internal error {type(error).__name__}: {one_line(error)} "
                   f"(a defect; its traceback is in {stream.name})\n")


def exit_on_error(error: BaseException) -> NoReturn:
  """Prints `error` as one line on stderr and exits with its code (see the module docstring)."""
  if isinstance(error, (ValueError, OSError, app.UsageError, flags.Error)):
    sys.stderr.write(f"error: {one_line(error)}\n")
    sys.exit(EXIT_USAGE)
  _report_defect(error)
  sys.exit(EXIT_FAILED)


_CONFIG_FILE_WRAPPER = "Error whilst parsing config file"  # ml_collections' config-file flags


def _config_file_error(error: flags.Error) -> BaseException:
  """For a config-file flag whose `get_config` raised, the flag with that error's own message
  (ml_collections re-raises it with its whole traceback in the message); else `error`."""
  wrapper = error.__context__
  if wrapper is None or not str(wrapper).startswith(_CONFIG_FILE_WRAPPER):
    return error
  flag = str(error).split(f": {_CONFIG_FILE_WRAPPER}", 1)[0]
  cause = wrapper.__context__
  return flags.Error(f"{flag}: {one_line(cause)}" if cause is not None else str(error))


def parse_flags(argv: Sequence[str]) -> list[str]:
  """absl's flag parsing with one line, and exit code 2, for a bad or unknown flag (a config
  file's `get_config` error included)."""
  try:
    return flags.FLAGS(list(argv))
  except flags.Error as error:
    exit_on_error(_config_file_error(error))


def run(main: Callable[[list[str]], int | None],
        flags_parser: Callable[[Sequence[str]], list[str]] = parse_flags) -> NoReturn:
  """`absl.app.run(main)`, ending with main's return code or one line per error."""

  def guarded(argv: list[str]) -> NoReturn:
    try:
      code = main(argv)
    except SystemExit:
      raise
    except KeyboardInterrupt:
      sys.stderr.write("interrupted\n")
      sys.exit(130)
    except Exception as error:  # pylint: disable=broad-except
      exit_on_error(error)
    sys.exit(code or EXIT_OK)

  app.run(guarded, flags_parser=flags_parser)
