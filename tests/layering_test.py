"""No package imports one above it: every import statement of the project, walked with `ast`.

Layers, bottom up (a module may import its own layer and those below it, never one above):
records and configs; model; data; training; export; scaling; analysis; the programs train.py and
demo.py. Inside analysis the wings are layered the same way: table, laws, fitting, approaches,
trust, design, report (`analysis/__main__.py` sits above them all). Imports inside functions count,
and relative imports are resolved to their package.
"""
import ast
import pathlib
from typing import Iterator

PROJECT_ROOT = pathlib.Path(__file__).resolve().parents[1]
LAYERS = (("records", "configs"), ("model",), ("data",), ("training",), ("export",),
          ("scaling",), ("analysis",), ("train", "demo"))
LEVEL = {name: level for level, names in enumerate(LAYERS) for name in names}
ANALYSIS_WINGS = ("table", "laws", "fitting", "approaches", "trust", "design", "report",
                  "__main__")
WING_LEVEL = {name: level for level, name in enumerate(ANALYSIS_WINGS)}


def project_sources(root: pathlib.Path) -> Iterator[tuple[str, pathlib.Path]]:
  """(top-level name, path) of every .py file of the layered packages and programs."""
  for name in LEVEL:
    if (root / name).is_dir():
      for path in sorted((root / name).rglob("*.py")):
        yield name, path
    elif (root / f"{name}.py").is_file():
      yield name, root / f"{name}.py"


def imported_modules(path: pathlib.Path, root: pathlib.Path) -> Iterator[tuple[int, str]]:
  """(line, absolute dotted name) of everything the file imports, at any depth.

  `from a.b import c` gives 'a.b.c' (c a module or a name); relative imports are resolved.
  """
  package = path.relative_to(root).parent.parts
  for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
    if isinstance(node, ast.Import):
      for alias in node.names:
        yield node.lineno, alias.name
    elif isinstance(node, ast.ImportFrom):
      parts = (node.module,) if node.module else ()
      if node.level:
        parts = package[:len(package) - node.level + 1] + parts
      for alias in node.names:
        yield node.lineno, ".".join(parts + (alias.name,))


def upward_imports(root: pathlib.Path) -> list[str]:
  """'path:line: A imports B, a layer above it' for every import that goes up the layers."""
  found = []
  for name, path in project_sources(root):
    for line, module in imported_modules(path, root):
      target = module.split(".")[0]
      if LEVEL.get(target, -1) > LEVEL[name]:
        found.append(f"{path.relative_to(root)}:{line}: {name} imports {module}, a layer above "
                     f"it")
      elif name == target == "analysis":
        wing = _analysis_wing(path.relative_to(root).with_suffix("").parts)
        target_wing = _analysis_wing(tuple(module.split(".")))
        if WING_LEVEL.get(target_wing, -1) > WING_LEVEL.get(wing, len(ANALYSIS_WINGS)):
          found.append(f"{path.relative_to(root)}:{line}: analysis.{wing} imports {module}, a "
                       f"wing above it")
  return found


def _analysis_wing(parts: tuple[str, ...]) -> str:
  """'fitting' for ('analysis', 'fitting', 'fit'); '' for the package itself."""
  return parts[1] if len(parts) > 1 and parts[1] != "__init__" else ""


def test_no_package_imports_one_above_it():
  assert sum(1 for _ in project_sources(PROJECT_ROOT)) > 50  # the walk sees the project
  assert upward_imports(PROJECT_ROOT) == []


def _write(root: pathlib.Path, name: str, text: str) -> None:
  path = root / name
  path.parent.mkdir(parents=True, exist_ok=True)
  path.write_text(text)


def test_the_checker_catches_a_planted_upward_import_at_any_depth(tmp_path):
  for package in ("records", "configs", "training", "scaling", "scaling/sub", "analysis"):
    _write(tmp_path, f"{package}/__init__.py", "")
  _write(tmp_path, "records/layout.py", "import json\nfrom configs import schema\n")
  _write(tmp_path, "configs/resolved.py", "from training import run_config\n")
  _write(tmp_path, "training/loop.py", "from records import layout\nfrom . import budget\n")
  _write(tmp_path, "scaling/sub/demo.py",
         "import scaling.grid\n\n\ndef run():\n  import analysis.report\n  from .. import grid\n")
  _write(tmp_path, "analysis/suggest.py", "from scaling import grid\nfrom . import fit\n")
  _write(tmp_path, "analysis/fitting/fit.py", "from analysis.laws import forms\n"
         "from analysis.trust import intervals\nfrom ..report import plots\n")
  _write(tmp_path, "analysis/report/plots.py", "from analysis.fitting import fit\n"
         "from analysis import __main__\n")
  _write(tmp_path, "train.py", "from analysis import suggest\nimport demo\n")
  wings = ["analysis/fitting/fit.py:2: analysis.fitting imports analysis.trust.intervals, a wing "
           "above it",
           "analysis/fitting/fit.py:3: analysis.fitting imports analysis.report.plots, a wing "
           "above it",
           "analysis/report/plots.py:2: analysis.report imports analysis.__main__, a wing above "
           "it"]
  assert upward_imports(tmp_path) == [
      "configs/resolved.py:1: configs imports training.run_config, a layer above it",
      "scaling/sub/demo.py:5: scaling imports analysis.report, a layer above it"] + wings
  _write(tmp_path, "records/layout.py", "def f():\n  if True:\n    import model.shapes\n")
  _write(tmp_path, "model/__init__.py", "from data import pipeline\n")
  assert upward_imports(tmp_path) == [
      "records/layout.py:3: records imports model.shapes, a layer above it",
      "configs/resolved.py:1: configs imports training.run_config, a layer above it",
      "model/__init__.py:1: model imports data.pipeline, a layer above it",
      "scaling/sub/demo.py:5: scaling imports analysis.report, a layer above it"] + wings
