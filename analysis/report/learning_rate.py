"""The report's learning-rate section: a sweep's learning-rate search, when it has one.

Reads `SWEEP/lr_search/learning_rate.json` beside the sweep's results.csv (`scaling.lr_search`)
and shows the loss against the peak learning rate per searched size with its fitted
log-quadratic (`learning_rate_curves.png`), each size's optimum with its interval against the
fitted law LR*(N) and the published laws at the same sizes (`learning_rate_law.png`), and how
far each run of the sweep trained from the fitted law, in factors of 2. The fits are
`scaling.lr_fit`'s, the ones the sweep trained with. N is the non-embedding parameter count,
D tokens, loss nats/token; each published law is evaluated in its own convention
(`scaling.published_hparams`).
"""
import math
import pathlib

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from analysis.report import markdown  # noqa: E402
from analysis.report import plots  # noqa: E402
from records import results_csv  # noqa: E402
from scaling import lr_fit, lr_search, published_hparams  # noqa: E402

CURVES, LAW = "learning_rate_curves.png", "learning_rate_law.png"
FIGURES = (CURVES, LAW)
Column = results_csv.Column


def law_from_json(block: dict) -> lr_fit.LearningRateLaw:
  """The `lr_fit.LearningRateLaw` of a learning_rate.json `law` block."""
  pair = block["d_exponent_interval"]
  return lr_fit.LearningRateLaw(
      coefficient=block["coefficient"], n_exponent=block["n_exponent"],
      n_exponent_interval=tuple(block["n_exponent_interval"]), d_exponent=block["d_exponent"],
      d_exponent_interval=tuple(pair) if pair is not None else None, level=block["level"],
      n_points=block["n_points"])


def published_at(sizes: list[dict]) -> dict[str, list[float]]:
  """Each published law's learning rate at each searched size (its N, D, C conventions)."""
  return {name: [published_hparams.value(name, published_hparams.LEARNING_RATE,
                                         published_hparams.Point(**size["point"]))
                 for size in sizes]
          for name in published_hparams.LAWS}


def run_distances(results: pathlib.Path, law: lr_fit.LearningRateLaw) -> list[dict]:
  """Each run of results.csv: its peak learning rate, the law's at its N, and the distance
  (log2 of their ratio; + trained above the law)."""
  table = results_csv.read_results(results)
  rows = zip(table.values(Column.RUN_ID), table.values(Column.N_PARAMS_NON_EMBEDDING),
             table.values(Column.PEAK_LEARNING_RATE))
  return [dict(run_id=run_id, n_params_non_embedding=n, peak_learning_rate=rate,
               law_learning_rate=float(law(n)), log2_distance=lr_fit.distance(rate, float(law(n))))
          for run_id, n, rate in rows if n and rate]


def curves_figure(sizes: list[dict]) -> plt.Figure:
  """Loss against peak learning rate per searched size, with the fitted parabola and optimum."""
  figure, axis = plt.subplots(figsize=(6.4, 4.4))
  for index, size in enumerate(sizes):
    color = f"C{index % 10}"
    rates = np.asarray(size["learning_rates"])
    axis.scatter(rates, size["losses"], color=color, s=18,
                 label=f"{size['size']} (D={size['tokens']:,})")
    optimum = lr_fit.Optimum(
        learning_rate=size["learning_rate"], interval=tuple(size["interval"]),
        level=size["level"], learning_rates=tuple(size["learning_rates"]),
        losses=tuple(size["losses"]), curvature=size["curvature"],
        minimum_loss=size["minimum_loss"], edge=size["at_edge"], vertex=size["vertex"])
    if optimum.convex:
      grid = np.geomspace(rates.min(), rates.max(), 100)
      axis.plot(grid, optimum.curve(grid), color=color, linewidth=1)
    axis.axvline(size["learning_rate"], color=color, linestyle=":", linewidth=1)
  axis.set_xscale("log")
  axis.set_xlabel("peak learning rate")
  axis.set_ylabel("final eval loss (nats/token)")
  axis.set_title("learning-rate search: loss per size, log-quadratic fits")
  axis.legend(fontsize=7)
  return figure


def law_figure(sizes: list[dict], law: lr_fit.LearningRateLaw,
               published: dict[str, list[float]]) -> plt.Figure:
  """Per-size optima (with intervals) against N, the fitted law and the published laws."""
  figure, axis = plt.subplots(figsize=(6.4, 4.4))
  n = np.asarray([size["n_params_non_embedding"] for size in sizes], dtype=np.float64)
  optimum = np.asarray([size["learning_rate"] for size in sizes])
  low = np.asarray([size["interval"][0] for size in sizes], dtype=np.float64)
  high = np.asarray([size["interval"][1] for size in sizes], dtype=np.float64)
  bars = np.where(np.isfinite(low), [optimum - low, high - optimum], 0.0)
  axis.errorbar(n, optimum, yerr=bars, fmt="o", color="black", label="per-size optimum")
  grid = np.geomspace(n.min() / 1.5, n.max() * 1.5, 50)
  axis.plot(grid, law(grid), color="C0",
            label=f"fitted: {law.coefficient:.3g} N^{law.n_exponent:.3f}")
  for index, (name, values) in enumerate(published.items()):
    axis.plot(n, values, marker="x", linestyle="--", color=f"C{index + 1}",
              label=f"{name} (published)")
  axis.set_xscale("log")
  axis.set_yscale("log")
  axis.set_xlabel("N (non-embedding parameters)")
  axis.set_ylabel("peak learning rate")
  axis.set_title("optimal learning rate against N: fitted and published")
  axis.legend(fontsize=7)
  return figure


def section(results: str | pathlib.Path, out_dir: str | pathlib.Path
            ) -> tuple[list[str], dict | None]:
  """The section's markdown lines and its fits.json block (and the two figures in `out_dir`);
  ([], None) when `results` is not a sweep's results.csv with a finished search beside it."""
  results = pathlib.Path(results)
  found = lr_search.read_law(results.parent) if results.is_file() else None
  if found is None:
    return [], None
  sizes, law = found["sizes"], law_from_json(found["law"])
  published = published_at(sizes)
  distances = run_distances(results, law)
  out_dir = pathlib.Path(out_dir)
  plots.save(curves_figure(sizes), out_dir / CURVES)
  plots.save(law_figure(sizes, law, published), out_dir / LAW)
  block = dict(found, published_learning_rates=published,
               published_laws={name: rule.to_json()
                               for name, rule in published_hparams.LAWS.items()},
               run_distances=distances, figures=list(FIGURES))
  level = f"{law.level:.0%}"
  size_rows = [[size["size"], f"{size['n_params_non_embedding']:,}", f"{size['tokens']:,}",
                str(len(size["learning_rates"])), markdown.number(size["learning_rate"]),
                markdown.interval(size["interval"]), size["at_edge"] or "-",
                str(size["extensions"]),
                *[markdown.number(published[name][index], 3) for name in published]]
               for index, size in enumerate(sizes)]
  spread = [abs(row["log2_distance"]) for row in distances]
  outside = [name for name in published if any(
      published_hparams.outside_range(name, published_hparams.Point(**size["point"]))
      for size in sizes)]
  lines = [
      "## Learning rate", "",
      f"The sweep searched its peak learning rate (`{lr_search.SEARCH_DIR}/`): per size, "
      f"{found['grid']['values']} learning rates {found['grid']['factor']:g}x apart on its "
      "cheapest budget, a log-quadratic in ln(LR) for the optimum (interval from the fit's "
      f"covariance, {level}), and the law over the sizes "
      f"{', '.join(found['used_sizes'])} (N non-embedding):", "",
      f"**LR\\*(N) = {law.coefficient:.4g} x N^{law.n_exponent:.3f}** (exponent {level} "
      f"interval {markdown.interval(law.n_exponent_interval)}, {law.n_points} sizes).", "",
      markdown.table(["size", "N", "D", "LRs", "optimum", f"{level} interval", "at edge",
                      "extensions", *published],
                     size_rows), "",
      "The published columns are each law's learning rate at the size (steplaw at its N and "
      "D, deepseek at C = M x D, olmo at its total N)" + (
          f"; {', '.join(outside)} are extrapolated here, outside the ranges they were fitted "
          "on" if outside else "") + ".", ""]
  if found["warnings"]:
    lines += [*(f"- warning: {warning}" for warning in found["warnings"]), ""]
  if distances:
    lines += [f"The sweep's {len(distances)} runs trained at a median |log2(LR / LR*(N))| "
              f"of {float(np.median(spread)):.2f} (at most {max(spread):.2f}) from the law.", ""]
  lines += [f"![learning-rate curves]({CURVES})", "", f"![learning-rate law]({LAW})", ""]
  if any(not math.isfinite(size["interval"][0]) for size in sizes):
    lines += ["An interval shown as '-' had no residual degree of freedom (3 learning rates) "
              "or a parabola that opens downward.", ""]
  return lines, block
