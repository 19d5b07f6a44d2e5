"""Markdown pieces of the fit report: numbers, intervals, tables, warning boxes and the labels
of conventions."""
import math


def number(value, digits: int = 4) -> str:
  """`value` to `digits` significant digits; '-' for None or a non-finite value."""
  if value is None or (isinstance(value, float) and not math.isfinite(value)):
    return "-"
  return f"{value:.{digits}g}"


def interval(pair) -> str:
  """'(low, high)', or '-' when either side is missing or not finite."""
  if not pair or any(v is None or not math.isfinite(v) for v in pair):
    return "-"
  return f"({number(pair[0])}, {number(pair[1])})"


def table(header: list[str], rows: list[list[str]]) -> str:
  """A pipe table."""
  lines = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
  lines += ["| " + " | ".join(row) + " |" for row in rows]
  return "\n".join(lines)


def warning_box(title: str, reasons: list[str], body: list[str] = ()) -> list[str]:
  """A block quote opening with a bold warning, one bullet per reason, then `body` (e.g. the
  table of a fit that must not be read as a clean result), every line quoted."""
  lines = [f"> **Warning: {title}**", ">"] + [f"> - {reason}" for reason in reasons]
  if body:
    lines += [">"] + [f"> {line}" if line else ">" for line in "\n".join(body).split("\n")]
  return lines


def unless_identifiable(block: dict, body: list[str]) -> list[str]:
  """`body` as it is for an identifiable fit block; inside a warning box otherwise."""
  if block.get("identifiable", True):
    return body
  reasons = block.get("identifiability", {}).get("warnings", [])
  return warning_box(f"the {block['form']} fit is not identifiable: its parameters below are "
                     "not measurements.", reasons, body)


def convention_label(conventions: dict[str, str]) -> str:
  """'N non-embedding, C = 6ND' style description of a conventions block."""
  n_text = "N non-embedding" if conventions["n"] == "non_embedding" else "N total"
  c_text = "C = 6ND" if conventions["c"] == "6nd" else "C exact FLOPs"
  return f"{n_text}, {c_text}"
