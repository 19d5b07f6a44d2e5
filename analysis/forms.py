"""Functional forms of scaling laws, as data: parameters, inputs, log-space predictor, start grid.

A `Form` predicts the loss (nats/token) from named inputs in natural units: `n` (parameters),
`d` (training tokens) and `c` (training FLOPs). The fit engine works on the log of the loss and on
"raw" coordinates: a parameter with `log_scale=True` (a coefficient such as A) is optimised as its
natural log (`log_A`), the others (exponents) as they are. Each form carries the grid of starting
points, in raw coordinates, that the multi-start fit runs from.

Forms defined here:
  * `CHINCHILLA`: L(N, D) = E + A / N^alpha + B / D^beta, Hoffmann et al. 2022 (eq. 2), with the
    start grid of their App. D.2 as implemented by Besiroglu et al. 2024 (4500 starts).
  * `single_variable(x)`: L(X) = E + A X^-alpha for X in n, d, c (a power law with an offset).
  * `kaplan_single_variable(x)`: L(X) = (X_c / X)^alpha_X, Kaplan et al. 2020 eqs. 1.1-1.3.
  * `KAPLAN_ND`: L(N, D) = [(N_c / N)^(alpha_N / alpha_D) + D_c / D]^alpha_D, Kaplan et al. 2020
    eq. 1.5.
"""
from collections.abc import Callable, Mapping
import dataclasses
import functools
import itertools

import jax
import jax.numpy as jnp
import numpy as np

HOFFMANN_2022 = ("J. Hoffmann et al., Training Compute-Optimal Large Language Models, "
                 "arXiv:2203.15556 (2022)")
BESIROGLU_2024 = ("T. Besiroglu, E. Erdil, M. Barnett, J. You, Chinchilla Scaling: A replication "
                  "attempt, arXiv:2404.10102 (2024)")
KAPLAN_2020 = ("J. Kaplan et al., Scaling Laws for Neural Language Models, "
               "arXiv:2001.08361 (2020)")

INPUT_UNITS = {"n": "parameters", "d": "tokens", "c": "FLOPs"}

# Raw coordinates (name -> array) and log inputs (name -> array) -> log loss.
LogPredictor = Callable[[Mapping[str, jax.Array], Mapping[str, jax.Array]], jax.Array]


@dataclasses.dataclass(frozen=True)
class Parameter:
  """One fitted parameter.

  Attributes:
    name: the reported name, e.g. 'A' or 'alpha'.
    log_scale: optimise log(value) instead of the value (positive coefficients).
    grid: starting values in raw coordinates (log(value) when `log_scale`).
  """
  name: str
  log_scale: bool
  grid: tuple[float, ...]

  @property
  def raw_name(self) -> str:
    return f"log_{self.name}" if self.log_scale else self.name


@dataclasses.dataclass(frozen=True, eq=False)
class Form:
  """A scaling-law form: L(inputs; params) in nats/token.

  Attributes:
    name: short identifier used in outputs, e.g. 'chinchilla'.
    formula: the law in words, e.g. 'L(N, D) = E + A/N^alpha + B/D^beta'.
    citation: where the form comes from.
    inputs: names of the inputs, each one of 'n', 'd', 'c' (natural units, see INPUT_UNITS).
    parameters: the fitted parameters, in a fixed order.
    log_predict: raw coordinates and log inputs -> log predicted loss; written with jnp so
      that it can be traced, differentiated and vectorised by the fit engine.
  """
  name: str
  formula: str
  citation: str
  inputs: tuple[str, ...]
  parameters: tuple[Parameter, ...]
  log_predict: LogPredictor

  @property
  def param_names(self) -> tuple[str, ...]:
    return tuple(p.name for p in self.parameters)

  @property
  def raw_names(self) -> tuple[str, ...]:
    return tuple(p.raw_name for p in self.parameters)

  def init_grid(self) -> np.ndarray:
    """All starting points (Cartesian product of the grids), raw coordinates, shape (S, P)."""
    return np.array(list(itertools.product(*(p.grid for p in self.parameters))), np.float64)

  def to_raw(self, params: Mapping[str, float]) -> np.ndarray:
    """Natural parameters (dict by name) -> raw coordinate vector, shape (P,)."""
    missing = set(self.param_names) - set(params)
    if missing:
      raise ValueError(f"{self.name}: params missing {sorted(missing)}; need {self.param_names}")
    values = []
    for p in self.parameters:
      value = float(params[p.name])
      if p.log_scale and not value > 0:
        raise ValueError(f"{self.name}: parameter {p.name}={value} must be > 0")
      values.append(np.log(value) if p.log_scale else value)
    return np.array(values, np.float64)

  def from_raw(self, raw: np.ndarray) -> dict[str, float]:
    """Raw coordinate vector (P,) -> natural parameters by name."""
    return {p.name: float(np.exp(v) if p.log_scale else v)
            for p, v in zip(self.parameters, np.asarray(raw, np.float64))}

  def check_inputs(self, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Validates inputs (names, 1-D, equal lengths, finite, > 0); returns float64 copies."""
    missing = set(self.inputs) - set(inputs)
    if missing:
      raise ValueError(f"{self.name}: inputs missing {sorted(missing)}; the form takes "
                       f"{self.inputs} ({', '.join(INPUT_UNITS[x] for x in self.inputs)})")
    arrays = {k: np.asarray(inputs[k], np.float64).reshape(-1) for k in self.inputs}
    lengths = {k: v.size for k, v in arrays.items()}
    if len(set(lengths.values())) > 1:
      raise ValueError(f"{self.name}: inputs have different lengths {lengths}")
    for k, v in arrays.items():
      if not np.all(np.isfinite(v) & (v > 0)):
        raise ValueError(f"{self.name}: input '{k}' ({INPUT_UNITS[k]}) has non-finite or "
                         f"non-positive values; drop those rows before fitting")
    return arrays

  def predict(self, params: Mapping[str, float], **inputs: np.ndarray) -> np.ndarray:
    """Predicted loss (nats/token), float64, for natural params and inputs in natural units."""
    arrays = self.check_inputs(inputs)
    raw = self.to_raw(params)
    with jax.enable_x64(True):
      raw_dict = {n: jnp.float64(v) for n, v in zip(self.raw_names, raw)}
      log_inputs = {k: jnp.log(jnp.asarray(v, jnp.float64)) for k, v in arrays.items()}
      return np.exp(np.asarray(self.log_predict(raw_dict, log_inputs), np.float64))


_EXPONENT_GRID = (0.0, 0.5, 1.0, 1.5, 2.0)
_LOG_COEFFICIENT_GRID = (0.0, 5.0, 10.0, 15.0, 20.0, 25.0)
_LOG_ENTROPY_GRID = (-1.0, -0.5, 0.0, 0.5, 1.0)


def _chinchilla_log_predict(raw, log_inputs):
  n_term = raw["log_A"] - raw["alpha"] * log_inputs["n"]
  d_term = raw["log_B"] - raw["beta"] * log_inputs["d"]
  return jnp.logaddexp(jnp.logaddexp(n_term, d_term), raw["log_E"])


CHINCHILLA = Form(
    name="chinchilla",
    formula="L(N, D) = E + A / N^alpha + B / D^beta",
    citation=f"{HOFFMANN_2022}, eq. 2 and App. D.2 (start grid as in {BESIROGLU_2024})",
    inputs=("n", "d"),
    parameters=(
        Parameter("E", True, _LOG_ENTROPY_GRID),
        Parameter("A", True, _LOG_COEFFICIENT_GRID),
        Parameter("B", True, _LOG_COEFFICIENT_GRID),
        Parameter("alpha", False, _EXPONENT_GRID),
        Parameter("beta", False, _EXPONENT_GRID),
    ),
    log_predict=_chinchilla_log_predict,
)

# Start grids for log(A) in L(X) = E + A X^-alpha: a start's power-law term exp(log_A - alpha
# log X) spans the data's scale for some exponent in the grid. FLOPs are ~1e15-1e25, so 'c'
# needs larger coefficients and smaller exponents than 'n' and 'd'.
_SINGLE_VARIABLE_GRIDS = {
    "n": (_LOG_COEFFICIENT_GRID, _EXPONENT_GRID),
    "d": (_LOG_COEFFICIENT_GRID, _EXPONENT_GRID),
    "c": ((0.0, 5.0, 10.0, 20.0, 30.0, 40.0), (0.0, 0.05, 0.1, 0.2, 0.4, 0.8)),
}


def _single_variable_log_predict(x: str) -> LogPredictor:
  def log_predict(raw, log_inputs):
    return jnp.logaddexp(raw["log_A"] - raw["alpha"] * log_inputs[x], raw["log_E"])
  return log_predict


@functools.cache
def single_variable(x: str) -> Form:
  """L(X) = E + A X^-alpha for X = 'n' (parameters), 'd' (tokens) or 'c' (FLOPs).

  Cached: the same `x` gives the same Form object, so fits share its compiled search.
  """
  if x not in _SINGLE_VARIABLE_GRIDS:
    raise ValueError(f"single_variable: x={x!r} must be one of {sorted(_SINGLE_VARIABLE_GRIDS)}")
  coefficient_grid, exponent_grid = _SINGLE_VARIABLE_GRIDS[x]
  return Form(
      name=f"single_variable_{x}",
      formula=f"L({x.upper()}) = E + A {x.upper()}^-alpha",
      citation=f"saturating power law, as in {HOFFMANN_2022} (single-variable slices)",
      inputs=(x,),
      parameters=(
          Parameter("E", True, _LOG_ENTROPY_GRID),
          Parameter("A", True, coefficient_grid),
          Parameter("alpha", False, exponent_grid),
      ),
      log_predict=_single_variable_log_predict(x),
  )


def _kaplan_single_variable_log_predict(x: str) -> LogPredictor:
  def log_predict(raw, log_inputs):
    return raw["alpha"] * (raw[f"log_{x.upper()}_c"] - log_inputs[x])
  return log_predict


@functools.cache
def kaplan_single_variable(x: str) -> Form:
  """L(X) = (X_c / X)^alpha, Kaplan et al. 2020 eqs. 1.1 (N), 1.2 (D), 1.3 (C, in their units).

  X_c is in the units of the input (parameters, tokens or FLOPs); Kaplan et al. quote C in
  PF-days and N as non-embedding parameters.
  """
  if x not in INPUT_UNITS:
    raise ValueError(f"kaplan_single_variable: x={x!r} must be one of {sorted(INPUT_UNITS)}")
  return Form(
      name=f"kaplan_{x}",
      formula=f"L({x.upper()}) = ({x.upper()}_c / {x.upper()})^alpha",
      citation=f"{KAPLAN_2020}, eqs. 1.1-1.3",
      inputs=(x,),
      parameters=(
          Parameter(f"{x.upper()}_c", True, (20.0, 30.0, 40.0, 50.0, 60.0)),
          Parameter("alpha", False, (0.02, 0.05, 0.1, 0.2)),
      ),
      log_predict=_kaplan_single_variable_log_predict(x),
  )


def _kaplan_nd_log_predict(raw, log_inputs):
  n_term = (raw["alpha_N"] / raw["alpha_D"]) * (raw["log_N_c"] - log_inputs["n"])
  d_term = raw["log_D_c"] - log_inputs["d"]
  return raw["alpha_D"] * jnp.logaddexp(n_term, d_term)


KAPLAN_ND = Form(
    name="kaplan_nd",
    formula="L(N, D) = [(N_c / N)^(alpha_N / alpha_D) + D_c / D]^alpha_D",
    citation=f"{KAPLAN_2020}, eq. 1.5",
    inputs=("n", "d"),
    parameters=(
        Parameter("N_c", True, (20.0, 25.0, 30.0, 35.0)),
        Parameter("D_c", True, (20.0, 25.0, 30.0, 35.0)),
        Parameter("alpha_N", False, (0.05, 0.1, 0.2, 0.4)),
        Parameter("alpha_D", False, (0.05, 0.1, 0.2, 0.4)),
    ),
    log_predict=_kaplan_nd_log_predict,
)
