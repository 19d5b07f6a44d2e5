"""Scaling-law analysis: fit published and measured runs, compare with published laws.

Modules: observations (the tidy table of runs, from results.csv or any mapped CSV), forms (laws
as data), fitting.options (FitOptions and the one fit recipe every fitting user applies), fit and
multistart (the multi-start Huber fit in JAX), bootstrap (refits over resampled runs), powerlaw
(log-log power laws), envelope (Chinchilla Approach 1), isoflop (Approach 2), published
(published laws with citations), optimal (compute-optimal allocation), extrapolate (held-out
prediction), law_fits (one law fitted, bootstrapped and assessed), pipeline (every analysis
under one pair of conventions; a failing side step is a warning, see auxiliary), plots and report
(figures, fits.json, report.md; `report.build` is the library entry point).
The package imports nothing itself, so that reading a table does not import jax.
Command line: `python -m analysis fit --help`.
"""
