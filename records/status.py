"""What a run's record says of it (`RunStatus`) and what a sweep says of its runs (`SweepState`).

Two vocabularies, kept apart on purpose: `RunStatus` is the 'status' value written in
result.json, by the run itself (or by the runner for it) once it has ended; `SweepState` is what
`python -m scaling status` reads off a run directory at any time, including before result.json
exists (pending, running). `SweepState.of` is the one mapping from the first to the second.
"""
import enum


class RunStatus(enum.StrEnum):
  """The 'status' of a result.json."""
  COMPLETED = "completed"  # trained its whole budget; the final eval loss is measured
  DIVERGED = "diverged"    # stopped at a non-finite train loss (a result, not a failure)
  FAILED = "failed"        # refused before it started, or crashed for good

  @property
  def finished(self) -> bool:
    """Whether the run has a measured outcome (a results.csv row): completed or diverged."""
    return self in FINISHED


FINISHED = (RunStatus.COMPLETED, RunStatus.DIVERGED)


class SweepState(enum.StrEnum):
  """The state of one run of a sweep, as read from its run directory."""
  PENDING = "pending"    # not started, or interrupted and resumable
  RUNNING = "running"    # a live runner holds its lease
  DONE = "done"          # result.json: completed
  DIVERGED = "diverged"  # result.json: diverged
  FAILED = "failed"      # result.json: failed (or a status this code does not know)

  @property
  def final(self) -> bool:
    """Whether the run has ended (done, diverged or failed): it is not run again unasked."""
    return self in (SweepState.DONE, SweepState.DIVERGED, SweepState.FAILED)

  @classmethod
  def of(cls, status: str | None) -> "SweepState":
    """The state of a run whose result.json has `status`; an unknown status is a failure."""
    return _STATE_OF_STATUS.get(status, cls.FAILED) if isinstance(status, str) else cls.FAILED


_STATE_OF_STATUS = {RunStatus.COMPLETED: SweepState.DONE, RunStatus.DIVERGED: SweepState.DIVERGED,
                    RunStatus.FAILED: SweepState.FAILED}
