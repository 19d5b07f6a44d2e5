"""The tidy table of runs: `observations` (Observations from results.csv or any mapped CSV),
`seeds` (seed groups and observation weights), `checkpoints` (intermediate checkpoints of
training curves as rows, and the recipes that choose them) and `published_curves` (loaders of
the shared data's curves). The bottom wing of analysis.
Imports nothing itself."""
