"""records.cli: one line per error, the exit code by kind, no flag help."""
import errno
import subprocess
import sys
import textwrap

import pytest

from records import cli


def _run_main(tmp_path, body: str) -> subprocess.CompletedProcess:
  script = tmp_path / "entry.py"
  script.write_text(textwrap.dedent(f"""
      from absl import flags
      from records import cli
      flags.DEFINE_integer("count", 1, "a number")

      def main(argv):
      {textwrap.indent(textwrap.dedent(body), "  ")}

      cli.run(main)
      """))
  return subprocess.run([sys.executable, str(script), "--count=2"], capture_output=True,
                        text=True, timeout=60)


@pytest.mark.parametrize("body, code, message", [
    ("raise cli.UsageError('--count=2: use 3 or more')", cli.EXIT_USAGE,
     "error: --count=2: use 3 or more"),
    ("raise ValueError('data.path is empty:\\n set it')", cli.EXIT_USAGE,
     "error: data.path is empty: set it"),
    ("open('/nonexistent-dir/x.json', 'w')", cli.EXIT_USAGE,
     "error: /nonexistent-dir/x.json: No such file or directory (create it or correct the path)"),
    ("return 3", 3, ""),
    ("raise KeyError('oops')", cli.EXIT_FAILED, "error: internal error KeyError: 'oops'"),
])
def test_errors_end_as_one_line_with_their_exit_code(tmp_path, body, code, message):
  process = _run_main(tmp_path, body)
  assert process.returncode == code
  lines = process.stderr.strip().splitlines()
  if message:
    assert len(lines) == 1 and lines[0].startswith(message), process.stderr
  assert "Traceback" not in process.stderr and "--helpfull" not in process.stderr


def test_a_defect_keeps_its_traceback_in_a_file(tmp_path):
  process = _run_main(tmp_path, "raise KeyError('oops')")
  path = process.stderr.rsplit("traceback is in ", 1)[1].rstrip(")\n")
  with open(path) as stream:
    assert "Traceback" in stream.read()


def test_bad_flag_is_one_line_with_the_usage_code(tmp_path):
  script = tmp_path / "entry.py"
  script.write_text("from records import cli\ncli.run(lambda argv: 0)\n")
  process = subprocess.run([sys.executable, str(script), "--no_such_flag=1"],
                           capture_output=True, text=True, timeout=60)
  assert process.returncode == cli.EXIT_USAGE
  assert process.stderr.strip().splitlines() == [
      "error: Unknown command line flag 'no_such_flag'"]


def test_os_errors_name_the_path_and_the_fix():
  assert cli.one_line(OSError(errno.EROFS, "Read-only file system", "/ro/run")) == (
      "/ro/run: Read-only file system (the file system is read-only: choose a writable location)")
  assert "free space" in cli.one_line(OSError(errno.ENOSPC, "No space left on device", "/x"))


def test_a_config_file_error_is_one_line_with_its_own_message(tmp_path):
  config = tmp_path / "sweep_config.py"
  config.write_text("def get_config(arg=None):\n"
                    "  raise ValueError(f'config variant {arg!r} is unknown; known: quick')\n")
  script = tmp_path / "entry.py"
  script.write_text("from absl import flags\nfrom ml_collections import config_flags\n"
                    "from records import cli\nconfig_flags.DEFINE_config_file('config')\n"
                    "cli.run(lambda argv: flags.FLAGS.config.name)\n")
  for flag, message in [
      (f"--config={config}:bogus", f"error: flag --config={config}:bogus: config variant "
                                   "'bogus' is unknown; known: quick"),
      (f"--config={tmp_path}/missing.py", "error: Configuration is not available")]:
    process = subprocess.run([sys.executable, str(script), flag], capture_output=True,
                             text=True, timeout=60)
    assert process.returncode == cli.EXIT_USAGE
    lines = process.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(message), process.stderr
    assert "Traceback" not in process.stderr
