"""Choosing among forms, or averaging them, by their held-out record, scored out of sample.

At each threshold t of a rollout (`analysis.trust.rollout.RolloutResult`), the choice is made
from the record a user holding only the runs below t would have (`record_below(t)`), never from
the runs it is scored on:
  * chosen: the form x objective with the lowest record score, the mean over the record's
    thresholds of the mean |ln(predicted / actual)| (the rollout's own score, restricted to the
    record);
  * averaged: ln L = sum_f w_f ln L_f over the forms, with held-out weights w_f proportional to
    1 / mean(ln(predicted / actual)^2) of each form's record rows (inverse mean squared log
    error; a form that failed in the record weighs 0).
Where the record is empty (the first threshold) both fall back to `baseline`. Each method is
then scored on the held-out runs at t like a single form, and `Selection.summary` compares them
with every single form and with the single best form in hindsight. `benchmarks/scoreboard.py`
measures both on every shared dataset (BENCHMARKS.md): a record of short distances can favour a
form that fits nearby runs best and extrapolates worst (Kaplan's L(N, D) on some of Porian et
al.'s settings). Losses in nats/token.
"""
from collections.abc import Sequence
import dataclasses
from typing import Any

import numpy as np

from analysis.trust import rollout as rollout_lib

METHODS = ("chosen", "averaged")


def _log_error(predicted: float, actual: float) -> float:
  """|ln(predicted / actual)|; inf for a failed (non-finite or non-positive) prediction."""
  if not (np.isfinite(predicted) and predicted > 0):
    return np.inf
  return float(abs(np.log(predicted / actual)))


def record_scores(record: Sequence[dict[str, Any]]) -> dict[str, float]:
  """Per label: mean over the record's thresholds of the mean |ln(predicted / actual)|."""
  errors: dict[str, dict[float, list[float]]] = {}
  for row in record:
    errors.setdefault(row["label"], {}).setdefault(row["threshold"], []).append(
        _log_error(row["predicted"], row["actual"]))
  return {label: float(np.mean([np.mean(values) for values in by_threshold.values()]))
          for label, by_threshold in errors.items()}


def record_weights(record: Sequence[dict[str, Any]], labels: Sequence[str]) -> dict[str, float]:
  """Per label, weight proportional to 1 / mean squared ln(predicted / actual) of its record
  rows, normalised to sum 1; empty when no label has a finite record."""
  inverse = {}
  for label in labels:
    errors = [_log_error(row["predicted"], row["actual"]) for row in record
              if row["label"] == label]
    mse = float(np.mean(np.square(errors))) if errors else np.inf
    inverse[label] = 0.0 if not np.isfinite(mse) else 1.0 / max(mse, 1e-300)
  total = sum(inverse.values())
  return {label: value / total for label, value in inverse.items()} if total > 0 else {}


@dataclasses.dataclass(frozen=True)
class Selection:
  """Out-of-sample predictions of the chooser and the averager at every rollout threshold.

  Attributes:
    rows: one dict per (threshold, held-out run): threshold, run, n, d, c, split_distance,
      actual, predicted (label -> prediction), chosen (label), chosen_predicted, chosen_low,
      chosen_high (the chosen form's bootstrap interval), chosen_covered, averaged_predicted,
      weights (label -> held-out weight), from_record (False where the baseline was taken).
    labels: the forms x objectives compared.
    baseline: the label taken where there is no record.
    thresholds: the rollout's thresholds.
  """
  rows: list[dict[str, Any]]
  labels: list[str]
  baseline: str
  thresholds: list[float]

  def _score(self, method: str) -> float:
    """A label's or a method's mean over thresholds of its mean |log error|."""
    per_threshold = []
    for threshold in self.thresholds:
      errors = [_log_error(row[f"{method}_predicted"] if method in METHODS else
                           row["predicted"].get(method, np.nan), row["actual"])
                for row in self.rows if row["threshold"] == threshold]
      if errors:
        per_threshold.append(np.mean(errors))
    return float(np.mean(per_threshold))

  def scores(self) -> dict[str, float]:
    """Mean over thresholds of the mean |ln(predicted / actual)|: each label, then 'chosen'
    and 'averaged'."""
    scores = {label: self._score(label) for label in self.labels}
    scores.update({method: self._score(method) for method in METHODS})
    return scores

  def summary(self) -> dict[str, Any]:
    """The scores, the single best form in hindsight and how the chooser and the averager
    compare with it and with the baseline."""
    scores = self.scores()
    best = min(self.labels, key=scores.get)
    statement = (f"chosen by record: mean |log error| {scores['chosen']:.4f}, averaged "
                 f"{scores['averaged']:.4f}; the single best form in hindsight, {best}, "
                 f"{scores[best]:.4f}; the baseline {self.baseline} {scores[self.baseline]:.4f}")
    return dict(scores=scores, best_single=best, baseline=self.baseline,
                choices={str(t): sorted({row["chosen"] for row in self.rows
                                         if row["threshold"] == t}) for t in self.thresholds},
                statement=statement)

  def to_json(self) -> dict[str, Any]:
    return dict(labels=self.labels, baseline=self.baseline, thresholds=self.thresholds,
                summary=self.summary(), rows=self.rows)


def select(result: rollout_lib.RolloutResult, baseline: str) -> Selection:
  """The chooser's and the averager's predictions at every threshold of `result` (a
  `RolloutResult`), each from `result.record_below(threshold)`; `baseline` (one of its labels,
  e.g. 'chinchilla/huber') where the record is empty."""
  labels = result.labels()
  if baseline not in labels:
    raise ValueError(f"selection: baseline {baseline!r} is not among the rollout's forms "
                     f"{labels}")
  rows = []
  for threshold in result.thresholds:
    record = result.record_below(threshold)
    scores = record_scores(record)
    finite = {label: s for label, s in scores.items() if np.isfinite(s)}
    weights = record_weights(record, labels)
    from_record = bool(finite) and bool(weights)
    if not from_record:
      chosen, weights = baseline, {baseline: 1.0}
    else:
      chosen = min(finite, key=finite.get)
    held_out: dict[str, dict[str, dict]] = {}
    for row in result.rows:
      if row["threshold"] == threshold:
        held_out.setdefault(row["run"], {})[row["label"]] = row
    for run, by_label in held_out.items():
      first = next(iter(by_label.values()))
      predicted = {label: row["predicted"] for label, row in by_label.items()}
      usable = {label: w for label, w in weights.items()
                if w > 0 and np.isfinite(predicted.get(label, np.nan))
                and predicted[label] > 0}
      total = sum(usable.values())
      averaged = (float(np.exp(sum(w * np.log(predicted[label]) for label, w in usable.items())
                               / total)) if total > 0 else np.nan)
      pick = by_label[chosen]
      rows.append(dict(
          threshold=threshold, run=run, n=first["n"], d=first["d"], c=first["c"],
          split_distance=first["split_distance"], actual=first["actual"], predicted=predicted,
          chosen=chosen, chosen_predicted=pick["predicted"], chosen_low=pick["low"],
          chosen_high=pick["high"], chosen_covered=pick["covered"],
          averaged_predicted=averaged, weights=dict(weights), from_record=from_record))
  return Selection(rows=rows, labels=labels, baseline=baseline,
                   thresholds=list(result.thresholds))
