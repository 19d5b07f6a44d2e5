"""Next runs: the (N, D) runs that most shrink the uncertainty of the loss at a target compute.

Target. For a compute C (FLOPs, C = 6ND) the target is the log loss at the compute-optimal
point (N*, D*) of the fitted law: the minimiser of L(N, C / (6N)) over N
(`approaches.optimal.optimal_raw`). Write it f(theta) = log L(N*(theta), D*(theta); theta)
with theta the form's raw coordinates (log of coefficients, exponents as they are; see
`forms.Form.to_raw`). Because (N*, D*) minimises the loss along C = 6ND, the shift of the
optimum does not change f to first order (envelope theorem), so its gradient is
g = d log L(N*, D*; theta) / d theta at fixed (N*, D*).

Criterion (linearised, delta method / Fisher information). With J the Jacobian of the observed runs'
log predictions w.r.t. theta at the fit (`forms.Form.log_jacobian`), W their weights and sigma^2 the
log-space noise of one run (the fit's weighted residual variance, or a given seed sd), the
covariance of theta is S = sigma^2 (J^T W J)^+ and the target's log-loss variance is g^T S g. A new
run x with Jacobian row j = d log L(x) / d theta is one more observation of the linear model (weight
1), a rank-one update:

  S' = S - S j j^T S / (sigma^2 + j^T S j),  var' = var - (g^T S j)^2 / (sigma^2 + j^T S j).

Choice. Candidates are a log grid of N crossed with a log grid of tokens per parameter D/N,
each used at most once. A greedy pass picks runs while their cost 6ND fits the remaining
budget, up to `max_runs`, each time the candidate with the largest reduction / cost^p
(default p = 0.5) among those whose leverage h = j^T S j / (sigma^2 + j^T S j) stays below a
cap (default 0.5). A run with h -> 1 alone fixes a direction of the parameters: the fit then
rests on one run that nothing checks, and a bootstrap over runs swings with it. Why these
defaults: on six synthetic Chinchilla grids scored by the width of the bootstrap interval at
the target against random runs of the same budget, the per-FLOP score (p = 1, which fills the
budget with runs at the grid's smallest sizes) lost in 3 of 6 and the absolute score (p = 0,
a few very large runs) in 4 of 6; p = 0.5 lost in 1 of 6 with widths 0.73x random on average
(0.75x without the leverage cap). tests/analysis/design/suggest_test.py checks the defaults.

Limits: the criterion treats the fit as least squares (not the robust objective) and linear
beyond its first order; a fit that is not identifiable (a parameter at a bound, E -> 0) gives
a meaningless Jacobian and is refused when its raw coordinates are not finite. With a small
`max_runs` the p = 0.5 score may stop before the budget is spent (the table shows the FLOPs
used).

Units: N parameters (the convention the fit used), D tokens, C FLOPs, loss nats/token; sds
are of the natural log of the loss (relative sds).
"""
from collections.abc import Mapping, Sequence
import dataclasses
from typing import Any

import numpy as np

from analysis.approaches import optimal
from analysis.laws import forms as forms_lib

# Below this relative reduction of the target variance a candidate is not worth running.
MIN_RELATIVE_REDUCTION = 1e-6


def inputs_at(n: np.ndarray, d: np.ndarray) -> dict[str, np.ndarray]:
  """Every input a form may take at (N, D): n, d, c = 6ND (FLOPs) and m = D/N."""
  n = np.asarray(n, np.float64)
  d = np.asarray(d, np.float64)
  return dict(n=n, d=d, c=6.0 * n * d, m=d / n)


def target_inputs(form: forms_lib.Form, raw: np.ndarray, flops: float) -> dict[str, np.ndarray]:
  """`inputs_at` the compute-optimal (N*, D*) of `flops` (FLOPs) under raw parameters `raw`
  (`optimal.optimal_raw`), one point; N* and D* are NaN for a form of C alone, whose target
  is its loss at C."""
  if not flops > 6.0:
    raise ValueError(f"target_flops={flops} must be > 6 FLOPs (C = 6ND with N, D >= 1)")
  n_opt, d_opt, _ = optimal.optimal_raw(form, raw[None], np.array([flops], np.float64))
  return inputs_at(n_opt[0], d_opt[0]) | dict(c=np.array([flops], np.float64))


def candidate_grid(observed_n: np.ndarray, budget_flops: float, *, n_per_decade: int = 8,
                   tokens_per_param: Sequence[float] = tuple(np.geomspace(1.0, 1024.0, 21))
                   ) -> np.ndarray:
  """(K, 2) candidate (N, D): N log-spaced from the smallest observed N (sizes the sweep
  already builds) up to the largest N whose smallest D/N run fits the budget, crossed with
  `tokens_per_param`; cost <= budget."""
  observed_n = np.asarray(observed_n, np.float64)
  ratios = np.asarray(tokens_per_param, np.float64)
  if ratios.size == 0 or not np.all(ratios > 0):
    raise ValueError("tokens_per_param must be positive D/N ratios")
  n_low = observed_n.min()
  n_high = np.sqrt(budget_flops / (6.0 * ratios.min()))
  if n_high <= n_low:
    raise ValueError(f"budget_flops={budget_flops:.3g} is too small for any run at or above "
                     f"N={n_low:.3g} with D/N >= {ratios.min():g}; raise the budget")
  count = max(2, int(np.ceil(np.log10(n_high / n_low) * n_per_decade)) + 1)
  n_grid = np.geomspace(n_low, n_high, count)
  n, ratio = np.meshgrid(n_grid, ratios, indexing="ij")
  candidates = np.stack([n.ravel(), (n * ratio).ravel()], axis=1)
  return candidates[6.0 * candidates[:, 0] * candidates[:, 1] <= budget_flops]


@dataclasses.dataclass(frozen=True)
class Suggestion:
  """Suggested runs, in the order they were chosen.

  Attributes:
    form: name of the fitted form.
    target_flops, budget_flops: C of the target and the budget B (FLOPs).
    n_opt, d_opt: compute-optimal N (parameters) and D (tokens) at the target under the fit.
    target_loss: predicted loss there (nats/token).
    noise_log_sd: log-space noise of one run assumed for new runs.
    sd_before, sd_after: sd of the target's log loss with the current runs and with all the
      suggested runs added.
    strategy: the greedy pass that won (its score and leverage cap).
    runs: one dict per run: n, d, flops (6ND), tokens_per_param, predicted_loss,
      sd_before and sd_after (the target's log-loss sd before and after adding this run).
  """
  form: str
  target_flops: float
  budget_flops: float
  n_opt: float
  d_opt: float
  target_loss: float
  noise_log_sd: float
  sd_before: float
  sd_after: float
  runs: tuple[dict[str, float], ...]
  strategy: str

  @property
  def points(self) -> tuple[tuple[int, int], ...]:
    """(N, D) of each suggested run, rounded to whole parameters and tokens."""
    return tuple((int(round(r["n"])), int(round(r["d"]))) for r in self.runs)

  @property
  def spent_flops(self) -> float:
    return float(sum(r["flops"] for r in self.runs))

  def table(self) -> str:
    """A plain-text table of the runs with a header naming the target."""
    lines = [
        f"target: C={self.target_flops:.3g} FLOPs, compute-optimal N={self.n_opt:.3g}, "
        f"D={self.d_opt:.3g}, predicted loss {self.target_loss:.4f} nats/token ({self.form})",
        f"budget: {self.budget_flops:.3g} FLOPs, {len(self.runs)} runs use "
        f"{self.spent_flops:.3g} ({self.strategy})",
        f"sd of log loss at the target: {self.sd_before:.4g} -> {self.sd_after:.4g} "
        f"(one run's noise sd {self.noise_log_sd:.3g})",
        f"{'N':>10} {'D':>10} {'C':>10} {'D/N':>8} {'loss':>8} {'sd before':>10} "
        f"{'sd after':>10}"]
    for r in self.runs:
      lines.append(f"{r['n']:>10.4g} {r['d']:>10.4g} {r['flops']:>10.3g} "
                   f"{r['tokens_per_param']:>8.3g} {r['predicted_loss']:>8.4f} "
                   f"{r['sd_before']:>10.4g} {r['sd_after']:>10.4g}")
    return "\n".join(lines)

  def sweep_snippet(self, base_sweep_module: str) -> str:
    """Python source of a sweep config running these points (see `sweep_snippet`)."""
    return sweep_snippet(self.points, base_sweep_module,
                         note=f"target C={self.target_flops:.3g} FLOPs, budget "
                              f"{self.budget_flops:.3g} FLOPs, form {self.form}")

  def to_json(self) -> dict[str, Any]:
    return dataclasses.asdict(self) | dict(runs=[dict(r) for r in self.runs])


def module_name(base_sweep: str) -> str:
  """'configs/sweeps/tiny.py' or 'configs.sweeps.tiny' -> 'configs.sweeps.tiny'."""
  name = base_sweep[:-3] if base_sweep.endswith(".py") else base_sweep
  name = name.replace("/", ".").strip(".")
  if not name or not all(part.isidentifier() for part in name.split(".")):
    raise ValueError(f"base_sweep={base_sweep!r}: give a sweep module such as "
                     "configs/sweeps/tiny.py or configs.sweeps.tiny")
  return name


def sweep_snippet(points: Sequence[tuple[int, int]], base_sweep: str, note: str = "") -> str:
  """Source of a sweep config: `base_sweep` (a module path such as configs/sweeps/tiny.py,
  relative to the repository root) with `grid.kind = "points"` and these (N, tokens) points,
  N being target non-embedding parameter counts. Launch it from the repository root with
  `python -m scaling --config=FILE --workdir=SWEEP`."""
  if not points:
    raise ValueError("sweep_snippet: no points; the budget allowed no run")
  module = module_name(base_sweep)
  package, _, leaf = module.rpartition(".")
  importer = f"from {package} import {leaf} as base_sweep" if package else (
      f"import {leaf} as base_sweep")
  rows = "".join(f"      ({int(n)}, {int(d)}),\n" for n, d in points)
  return ('"""Runs suggested by `python -m analysis suggest`.\n\n'
          f"{note}.\n(target non-embedding params, tokens) per run, on top of {module}.\n"
          f'"""\n{importer}\n\n\n'
          "def get_config(arg=None):\n"
          "  sweep = base_sweep.get_config(arg)\n"
          '  sweep.name = "suggested"\n'
          '  sweep.grid.update(kind="points", points=(\n'
          f"{rows}"
          "  ))\n"
          "  return sweep\n")


def _greedy(rows: np.ndarray, cost: np.ndarray, gradient: np.ndarray, covariance: np.ndarray,
            noise_var: float, budget: float, max_runs: int, cost_power: float,
            max_leverage: float) -> tuple[list[int], list[float]]:
  """Greedy rank-one updates; returns chosen candidate indices and the variance after each."""
  variance = float(gradient @ covariance @ gradient)
  remaining, available = budget, np.ones(len(cost), bool)
  chosen, variances = [], []
  while len(chosen) < max_runs:
    feasible = available & (cost <= remaining)
    if not np.any(feasible):
      break
    projected = rows @ covariance                      # (K, P): S j for each candidate
    cross = projected @ gradient                       # g^T S j
    spread = np.einsum("kp,kp->k", projected, rows)    # j^T S j
    feasible &= spread / (noise_var + spread) <= max_leverage
    reduction = np.where(feasible, cross**2 / (noise_var + spread), -np.inf)
    best = int(np.argmax(reduction / cost**cost_power))
    if not reduction[best] > MIN_RELATIVE_REDUCTION * variance:
      break
    covariance = covariance - np.outer(projected[best], projected[best]) / (
        noise_var + spread[best])
    variance = float(gradient @ covariance @ gradient)
    chosen.append(best)
    variances.append(max(variance, 0.0))
    remaining -= cost[best]
    available[best] = False
  return chosen, variances


def suggest(form: forms_lib.Form, params: Mapping[str, float], n: np.ndarray, d: np.ndarray,
            loss: np.ndarray, *, target_flops: float, budget_flops: float,
            weights: np.ndarray | None = None, noise_log_sd: float | None = None,
            candidates: np.ndarray | None = None, max_runs: int = 64, cost_power: float = 0.5,
            max_leverage: float = 0.5) -> Suggestion:
  """Greedy choice of runs within `budget_flops` that most shrink the target's variance.

  Args:
    form: the fitted form (inputs among n, d, c = 6ND, m = D/N).
    params: its fitted parameters, natural units (`FitResult.params`).
    n, d, loss: the observed runs: parameters, tokens, loss (nats/token).
    target_flops: C (FLOPs) whose compute-optimal loss is the target.
    budget_flops: total cost 6ND (FLOPs) the suggested runs may use.
    weights: the fit's observation weights (default ones); new runs count with weight 1.
    noise_log_sd: sd of one run's log loss (e.g. the pooled seed sd of `seeds.aggregate`);
      default the residual sd of the fit, sqrt(sum w r^2 / (points - P)).
    candidates: (K, 2) candidate (N, D); default `candidate_grid(n, budget_flops)`.
    max_runs: at most this many runs are suggested.
    cost_power: the greedy score is variance reduction / cost^cost_power (1: per FLOP,
      0: absolute).
    max_leverage: a candidate whose leverage would exceed this is skipped (in (0, 1]).

  Returns:
    Suggestion with the chosen runs and the target's sd before and after.
  """
  if max_runs < 1:
    raise ValueError(f"max_runs={max_runs} must be >= 1")
  if not 0 < max_leverage <= 1:
    raise ValueError(f"max_leverage={max_leverage} must be in (0, 1]")
  if not budget_flops > 0:
    raise ValueError(f"budget_flops={budget_flops} must be > 0 (total 6ND of the new runs)")
  n, d, loss = (np.asarray(x, np.float64).reshape(-1) for x in (n, d, loss))
  weights = np.ones(loss.size) if weights is None else np.asarray(weights, np.float64)
  if not n.size == d.size == loss.size == weights.size:
    raise ValueError(f"n, d, loss and weights must have equal lengths; got {n.size}, {d.size}, "
                     f"{loss.size}, {weights.size}")
  if not np.all(np.isfinite(n) & (n > 0) & np.isfinite(d) & (d > 0)):
    raise ValueError("n (parameters) and d (tokens) must be finite and > 0 for every run")
  arrays = inputs_at(n, d)
  try:
    raw = form.to_raw(params)
  except ValueError as error:
    raise ValueError(f"suggest: the fit is degenerate ({error}); its Jacobian means nothing, "
                     "so widen the grid (more D/N, larger N) and refit first") from error
  if not np.all(np.isfinite(raw)):
    raise ValueError(f"suggest: the fit is degenerate (a coefficient fitted to 0, or a "
                     f"non-finite parameter: {dict(params)}); its Jacobian means nothing, so "
                     "widen the grid (more D/N, larger N) and refit first")
  residuals = form.log_predict_raw(raw, arrays) - np.log(loss)
  if noise_log_sd is None:
    dof = max(int(np.sum(weights > 0)) - len(form.parameters), 1)
    noise_log_sd = float(np.sqrt(np.sum(weights * residuals**2) / dof))
  if not noise_log_sd > 0:
    raise ValueError(f"noise_log_sd={noise_log_sd} must be > 0 (sd of one run's log loss)")
  noise_var = noise_log_sd**2
  rows = form.log_jacobian(raw, arrays)
  covariance = noise_var * np.linalg.pinv(rows.T @ (weights[:, None] * rows), hermitian=True)
  target = target_inputs(form, raw, target_flops)
  gradient = form.log_jacobian(raw, target)[0]
  if candidates is None:
    candidates = candidate_grid(arrays["n"], budget_flops)
  candidates = np.asarray(candidates, np.float64).reshape(-1, 2)
  candidate_inputs = inputs_at(candidates[:, 0], candidates[:, 1])
  rows = form.log_jacobian(raw, candidate_inputs)
  cost = candidate_inputs["c"]
  predicted = np.exp(form.log_predict_raw(raw, candidate_inputs))
  sd_before = float(np.sqrt(max(gradient @ covariance @ gradient, 0.0)))
  chosen, variances = _greedy(rows, cost, gradient, covariance, noise_var, float(budget_flops),
                              max_runs, cost_power, max_leverage)
  sds = [sd_before] + [float(np.sqrt(v)) for v in variances]
  runs = tuple(dict(n=float(candidates[k, 0]), d=float(candidates[k, 1]), flops=float(cost[k]),
                    tokens_per_param=float(candidates[k, 1] / candidates[k, 0]),
                    predicted_loss=float(predicted[k]), sd_before=sds[i], sd_after=sds[i + 1])
               for i, k in enumerate(chosen))
  target_loss = float(np.exp(form.log_predict_raw(raw, target)[0]))
  return Suggestion(form=form.name, target_flops=float(target_flops),
                    budget_flops=float(budget_flops), n_opt=float(target["n"][0]),
                    d_opt=float(target["d"][0]),
                    target_loss=target_loss, noise_log_sd=float(noise_log_sd),
                    sd_before=sd_before, sd_after=sds[-1], runs=runs,
                    strategy=f"reduction / FLOPs^{cost_power:g}, leverage <= {max_leverage:g}")
