"""Plain-text tables for the command line: the dry-run run table and the status table."""
from typing import Any

from records.console import format_duration
from records.status import SweepState
from scaling import rundir


def format_count(value: float) -> str:
  """A short label for a count: 300000 -> '300k', 1.5e9 -> '1.5b', 512 -> '512'."""
  for divisor, suffix in ((1e12, "t"), (1e9, "b"), (1e6, "m"), (1e3, "k")):
    if float(f"{abs(value) / divisor:.3g}") >= 1:
      return f"{value / divisor:.3g}{suffix}"
  return f"{value:.3g}"


def text_table(header: list[str], rows: list[list[str]]) -> str:
  """Columns padded to their widest cell; numbers should come pre-formatted."""
  widths = [max(len(str(cell)) for cell in column) for column in zip(header, *rows)]
  lines = ["  ".join(str(cell).ljust(width) for cell, width in zip(line, widths)).rstrip()
           for line in [header, *rows]]
  return "\n".join(lines)


def shape_text(row: dict[str, Any]) -> str:
  """'L4 d128 h4/4 ff320': layers, d_model, query/kv heads, d_ff."""
  return (f"L{row['n_layers']} d{row['d_model']} h{row['n_heads']}/{row['n_kv_heads']} "
          f"ff{row['d_ff']}")


def dry_run_table(rows: list[dict[str, Any]], seconds: list[float], max_parallel: int,
                  throughput_source: str) -> str:
  """The run table with each run's estimated time, then the sweep's total compute and time."""
  header = ["run_id", "role", "shape", "N_non_emb", "N_total", "D", "FLOPs_6ND", "FLOPs_exact",
            "est_time"]
  body = [[row["run_id"], role(row), shape_text(row), format_count(row["n_params_non_embedding"]),
           format_count(row["n_params_total"]), format_count(row["tokens"]),
           f"{row['flops_6nd']:.3g}", f"{row['flops_exact']:.3g}",
           format_duration(run_seconds)] for row, run_seconds in zip(rows, seconds)]
  total_6nd = sum(row["flops_6nd"] * _spent_fraction(row) for row in rows)
  total_exact = sum(row["flops_spent"] for row in rows)
  footer = (f"{len(rows)} runs | total compute {total_6nd:.4g} FLOPs (6ND), "
            f"{total_exact:.4g} FLOPs (exact) | estimated {format_duration(sum(seconds))}"
            f" run by run, ~{format_duration(sum(seconds) / max(1, max_parallel))} with "
            f"max_parallel={max_parallel} (throughput: {throughput_source})")
  return text_table(header, body) + "\n" + footer


def role(row: dict[str, Any]) -> str:
  """'trunk', 'branch@T' (leaving its trunk after T tokens) or 'run'."""
  if row.get("branch_points"):
    return "trunk"
  if row.get("trunk_id"):
    return f"branch@{format_count(row['branch_tokens'])}"
  return "run"


def _spent_fraction(row: dict[str, Any]) -> float:
  """The share of a run's D that the sweep trains for it (a branch: its decay; else 1)."""
  spent = row.get("flops_spent", row["flops_exact"])
  return spent / row["flops_exact"] if row["flops_exact"] else 1.0


def savings_line(savings: Any) -> str:
  """'ladder: T trunks, B branches; ...' from a `scaling.ladder.Savings`."""
  return (f"ladder: {savings.trunks} trunks, {savings.branches} branches | training "
          f"{savings.planned_flops:.4g} FLOPs (exact) where independent runs would take "
          f"{savings.independent_flops:.4g} ({savings.ratio:.2f}x)")


def compute_line(rows: list[dict[str, Any]]) -> str:
  """The FLOPs (exact) the sweep's points stand for and those it spends (trunks counted once;
  a trunk, not a point itself, stands for none)."""
  represented = sum(row["flops_exact"] for row in rows if not row.get("branch_points"))
  spent = sum(row.get("flops_spent", row["flops_exact"]) for row in rows)
  return (f"compute: the points stand for {represented:.4g} FLOPs (exact); the sweep spends "
          f"{spent:.4g} ({spent / represented if represented else 1.0:.2f}x)")


def ending_lines(run_ids: list[str], states: list[rundir.RunState]) -> list[str]:
  """'failed <run id>: <reason>' (or 'diverged ...') for every failed or diverged run."""
  return [f"{state.state} {run_id}: {state.reason or 'no reason recorded'}"
          for run_id, state in zip(run_ids, states)
          if state.state in (SweepState.FAILED, SweepState.DIVERGED)]


def status_table(rows: list[dict[str, Any]], states: list[rundir.RunState]) -> str:
  """One line per run (state, progress, final eval loss), then the totals per state."""
  header = ["run_id", "state", "progress", "final_eval_loss", "N_non_emb", "D", "note"]
  body = []
  for row, state in zip(rows, states):
    fraction = (1.0 if state.state == SweepState.DONE
                else state.tokens_done / max(1, row["tokens"]))
    loss = "" if state.final_eval_loss is None else f"{state.final_eval_loss:.4f}"
    body.append([row["run_id"], state.state, f"{min(1.0, fraction):.0%}", loss,
                 format_count(row["n_params_non_embedding"]),
                 format_count(row["tokens"]), state.reason[:60]])
  counts = {name: sum(state.state == name for state in states)
            for name in tuple(SweepState)}
  totals = ", ".join(f"{count} {name}" for name, count in counts.items())
  return text_table(header, body) + f"\n{len(rows)} runs: {totals}\n{compute_line(rows)}"
