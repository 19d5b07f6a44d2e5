"""Short texts for the console lines of training runs and sweeps."""
import math


def format_duration(seconds: float) -> str:
  """A duration in seconds as '1h02m', '3m07s' or '42s' (rounded to whole seconds; a negative
  one is '0s'); '?' when it is unknown (NaN or infinite)."""
  if not math.isfinite(seconds):
    return "?"
  seconds = max(int(round(seconds)), 0)
  hours, rest = divmod(seconds, 3600)
  minutes, secs = divmod(rest, 60)
  if hours:
    return f"{hours}h{minutes:02d}m"
  return f"{minutes}m{secs:02d}s" if minutes else f"{secs}s"
