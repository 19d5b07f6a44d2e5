"""One law fitted, bootstrapped and assessed for identifiability: the fits.json block of a law.

Inputs are in natural units (parameters, tokens, FLOPs), losses in nats/token. A fit whose
parameters degenerate (a coefficient driven to 0, an exponent at its bound, an interval that
says nothing) is not an error: it is reported with `identifiable` False and the reasons, which
the report shows in a warning box.
"""
from typing import NamedTuple

import numpy as np

from analysis.fitting import bootstrap
from analysis.fitting import fit
from analysis.laws import forms
from analysis.trust import identifiability
from analysis.fitting import options as fit_options


class LawFit(NamedTuple):
  """One law's fit on all runs, its bootstrap, its fits.json block and the report's warning
  lines about it; `fitted` and `resampled` are None when it was skipped."""
  fitted: fit.FitResult | None
  resampled: bootstrap.BootstrapResult | None
  block: dict
  warnings: list[str]


def fit_law(form: forms.Form, inputs: dict[str, np.ndarray], loss: np.ndarray, *,
            options: fit_options.FitOptions, weights: np.ndarray, n_resamples: int,
            level: float, seed: int, conventions: dict[str, str],
            blocks: np.ndarray | None = None) -> LawFit:
  """Fit, bootstrap and identifiability check of one law.

  `form` is fitted and resampled by the recipe of `analysis.fitting.options` under `options`
  (objective, bounds) with `weights` per run. The block names the conventions and the
  objective and holds `identifiable` and `warnings` (the fit's own and every identifiability
  reason). With no more runs than parameters nothing is fitted: no fit, no bootstrap, a block
  with the reason and a warning saying so. `blocks` (a label per run, e.g. the WSD trunk) makes
  the bootstrap draw whole blocks, whose points share noise.
  """
  if len(loss) <= len(form.param_names):
    note = (f"{len(loss)} runs; {form.formula} needs more than {len(form.param_names)}")
    return LawFit(None, None, dict(form=form.name, skipped=note, conventions=conventions),
                  [f"{form.name}: skipped, {note}"])
  fitted = fit_options.fit(options, inputs, loss, weights, form=form)
  resampled = fit_options.resample(fitted, inputs, loss, weights, n_resamples=n_resamples,
                                   level=level, seed=seed, groups=blocks)
  assessment = identifiability.assess(fitted, resampled, inputs, loss, weights=weights)
  warnings = list(fitted.warnings)
  if not assessment.identifiable:
    warnings.append(f"{form.name}: NOT identifiable ({len(assessment.warnings)} reason(s); "
                    "see its warning box)")
  if resampled.n_failed:
    warnings.append(f"{form.name}: {resampled.n_failed} of {resampled.n_resamples} bootstrap "
                    "refits did not converge and are left out of the intervals")
  block = dict(fitted.to_json())
  block.update(ci={name: list(map(float, interval)) for name, interval in resampled.ci.items()},
               level=resampled.level, n_resamples=resampled.n_resamples,
               n_failed=resampled.n_failed, conventions=conventions,
               resampled_blocks=(int(len(set(blocks.tolist()))) if blocks is not None
                                 else None),
               identifiable=assessment.identifiable,
               warnings=list(fitted.warnings) + list(assessment.warnings),
               identifiability=assessment.to_json())
  if {"alpha", "beta"} <= set(fitted.params):
    block.update(bootstrap.allocation_exponents(fitted.params))
  return LawFit(fitted, resampled, block, warnings)
