"""Scaling-law analysis: fit published and measured runs, compare with published laws.

Wings, bottom up (a wing imports only those before it; tests/layering_test.py checks):
- `table`: Observations, the tidy table of runs, and seed weights;
- `laws`: laws as data (forms and their catalogue), published laws, log-log power laws;
- `fitting`: FitOptions and the one fit recipe, objectives, multi-start fit, bootstrap;
- `approaches`: Chinchilla Approaches 1 and 2, and the compute-optimal allocation;
- `trust`: intervals, held-out extrapolation, the rollout, identifiability, residuals;
- `design`: which runs to train next;
- `report`: the pipeline, figures, fits.json and report.md (`report.document.build` is the
  library entry point).
The package imports nothing itself, so that reading a table does not import jax.
Command line: `python -m analysis fit --help`.
"""
