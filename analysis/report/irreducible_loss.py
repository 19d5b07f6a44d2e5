"""The irreducible loss E over the forms the rollout compares: `run(data, settings, done)`.

One form's bootstrap interval for E covers the noise of the runs, not the error of the form: a
law that cannot express how the runs bend puts E off by more than its interval admits (the
demo's additive Chinchilla law, whose sizes' gap narrows with data, puts E 0.12% low with an
interval a third as wide). This step fits every form of the rollout that has an E on every run,
bootstrapped by the same blocks as Approach 3 (Approach 3's own fit stands for its form), and
averages them with the held-out weights of their whole rollout record
(`selection.record_weights`, 1 / mean squared log error). The averaged E is the weighted mean;
its interval is that of the mixture of the forms' bootstrap samples, drawn with those weights
(`bootstrap.mixture_interval`), so it spans the forms that predict held-out runs about as well.
Beside the corpus's known floor when it has one. Losses in nats/token.
"""
import numpy as np

from analysis.fitting import bootstrap
from analysis.laws import forms
from analysis.report import law_fits
from analysis.report.step_types import Done, Outcome, Prepared, Settings
from analysis.trust import known_floor
from analysis.trust import rollout as rollout_lib
from analysis.trust import selection


def run(data: Prepared, settings: Settings, done: Done) -> Outcome:
  """E of each rollout form with a free E, their record weights, the averaged E and its mixture
  interval (and the known-floor check); skipped without a rollout or with fewer than two forms
  that have an E and a finite record."""
  result = done["rollout"].result
  if result is None:
    return Outcome(None, data.skipped(f"no rollout ({done['rollout'].block.get('skipped')})"))
  record_weights = selection.record_weights(result.rows, result.labels())
  options = settings.fit_options
  approach3_label = rollout_lib.label(options.approach3_form(), options.objective)
  runs, entries, samples, warnings = data.runs, [], [], []
  for candidate in options.rollout_candidates():
    form = candidate.form()
    name = rollout_lib.label(form, candidate.objective)
    if "E" not in form.param_names or record_weights.get(name, 0.0) <= 0:
      continue
    if name == approach3_label:
      fitted, resampled = done["approach3"].result.fitted, done["approach3"].result.resampled
      checked = done["approach3"].block.get("identifiability")
    else:
      law = law_fits.fit_law(
          form, forms.inputs_for(form, n=runs["n"], d=runs["d"], c=runs["c"]), runs["loss"],
          options=candidate, weights=data.weights, conventions=data.conventions,
          blocks=data.clean.bootstrap_blocks(), **settings.resampling())
      fitted, resampled, checked = law.fitted, law.resampled, law.block.get("identifiability")
      if not law.block.get("identifiable", True):
        warnings.append(f"irreducible loss: {name} is not identifiable on these runs "
                        f"({len(checked['warnings'])} reason(s) in fits.json "
                        "irreducible_loss.forms); its E enters the average by its record weight")
    if fitted is None or not fitted.converged:
      continue
    entries.append(dict(label=name, E=float(fitted.params["E"]),
                        ci=[float(bound) for bound in resampled.ci["E"]],
                        record_weight=record_weights[name],
                        identifiability=checked))
    samples.append(resampled.samples["E"])
  if len(entries) < 2:
    return Outcome(None, data.skipped(
        "fewer than two rollout forms with a free E and a held-out record"), warnings)
  weights = np.array([entry["record_weight"] for entry in entries])
  weights = weights / weights.sum()
  for entry, weight in zip(entries, weights):
    entry["weight"] = float(weight)
  averaged = float(np.sum(weights * [entry["E"] for entry in entries]))
  low, high = bootstrap.mixture_interval(samples, weights, settings.level)
  block = dict(forms=entries, E=averaged, ci=[low, high], level=settings.level,
               weighting="held-out record: 1 / mean squared ln(predicted / actual)",
               conventions=data.conventions)
  if data.known_floor is not None:
    block["known_floor"] = known_floor.check(data.known_floor, averaged, (low, high),
                                             settings.level).to_json()
  return Outcome(None, block, warnings)
