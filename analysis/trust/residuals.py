"""Residual diagnostics of a fitted law: log-space R^2, normality, trends, per-budget groups.

Residuals are r = log(predicted loss) - log(observed loss) (natural log, loss in nats/token), so
r > 0 is an over-prediction. `diagnose` computes

  * log-space R^2 = 1 - sum r^2 / sum (log L - mean log L)^2;
  * a Shapiro-Wilk normality test of r (`scipy.stats.shapiro`; skipped below 3 points);
  * linear trend tests of r against the log of every input given (n parameters, d tokens,
    c FLOPs, m tokens per parameter; the form's own and any others) and against the log
    prediction: least-squares slope and its two-sided p-value (`scipy.stats.linregress`);
  * residuals grouped by compute budget when budget labels (IsoFLOP labels or FLOPs) are given.

A warning is raised for every test significant at `SIGNIFICANCE`. A fitted form with a free
exponent absorbs most of a linear trend in its own inputs, so these tests are most sensitive to
inputs the form leaves out and to a bias that grows with the loss. A Huber fit with a delta
below the noise (the default 1e-3 against ~0.5% noise) pulls many residuals towards 0, so its
residuals fail Shapiro-Wilk more often than the noise alone would: read a normality warning on
such a fit together with the residual plots.
"""
from collections.abc import Mapping, Sequence
import dataclasses
import math
from typing import Any

import numpy as np
import scipy.stats

from analysis.fitting import fit as fit_lib
from analysis.laws import forms as forms_lib
from records import atomic


SIGNIFICANCE = 0.01
_MIN_POINTS = 3
_DESCRIPTIONS = {"n": "N (parameters)", "d": "D (tokens)", "c": "C (FLOPs)",
                 "m": "M (tokens per parameter)"}


@dataclasses.dataclass
class Diagnostics:
  """Residual diagnostics of one fit.

  Attributes:
    form: name of the fitted form.
    log_inputs: input name -> (points,) natural log of the input (natural units).
    log_prediction: (points,) log predicted loss.
    residuals: (points,) r = log predicted - log observed loss.
    r_squared: log-space R^2 (NaN when the observed log losses are all equal).
    normality: Shapiro-Wilk statistic and p_value, or `skipped` with the reason.
    trends: 'n', 'd', ... and 'prediction' -> slope (r per unit log x), intercept, p_value,
      or `skipped` with the reason.
    budgets: budget label -> (points in that budget,) residuals; empty without budgets.
    budget_log_inputs: budget label -> input name -> the log inputs of the same points.
    significance: level at which warnings are raised.
    warnings: one line per significant test, saying what it means for the form.
  """
  form: str
  log_inputs: dict[str, np.ndarray]
  log_prediction: np.ndarray
  residuals: np.ndarray
  r_squared: float
  normality: dict[str, Any]
  trends: dict[str, dict[str, Any]]
  budgets: dict[str, np.ndarray]
  budget_log_inputs: dict[str, dict[str, np.ndarray]]
  significance: float
  warnings: list[str]

  def to_json(self) -> dict[str, Any]:
    """Every field as JSON-serialisable builtins; non-finite numbers become None."""
    return dict(form=self.form, residual_convention="log(predicted) - log(observed)",
                residuals=atomic.json_safe(self.residuals),
                r_squared=atomic.json_safe(self.r_squared),
                normality=atomic.json_safe(self.normality), trends=atomic.json_safe(self.trends),
                budgets=atomic.json_safe(self.budgets), significance=self.significance,
                warnings=list(self.warnings))


def log_r_squared(log_prediction: np.ndarray, log_loss: np.ndarray) -> float:
  """1 - sum (log pred - log obs)^2 / sum (log obs - mean)^2; NaN when log obs is constant."""
  residuals = np.asarray(log_prediction, np.float64) - np.asarray(log_loss, np.float64)
  spread = float(np.sum((log_loss - np.mean(log_loss))**2))
  return 1 - float(np.sum(residuals**2)) / spread if spread > 0 else math.nan


def _normality(residuals: np.ndarray) -> dict[str, Any]:
  if residuals.size < _MIN_POINTS:
    return dict(test="shapiro", skipped=f"{residuals.size} points; Shapiro-Wilk needs "
                                        f"{_MIN_POINTS}")
  if np.ptp(residuals) == 0:
    return dict(test="shapiro", skipped="all residuals are equal")
  result = scipy.stats.shapiro(residuals)
  return dict(test="shapiro", statistic=float(result.statistic), p_value=float(result.pvalue))


def _trend(x: np.ndarray, residuals: np.ndarray) -> dict[str, Any]:
  if x.size < _MIN_POINTS:
    return dict(test="linregress", skipped=f"{x.size} points; a trend needs {_MIN_POINTS}")
  if np.ptp(x) == 0:
    return dict(test="linregress", skipped="the variable takes a single value")
  result = scipy.stats.linregress(x, residuals)
  return dict(test="linregress", slope=float(result.slope), intercept=float(result.intercept),
              p_value=float(result.pvalue))


def _trend_warning(name: str, trend: Mapping[str, Any], form: forms_lib.Form) -> str:
  numbers = f"slope {trend['slope']:.3g} per unit log, p={trend['p_value']:.2g}"
  if name == "prediction":
    end = "high" if trend["slope"] > 0 else "low"
    return (f"residuals trend with log prediction ({numbers}): the form over-predicts at the "
            f"{end}-loss end; try another form or a robust objective")
  what = _DESCRIPTIONS.get(name, name)
  if name in form.inputs:
    return (f"residuals trend with log {what} ({numbers}): the form misses curvature in "
            f"{name.upper()}")
  return (f"residuals trend with log {what} ({numbers}): the form misses a dependence on "
          f"{name.upper()}; use a form with {name.upper()} in it")


def _budget_label(value: Any) -> str:
  if isinstance(value, (float, np.floating, int, np.integer)):
    return f"{float(value):.3g}"
  return str(value)


def _group_by_budget(budgets, residuals, log_inputs):
  budgets = np.asarray(budgets).reshape(-1)
  if budgets.size != residuals.size:
    raise ValueError(f"budgets has {budgets.size} labels but there are {residuals.size} points")
  numeric = np.issubdtype(budgets.dtype, np.number)
  order = np.argsort(budgets, kind="stable") if numeric else np.arange(budgets.size)
  labels = [_budget_label(budgets[i]) for i in order]
  groups, group_inputs = {}, {}
  for label in dict.fromkeys(labels):
    members = order[np.array([lab == label for lab in labels])]
    groups[label] = residuals[members]
    group_inputs[label] = {k: v[members] for k, v in log_inputs.items()}
  return groups, group_inputs


def diagnose(form: forms_lib.Form, params: Mapping[str, float],
             inputs: Mapping[str, np.ndarray], loss: np.ndarray, *,
             budgets: Sequence[Any] | np.ndarray | None = None) -> Diagnostics:
  """Residual diagnostics of `form` with `params` on observations.

  Args:
    form: the fitted form.
    params: its natural parameters by name (e.g. `FitResult.params`).
    inputs: inputs by name in natural units: the form's own, plus any of n (parameters),
      d (tokens), c (FLOPs), m (tokens per parameter) to test the residuals against.
    loss: observed loss per point, nats/token.
    budgets: optional budget per point (IsoFLOP labels, or FLOPs), to group the residuals.

  Returns:
    Diagnostics with residuals, R^2, normality and trend tests, groups and warnings.
  """
  arrays, loss, _ = fit_lib.check_observations(form, inputs, loss)
  extra = {}
  for name, values in inputs.items():
    if name in arrays:
      continue
    values = np.asarray(values, np.float64).reshape(-1)
    if values.size != loss.size or not np.all(np.isfinite(values) & (values > 0)):
      raise ValueError(f"input '{name}' must be {loss.size} finite values > 0 in natural units")
    extra[name] = values
  log_inputs = {k: np.log(v) for k, v in {**arrays, **extra}.items()}
  log_prediction = np.log(form.predict(params, **arrays))
  residuals = log_prediction - np.log(loss)
  trends = {name: _trend(x, residuals) for name, x in log_inputs.items()}
  trends["prediction"] = _trend(log_prediction, residuals)
  normality = _normality(residuals)
  warnings = [_trend_warning(name, trend, form) for name, trend in trends.items()
              if trend.get("p_value", 1.0) < SIGNIFICANCE]
  if normality.get("p_value", 1.0) < SIGNIFICANCE:
    warnings.append(f"residuals are not normal in log space (Shapiro-Wilk p="
                    f"{normality['p_value']:.2g}): outliers or a misspecified form; inspect "
                    f"the residual plots or fit with a robust objective")
  groups, group_inputs = ({}, {}) if budgets is None else _group_by_budget(
      budgets, residuals, log_inputs)
  return Diagnostics(form=form.name, log_inputs=log_inputs, log_prediction=log_prediction,
                     residuals=residuals, r_squared=log_r_squared(log_prediction, np.log(loss)),
                     normality=normality, trends=trends, budgets=groups,
                     budget_log_inputs=group_inputs, significance=SIGNIFICANCE,
                     warnings=warnings)
