"""Side steps of an analysis: one that fails degrades the report with a warning, never aborts it.

Approach 3 on all runs is the analysis. The other steps (the Kaplan and single-variable fits,
Approaches 1 and 2, the residual diagnostics, the extrapolation, the rollout, the convention
comparison, the compute-optimal loss, each figure) are side results: `attempt` runs one, and a
failure of any kind becomes one warning line that names the step and the error (the traceback
goes to the log), while the caller records the step as skipped with that reason.
"""
from collections.abc import Callable
from typing import TypeVar

from absl import logging

from records import cli

Result = TypeVar("Result")


def attempt(step: str, warnings: list[str],
            compute: Callable[[], Result]) -> tuple[Result | None, str]:
  """(compute(), '') or, when it raises, (None, 'failed (Error: message)'), the reason also
  appended to `warnings` as '<step>: failed (...); the rest of the report does not use it'."""
  try:
    return compute(), ""
  except Exception as error:  # pylint: disable=broad-except
    logging.exception("%s failed; the report goes on without it", step)
    reason = f"failed ({type(error).__name__}: {cli.one_line(error)})"
    warnings.append(f"{step}: {reason}; the rest of the report does not use it")
    return None, reason
