"""The tidy table of runs: `observations` (Observations from results.csv or any mapped CSV)
and `seeds` (seed groups and observation weights). The bottom wing of analysis.
Imports nothing itself."""
