"""records.console: durations for the training console line and the sweep's tables."""
import math

from records import console


def test_format_duration():
  assert [console.format_duration(seconds) for seconds in (42, 45, 187, 200, 3720)] == [
      "42s", "45s", "3m07s", "3m20s", "1h02m"]
  assert console.format_duration(59.6) == "1m00s" and console.format_duration(-3) == "0s"
  assert console.format_duration(math.nan) == "?" and console.format_duration(math.inf) == "?"
