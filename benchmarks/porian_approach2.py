"""Approach 2 against Porian et al. 2024's stored exponents, on each of their 15 settings.

  python benchmarks/porian_approach2.py [--window=1] [--append_to=BENCHMARKS.md]

For each setting (`file`/`row`) of porian2024_resolving/isoflop_points.csv (N = n, D = t,
C = flops, the budget column, loss in nats/token), runs `isoflop.approach2` (a parabola in ln N
fitted to the `--window` sizes on each side of each budget's lowest loss; budgets whose minimum
sits at the edge of their sizes left out; a bootstrap over runs) and compares its exponent a of
N_opt ~ C^a with the authors' `basic` fit in repo_fit_results.csv (least squares of ln N_opt on
ln C through their per-budget optima). A setting matches when |a - stored| <= 0.02 or the
stored exponent lies in our 95% interval. Prints a markdown section: the table, and how many
settings match with the other windows.
"""
import csv
import datetime
from importlib import metadata
import os
import pathlib
import platform
import sys

from absl import app
from absl import flags
import numpy as np

from analysis.approaches import isoflop
import host  # benchmarks/host.py, beside this script

_SHARED = pathlib.Path(__file__).resolve().parents[2] / "shared" / "data"
_DATA = flags.DEFINE_string("data", str(_SHARED), "the shared data folder")
_WINDOW = flags.DEFINE_integer("window", 1, "sizes on each side of the lowest loss that each "
                               "parabola is fitted to (0: every size of the budget)")
_RESAMPLES = flags.DEFINE_integer("n_resamples", 1000, "bootstrap resamples per setting")
_APPEND_TO = flags.DEFINE_string("append_to", "", "markdown file to append the section to")
_TOLERANCE = 0.02
_COLUMNS = ("dataset", "hparams", "warmup", "decay", "param_count", "loss_source")


def _settings(root: pathlib.Path) -> dict[tuple[str, str], dict]:
  """Each setting's label, runs (n, t, flops, loss) and stored `basic` exponent."""
  folder = root / "porian2024_resolving"
  with open(folder / "isoflop_points.csv") as f:
    points = [r for r in csv.DictReader(f) if r["loss"]]
  with open(folder / "repo_fit_results.csv") as f:
    stored = {(r["file"], r["row"]): float(r["n_exponent"])
              for r in csv.DictReader(f) if r["fit"] == "basic"}
  settings = {}
  for key in dict.fromkeys((r["file"], r["row"]) for r in points):
    rows = [r for r in points if (r["file"], r["row"]) == key]
    settings[key] = dict(
        label="/".join(rows[0][k] for k in _COLUMNS), stored=stored[key],
        runs=tuple(np.array([float(r[k]) for r in rows]) for k in ("n", "t", "flops", "loss")))
  return settings


def _fit(runs: tuple[np.ndarray, ...], window: int, include_edge: bool = False
         ) -> isoflop.Approach2Result:
  n, t, flops, loss = runs
  return isoflop.approach2(n, t, flops, loss, budget=flops, window=window or None,
                           include_edge=include_edge, n_resamples=_RESAMPLES.value)


def _matches(result: isoflop.Approach2Result, stored: float) -> bool:
  low, high = result.ci["a"]
  return abs(result.a - stored) <= _TOLERANCE or low <= stored <= high


def _left_out(result: isoflop.Approach2Result) -> str:
  return ", ".join(f"{b.flops:.3g} ({b.reason})" for b in result.left_out) or "none"


def main(argv):
  del argv
  settings = _settings(pathlib.Path(_DATA.value))
  lines, matched = [], 0
  for (file, row), setting in settings.items():
    result = _fit(setting["runs"], _WINDOW.value)
    stored, (low, high) = setting["stored"], result.ci["a"]
    match = _matches(result, stored)
    matched += match
    print(f"{file}/{row}: a = {result.a:.3f}, stored {stored:.3f}", file=sys.stderr)
    lines.append(
        f"| {file} {row} | {setting['label']} | {result.a:.3f} ({low:.3f}, {high:.3f}) | "
        f"{stored:.3f} | {result.a - stored:+.3f} | {'yes' if match else 'no'} | "
        f"{len(result.budgets)} | {_left_out(result)} |")
  others = []
  for window, include_edge in [(w, False) for w in sorted({0, 1, 2, 3} - {_WINDOW.value})] + [
      (0, True)]:
    count = sum(_matches(_fit(s["runs"], window, include_edge), s["stored"])
                for s in settings.values())
    others.append(f"{'every size' if window == 0 else f'window {window}'}"
                  f"{', edge budgets included' if include_edge else ''}: {count} of "
                  f"{len(settings)}")
  versions = ", ".join(f"{p} {metadata.version(p)}" for p in ("numpy",))
  window = ("every size" if _WINDOW.value == 0 else
            f"the {_WINDOW.value} size{'s' if _WINDOW.value > 1 else ''} on each side")
  section = "\n".join([
      f"\n## Approach 2 against Porian et al. 2024's stored exponents "
      f"({datetime.date.today().isoformat()})\n",
      f"Machine: {host.cpu_model()}, {os.cpu_count()} cores (shared). Python "
      f"{platform.python_version()}, {versions}. Command: `python benchmarks/porian_approach2.py "
      f"--window={_WINDOW.value} --n_resamples={_RESAMPLES.value}`. Data: "
      "porian2024_resolving/isoflop_points.csv (N = n, D = t, the setting's own N and C "
      "conventions, C = flops as the budget column); stored: repo_fit_results.csv, `basic`. "
      f"Each budget's parabola in ln N is fitted to {window} of its lowest loss; a budget whose "
      "lowest loss is its smallest or largest size, or whose vertex lies beyond them, is left "
      "out of the power law (`isoflop.approach2`'s default); 95% percentile intervals from "
      f"{_RESAMPLES.value} resamples of the runs within each budget. Match: |a - stored| <= "
      f"{_TOLERANCE} or stored inside our interval.\n",
      "| setting | dataset/hparams/warmup/decay/param_count/loss | a (95% interval) | stored a "
      "| difference | match | budgets used | left out (FLOPs, why) |",
      "|---|---|---|---|---|---|---|---|",
      *lines, "",
      f"Matched: {matched} of {len(settings)}. With other windows: {'; '.join(others)} (the "
      "last is Approach 2 before budgets at an edge were left out).\n"])
  host.publish(section, _APPEND_TO.value)


if __name__ == "__main__":
  app.run(main)
