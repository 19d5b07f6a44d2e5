"""Which files a `data.path` names: one file, a directory (searched recursively) or a glob.

Symbolic links to directories are followed, in a directory and through a `**` glob, but every
real directory is entered once (a link back to an ancestor, `sub/up -> ..`, is a loop and is not
entered again) and every real file is named once: of several paths to one file (links, or a
directory reached twice) the first in sorted order names it. A file keeps the path it was found
at, relative to the corpus root, not its link target's. A link to a file that loops or dangles is
an OSError naming the link, and so is a directory that cannot be listed: nothing named is
silently left out.
"""
import errno
import fnmatch
import glob
import os
import pathlib

TEXT_SUFFIXES = (".txt", ".jsonl", ".parquet")


def _raise(error: OSError) -> None:
  raise error


def _directory_identity(path: str) -> tuple[int, int]:
  status = os.stat(path)
  return status.st_dev, status.st_ino


def walk(top: pathlib.Path) -> list[pathlib.Path]:
  """Every non-directory path under `top`, links to directories followed, each directory once."""
  entered = {_directory_identity(str(top))}
  found = []
  for directory, subdirectories, names in os.walk(top, followlinks=True, onerror=_raise):
    subdirectories.sort()
    for name in list(subdirectories):
      identity = _directory_identity(os.path.join(directory, name))
      if identity in entered:
        subdirectories.remove(name)
      entered.add(identity)
    found.extend(pathlib.Path(directory, name) for name in names)
  return found


def _real_file(path: pathlib.Path) -> str | None:
  """The resolved path of `path` when it is a regular file, else None; OSError for a bad link."""
  try:
    real = os.path.realpath(path, strict=True)
  except OSError as error:
    raise OSError(error.errno, error.strerror, str(path)) from error
  return real if os.path.isfile(real) else None


def _each_file_once(paths: list[pathlib.Path]) -> list[pathlib.Path]:
  """The regular files among `paths`, sorted, the first path to each real file only."""
  seen, unique = set(), []
  for path in sorted(paths):
    real = _real_file(path)
    if real is not None and real not in seen:
      seen.add(real)
      unique.append(path)
  return unique


def _name_matches(name: str, pattern: str) -> bool:
  """fnmatch, with glob's rule that a wildcard does not match a leading dot."""
  if name.startswith(".") and not pattern.startswith("."):
    return False
  return fnmatch.fnmatchcase(name, pattern)


def _parts_match(parts: tuple[str, ...], pattern: tuple[str, ...]) -> bool:
  """Whether path components `parts` match glob components `pattern` (`**`: any number)."""
  if not pattern:
    return not parts
  if pattern[0] != "**":
    return (bool(parts) and _name_matches(parts[0], pattern[0])
            and _parts_match(parts[1:], pattern[1:]))
  for skip in range(len(parts) + 1):
    if _parts_match(parts[skip:], pattern[1:]):
      return True
    if skip < len(parts) and parts[skip].startswith("."):
      return False
  return False


def _glob(pattern: str) -> list[pathlib.Path]:
  """The paths `pattern` matches, as `glob.glob(recursive=True)`, but entering each directory
  once, so that a `**` through a directory link loop ends and finds each file once."""
  parts = pathlib.Path(os.path.abspath(pattern)).parts
  if "**" not in parts:
    return [pathlib.Path(match) for match in glob.glob(os.path.abspath(pattern))]
  literal = next(index for index, part in enumerate(parts) if glob.has_magic(part))
  top = pathlib.Path(*parts[:literal])
  if not top.is_dir():
    return []
  return [path for path in walk(top)
          if _parts_match(path.relative_to(top).parts, parts[literal:])]


def _check_not_a_loop(path: pathlib.Path) -> None:
  """An OSError when `path` itself is a symbolic-link loop (it would read as missing)."""
  try:
    os.stat(path)
  except OSError as error:
    if error.errno == errno.ELOOP:
      raise OSError(error.errno, error.strerror, str(path)) from error


def find_text_files(path: str) -> tuple[pathlib.Path, list[pathlib.Path]]:
  """(root, the sorted files `path` names, each real file once, all under root).

  Args:
    path: a file, a directory (its .txt/.jsonl/.parquet files, recursively; other files are
      ignored) or a glob (`**` spans directories; every match must be such a file).
  """
  if not path:
    raise ValueError("data.path is empty: set it to a directory or glob of .txt/.jsonl/.parquet")
  candidate = pathlib.Path(path).expanduser()
  if not glob.has_magic(str(candidate)):
    _check_not_a_loop(candidate)
  if candidate.is_dir():
    root = candidate.resolve()
    files = _each_file_once([p for p in walk(root) if p.suffix in TEXT_SUFFIXES])
  elif candidate.is_file():
    files = [pathlib.Path(os.path.abspath(candidate))]
    root = files[0].parent
  else:
    files = _each_file_once(_glob(str(candidate)))
    if not files:
      raise ValueError(f"data.path={path!r}: no such directory, file or matching glob; "
                       "point it at your .txt/.jsonl/.parquet files")
    root = pathlib.Path(os.path.commonpath([str(f.parent) for f in files]))
  unsupported = sorted({p.suffix or p.name for p in files if p.suffix not in TEXT_SUFFIXES})
  if unsupported:
    raise ValueError(f"data.path={path!r} matches files of unsupported types {unsupported}: "
                     "use .txt, .jsonl or .parquet (or data.corpus=tokens for .bin)")
  if not files:
    raise ValueError(f"data.path={path!r} holds no .txt, .jsonl or .parquet files: "
                     "add some or point data.path elsewhere")
  return root, files
