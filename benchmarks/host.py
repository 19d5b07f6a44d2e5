"""The machine a benchmark runs on, named the same way in every BENCHMARKS.md section, and where
the section goes."""
import platform
import subprocess


def cpu_model() -> str:
  """The CPU's model name from lscpu (the platform's processor string where lscpu is absent)."""
  try:
    lines = subprocess.run(["lscpu"], capture_output=True, text=True).stdout.splitlines()
  except FileNotFoundError:
    lines = []
  for line in lines:
    if line.startswith("Model name:"):
      return line.split(":", 1)[1].strip()
  return platform.processor() or "unknown"


def publish(section: str, append_to: str) -> None:
  """Prints a benchmark's markdown section and appends it to `append_to` (a file; '' for none)."""
  print(section)
  if append_to:
    with open(append_to, "a") as markdown:
      markdown.write(section)
