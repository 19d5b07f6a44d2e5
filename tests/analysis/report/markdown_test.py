"""Tests for the report's markdown pieces."""
from analysis.report import markdown
def test_number_and_interval():
  assert markdown.number(1234.5678) == "1235"
  assert markdown.number(float("nan")) == "-"
  assert markdown.number(None) == "-"
  assert markdown.interval((0.25, 0.5)) == "(0.25, 0.5)"
  assert markdown.interval((0.25, float("inf"))) == "-"
  assert markdown.interval(None) == "-"


def test_table_has_header_rule_and_rows():
  text = markdown.table(["a", "b"], [["1", "2"], ["3", "4"]])
  assert text.split("\n") == ["| a | b |", "| --- | --- |", "| 1 | 2 |", "| 3 | 4 |"]


def test_warning_box_quotes_every_line():
  lines = markdown.warning_box("bad fit.", ["E at its bound"], ["| a |", "", "text"])
  assert lines[0] == "> **Warning: bad fit.**"
  assert "> - E at its bound" in lines
  assert all(line.startswith(">") for line in lines)
  assert "> | a |" in lines and "> text" in lines


def test_unless_identifiable_boxes_only_unidentifiable_fits():
  body = ["| E | 1.7 |"]
  assert markdown.unless_identifiable(dict(form="chinchilla", identifiable=True), body) == body
  boxed = markdown.unless_identifiable(
      dict(form="chinchilla", identifiable=False,
           identifiability=dict(warnings=["E fitted to ~0"])), body)
  assert boxed[0].startswith("> **Warning: the chinchilla fit is not identifiable")
  assert "> - E fitted to ~0" in boxed and "> | E | 1.7 |" in boxed


def test_convention_labels():
  assert markdown.convention_label(dict(n="total", c="exact")) == "N total, C exact FLOPs"
  assert markdown.convention_label(dict(n="non_embedding", c="6nd")) == (
      "N non-embedding, C = 6ND")
