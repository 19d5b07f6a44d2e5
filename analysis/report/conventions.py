"""The same runs refitted under every convention pair the data allow (point estimates).

N is counted with or without the embeddings (`observations.N_CONVENTIONS`) and C is 6ND or the
exact FLOPs (`observations.C_CONVENTIONS`); L(N, D) depends on the N convention only, Approach 2
on both. Parameters in count, tokens, FLOPs, loss in nats/token.
"""
import numpy as np

from analysis.approaches import isoflop
from analysis.fitting import bootstrap
from analysis.fitting import options as options_lib
from analysis.table import observations as observations_lib


def compare(clean: observations_lib.Observations, *,
            options: options_lib.FitOptions, weights: np.ndarray,
            nominal_budgets: list[float] | None = None,
            tolerance_decades: float = 0.05, parabola_window: int | None = None) -> list[dict]:
  """The same runs refitted under every convention pair the data allow (point estimates).

  One row per (N, C) convention: the Approach-3 fit (`options.approach3_form()` by the recipe
  of `analysis.fitting.options`, with `weights` per row of `clean`; L(N, D) depends on the N
  convention only) with its a, b, and Approach 2's a, b (each parabola over `parabola_window`
  sizes on each side of the lowest loss; None: every size). Empty when the data carry one N and no
  exact FLOPs.
  """
  n_conventions = (("non_embedding", "total")
                   if not np.array_equal(clean.n_total, clean.n_non_embedding) else ("total",))
  c_conventions = ("6nd", "exact") if np.all(np.isfinite(clean.flops_exact)) else ("6nd",)
  if len(n_conventions) * len(c_conventions) == 1:
    return []
  rows = []
  for n_convention in n_conventions:
    runs = clean.arrays(n=n_convention)
    fitted = options_lib.fit(options, dict(n=runs["n"], d=runs["d"]), runs["loss"], weights,
                             form=options.approach3_form())
    block = fitted.to_json()
    approach3 = dict(params=fitted.params, objective=fitted.objective,
                     criterion=block["criterion"], bounds=block["bounds"],
                     converged=fitted.converged, **bootstrap.allocation_exponents(fitted.params))
    for c_convention in c_conventions:
      runs = clean.arrays(n=n_convention, c=c_convention)
      try:
        isoflops = isoflop.approach2(runs["n"], runs["d"], runs["c"], runs["loss"],
                                     budget=clean.budget, nominal=nominal_budgets,
                                     tolerance_decades=tolerance_decades,
                                     window=parabola_window, n_resamples=0)
        approach2 = dict(a=isoflops.a, b=isoflops.b, n_budgets=len(isoflops.budgets))
      except ValueError as error:
        approach2 = dict(skipped=str(error))
      rows.append(dict(conventions=dict(n=n_convention, c=c_convention), approach3=approach3,
                       approach2=approach2))
  return rows
