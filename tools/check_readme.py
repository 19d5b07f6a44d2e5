"""Runs every command of README.md's bash blocks, in order, from the project root.

  .venv/bin/python tools/check_readme.py [--skip=make]

Lines are joined across trailing backslashes; comments are dropped. Commands whose first word is
in --skip (default: `make`, the two top-level commands, which are checked by running them
directly) are listed but not run. Exits 1 when any command fails, printing its output's tail.
"""
import argparse
import pathlib
import re
import subprocess
import sys
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]


def readme_commands(text: str) -> list[str]:
  """The shell commands of the ```bash blocks of `text`, continuation lines joined."""
  commands = []
  for block in re.findall(r"```bash\n(.*?)```", text, flags=re.DOTALL):
    pending = ""
    for line in block.splitlines():
      line = line.split("  #")[0].rstrip()
      if line.endswith("\\"):
        pending += line[:-1] + " "
        continue
      command = (pending + line).strip()
      pending = ""
      if command and not command.startswith("#"):
        commands.append(command)
  return commands


def main() -> int:
  parser = argparse.ArgumentParser(description=__doc__)
  parser.add_argument("--skip", default="make", help="comma-separated first words not to run")
  parser.add_argument("--timeout", type=float, default=1200.0, help="seconds per command")
  args = parser.parse_args()
  skip = set(args.skip.split(",")) if args.skip else set()
  failures = 0
  for command in readme_commands((ROOT / "README.md").read_text()):
    if command.split()[0] in skip:
      print(f"skip  {command}")
      continue
    start = time.monotonic()
    result = subprocess.run(command, shell=True, cwd=ROOT, capture_output=True, text=True,
                            timeout=args.timeout)
    seconds = time.monotonic() - start
    status = "ok  " if result.returncode == 0 else "FAIL"
    print(f"{status}  {seconds:6.1f} s  {command}", flush=True)
    if result.returncode:
      failures += 1
      print("\n".join((result.stdout + result.stderr).splitlines()[-15:]))
  return 1 if failures else 0


if __name__ == "__main__":
  sys.exit(main())
