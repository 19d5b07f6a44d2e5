"""The compute-optimal allocation: N_opt(C) parameters and D_opt(C) tokens at a budget C (FLOPs).

One solver serves every form of the catalogue (`optimal_raw`, `optimal_point`): along the
iso-FLOP line C = 6 N D it minimises the form's log loss over the tokens per parameter
M = D / N (N = sqrt(C / 6M), D = M N), for forms of (n, d) or (c, m); for forms of c alone the
loss is the form at C and N, D are not defined (NaN). The search is vectorised over budgets and
over rows of raw parameters (e.g. every bootstrap refit at once) in JAX: a grid of log M over
TOKENS_PER_PARAMETER_RANGE, then bisection on the sign of d log L / d log M (forward mode) in
the grid interval around the best grid point, to float64 precision. An optimum at an end of
the range is reported at that end. For Chinchilla's form this is Hoffmann et al. 2022, Eq. 4:
N_opt = G (C/6)^a, D_opt = G^-1 (C/6)^b, G = (alpha A / (beta B))^(1 / (alpha + beta)),
a = beta / (alpha + beta), b = alpha / (alpha + beta) (tests/analysis/approaches checks it).

Allocations (`Allocation`) come from Approach 3 (`from_chinchilla`), from the power laws
N_opt = k_N C^a and D_opt = k_D C^b of Approaches 1 and 2 (`from_power_laws`) and from the
published laws (`from_published`); their intervals are percentile intervals over bootstrap
samples of the parameters (`bootstrap.percentile_interval`).
"""
from collections.abc import Mapping
import dataclasses
import functools

import jax
import jax.numpy as jnp
import numpy as np

from analysis.fitting import bootstrap as bootstrap_lib
from analysis.laws import catalogue
from analysis.laws import forms as forms_lib
from analysis.laws import powerlaw
from analysis.laws import published

# The search covers tokens per parameter M = D / N in this range.
TOKENS_PER_PARAMETER_RANGE = (1e-8, 1e10)
_GRID_POINTS = 256
# Halvings of the bracket of width 2 x the grid spacing (0.33 in log M): enough to reach the
# float64 resolution of log M.
_BISECTIONS = 64


@dataclasses.dataclass(frozen=True)
class Allocation:
  """N_opt (parameters) and D_opt (tokens) at each budget in `flops` (FLOPs).

  `*_interval` arrays have shape (2, budgets) (low, high at `level`), NaN when not available;
  `ratio_interval` is that of the tokens per parameter D_opt / N_opt.
  `convention` names the N and C conventions the numbers are in. `identifiable` is False when
  the fit behind the allocation is not identifiable (its numbers are then not measurements).
  """
  source: str
  convention: str
  flops: np.ndarray
  n_opt: np.ndarray
  d_opt: np.ndarray
  n_interval: np.ndarray
  d_interval: np.ndarray
  level: float
  ratio_interval: np.ndarray | None = None
  identifiable: bool = True

  @property
  def tokens_per_parameter(self) -> np.ndarray:
    return self.d_opt / self.n_opt

  def rows(self) -> list[dict]:
    """One JSON-able row per budget, with `identifiable` and `n_covered` / `d_covered`: False
    when the bootstrap percentile interval of N_opt (D_opt) leaves out the estimate itself (the
    refits on resampled runs settled elsewhere than the fit on all runs, so the interval is no
    uncertainty around the estimate); True when it holds it or there is no interval."""
    ratio = (self.ratio_interval if self.ratio_interval is not None
             else np.full((2, len(self.flops)), np.nan))
    n_covered = _covers(self.n_opt, self.n_interval)
    d_covered = _covers(self.d_opt, self.d_interval)
    return [dict(source=self.source, convention=self.convention, flops=float(c),
                 n_opt=float(n), n_low=float(self.n_interval[0, i]),
                 n_high=float(self.n_interval[1, i]), d_opt=float(d),
                 d_low=float(self.d_interval[0, i]), d_high=float(self.d_interval[1, i]),
                 tokens_per_parameter=float(d / n), tokens_per_parameter_low=float(ratio[0, i]),
                 tokens_per_parameter_high=float(ratio[1, i]), level=self.level,
                 identifiable=self.identifiable, n_covered=bool(n_covered[i]),
                 d_covered=bool(d_covered[i]))
            for i, (c, n, d) in enumerate(zip(self.flops, self.n_opt, self.d_opt))]


def _allocation_inputs(form: forms_lib.Form, log_flops, log_tokens_per_parameter):
  """Log inputs of `form` at C = 6 N D with D / N = M: N = sqrt(C / 6M), D = M N."""
  log_n = 0.5 * (log_flops - jnp.log(6.0) - log_tokens_per_parameter)
  values = dict(n=log_n, d=log_n + log_tokens_per_parameter, c=log_flops,
                m=log_tokens_per_parameter)
  return {name: values[name] for name in form.inputs}


def _check_allocatable(form: forms_lib.Form) -> None:
  if set(form.inputs) not in ({"n", "d"}, {"c", "m"}, {"c"}):
    raise ValueError(f"{form.name}: inputs {form.inputs} do not define a compute-optimal point; "
                     "use a form of (n, d), (c, m) or (c)")


@functools.cache
def _optimum_search(form: forms_lib.Form):
  """Jitted (raw (S, P), log C (B,)) -> (log M, log loss), each (S, B), for an (n, d)/(c, m) form.

  A grid over log M, then bisection on the sign of the slope d log L / d log M in the bracket
  of one grid spacing either side of the best grid point (all budgets and rows at once).
  """
  grid = jnp.linspace(*np.log(TOKENS_PER_PARAMETER_RANGE), _GRID_POINTS)
  spacing = grid[1] - grid[0]

  def log_loss(raw_columns, log_flops, log_m):
    return form.log_predict(raw_columns, _allocation_inputs(form, log_flops, log_m))

  def run(raw, log_flops):
    raw_columns = {name: raw[:, i][:, None, None] for i, name in enumerate(form.raw_names)}
    values = log_loss(raw_columns, log_flops[None, :, None], grid[None, None, :])
    values = jnp.where(jnp.isfinite(values), values, jnp.inf)
    best = grid[jnp.argmin(values, axis=-1)]
    raw_columns = {name: value[..., 0] for name, value in raw_columns.items()}
    log_flops = log_flops[None, :]

    def slope(log_m):
      return jax.jvp(lambda m: log_loss(raw_columns, log_flops, m), (log_m,),
                     (jnp.ones_like(log_m),))[1]

    def bisect(_, bracket):
      low, high = bracket
      middle = 0.5 * (low + high)
      rising = slope(middle) > 0
      return jnp.where(rising, low, middle), jnp.where(rising, middle, high)

    low, high = jax.lax.fori_loop(0, _BISECTIONS, bisect, (best - spacing, best + spacing))
    log_m = jnp.clip(0.5 * (low + high), grid[0], grid[-1])
    return log_m, log_loss(raw_columns, log_flops, log_m)

  return jax.jit(run)


def optimal_raw(form: forms_lib.Form, raw: np.ndarray, flops: np.ndarray
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
  """Compute-optimal (N_opt, D_opt, loss), each (rows, budgets), for raw rows (rows, P).

  `raw` is in the form's raw coordinates (`forms.Form.to_raw`, `raw_samples`, e.g.
  `BootstrapResult.raw`), `flops` the budgets C in FLOPs; N in parameters, D in tokens under
  C = 6 N D, loss in nats/token. For forms of C alone N and D are NaN. A row whose prediction is
  not finite gives NaN.
  """
  _check_allocatable(form)
  raw = np.asarray(raw, np.float64).reshape(-1, len(form.parameters))
  flops = np.asarray(flops, np.float64).reshape(-1)
  if not np.all(np.isfinite(flops) & (flops > 0)):
    raise ValueError("flops: compute budgets must be finite and > 0 (FLOPs)")
  if set(form.inputs) == {"c"}:
    loss = np.exp(form.log_predict_raw(raw, dict(c=flops)))
    return np.full(loss.shape, np.nan), np.full(loss.shape, np.nan), loss
  with jax.enable_x64(True):
    log_m, log_loss = jax.device_get(_optimum_search(form)(jnp.asarray(raw),
                                                           jnp.log(jnp.asarray(flops))))
  log_m = np.where(np.isfinite(log_loss), log_m, np.nan)
  n_opt = np.sqrt(flops[None] / (6.0 * np.exp(log_m)))
  return n_opt, n_opt * np.exp(log_m), np.exp(log_loss)


def optimal_point(form: forms_lib.Form, params: Mapping[str, float], flops: np.ndarray
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
  """(N_opt parameters, D_opt tokens, loss nats/token) per budget in `flops` (C = 6 N D, FLOPs)
  for natural `params` (at least the form's free parameters); see `optimal_raw`."""
  raw = form.to_raw({name: params[name] for name in form.param_names})
  n_opt, d_opt, loss = optimal_raw(form, raw[None], flops)
  return n_opt[0], d_opt[0], loss[0]


def from_chinchilla(params: Mapping[str, float], flops: np.ndarray, *, source: str,
                    convention: str, samples: Mapping[str, np.ndarray] | None = None,
                    level: float = 0.95, identifiable: bool = True) -> Allocation:
  """Allocation of Chinchilla's L(N, D) from fitted Approach-3 parameters (E, A, B, alpha, beta,
  natural units); intervals from bootstrap `samples` (name -> (S,) values of the same), each
  solved at its own optimum; `identifiable` is the fit's verdict (`trust.identifiability`)."""
  form = catalogue.CHINCHILLA
  flops = np.asarray(flops, dtype=np.float64)
  n_opt, d_opt, _ = optimal_point(form, params, flops)
  n_interval = d_interval = ratio_interval = np.full((2, len(flops)), np.nan)
  if samples is not None:
    n_samples, d_samples, _ = optimal_raw(form, form.raw_samples(samples), flops)
    n_interval, d_interval = _intervals(n_samples, level), _intervals(d_samples, level)
    with np.errstate(invalid="ignore"):  # rows without an optimum give NaN, left out
      ratio_samples = d_samples / n_samples
    ratio_interval = _intervals(ratio_samples, level)
  return Allocation(source, convention, flops, n_opt, d_opt, n_interval, d_interval, level,
                    ratio_interval, identifiable)


def from_power_laws(n_law: powerlaw.PowerLaw, d_law: powerlaw.PowerLaw, flops: np.ndarray, *,
                    source: str, convention: str,
                    samples: dict[str, np.ndarray] | None = None,
                    level: float = 0.95) -> Allocation:
  """Allocation from Approach 1/2 power laws; `samples` holds a, b, n_ and d_coefficient."""
  flops = np.asarray(flops, dtype=np.float64)
  n_interval = d_interval = ratio_interval = np.full((2, len(flops)), np.nan)
  if samples is not None:
    with np.errstate(over="ignore", invalid="ignore"):  # wild resamples give inf, not a crash
      n_samples = samples["n_coefficient"][:, None] * flops[None] ** samples["a"][:, None]
      d_samples = samples["d_coefficient"][:, None] * flops[None] ** samples["b"][:, None]
      ratio_samples = d_samples / n_samples
    n_interval, d_interval = _intervals(n_samples, level), _intervals(d_samples, level)
    ratio_interval = _intervals(ratio_samples, level)
  return Allocation(source, convention, flops, n_law(flops), d_law(flops), n_interval,
                    d_interval, level, ratio_interval)


def from_published(law: published.PublishedLaw, flops: np.ndarray) -> Allocation | None:
  """Allocation implied by a published law under C = 6ND: the solver for Chinchilla-form laws,
  Kaplan et al.'s N_opt(C); None for the others (exponents only, or Kaplan's loss laws, whose
  N is non-embedding)."""
  flops = np.asarray(flops, dtype=np.float64)
  if law.form == "chinchilla":
    n_opt, d_opt, _ = optimal_point(catalogue.CHINCHILLA, law.params, flops)
  elif law.form == "kaplan_compute":
    n_opt = law.params["n_coefficient"] * (flops / published.PETAFLOP_DAY) ** law.a
    d_opt = flops / (6.0 * n_opt)
  else:
    return None
  nan = np.full((2, len(flops)), np.nan)
  n_text = "N non-embedding" if law.n_convention == "non_embedding" else "N total"
  convention = f"{n_text}, C = 6ND"
  return Allocation(law.label, convention, flops, n_opt, d_opt, nan, nan, float("nan"))


def _covers(estimate: np.ndarray, interval: np.ndarray) -> np.ndarray:
  """Per budget: the (2, budgets) `interval` holds `estimate`, or is missing (NaN: no claim)."""
  with np.errstate(invalid="ignore"):
    inside = (interval[0] <= estimate) & (estimate <= interval[1])
  return inside | np.any(np.isnan(interval), axis=0)


def _intervals(samples_SxB: np.ndarray, level: float) -> np.ndarray:
  """(2, budgets): the percentile interval of each budget's samples (a column each)."""
  return np.array(bootstrap_lib.percentile_interval(samples_SxB, level))
