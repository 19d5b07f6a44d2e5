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
  * `OVERTRAINING`: L(C, M) = E + (a M^eta + b M^-eta) C^-eta with M = D / N tokens per
    parameter, Gadre et al. 2024: the Chinchilla form with alpha = beta = 2 eta rewritten in
    C = 6 N D and M, with a = A 6^eta and b = B 6^eta.

`fix(form, E=1.69)` and `tie(form, "beta", "alpha")` derive forms with fewer free parameters;
`FORMS` names every form and `get("chinchilla[beta=alpha,E=1.69]")` builds one from a spec.
New forms are added to `FORMS`, in this module only.
"""
from collections.abc import Callable, Mapping
import dataclasses
import functools
import itertools
import re

import jax
import jax.numpy as jnp
import numpy as np

HOFFMANN_2022 = ("J. Hoffmann et al., Training Compute-Optimal Large Language Models, "
                 "arXiv:2203.15556 (2022)")
BESIROGLU_2024 = ("T. Besiroglu, E. Erdil, M. Barnett, J. You, Chinchilla Scaling: A replication "
                  "attempt, arXiv:2404.10102 (2024)")
KAPLAN_2020 = ("J. Kaplan et al., Scaling Laws for Neural Language Models, "
               "arXiv:2001.08361 (2020)")
GADRE_2024 = ("S. Y. Gadre et al., Language models scale reliably with over-training and on "
              "downstream tasks, arXiv:2403.08540 (2024)")

INPUT_UNITS = {"n": "parameters", "d": "tokens", "c": "FLOPs", "m": "tokens per parameter"}

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

  A form derived by `fix` or `tie` fits only its free parameters (`parameters`, `raw_names`,
  `init_grid`, raw vectors), but speaks in every parameter of its root form: `from_raw` returns
  them all (fixed ones constant, tied ones copied) and `to_raw` / `predict` accept them all.

  Attributes:
    name: short identifier used in outputs, e.g. 'chinchilla' or 'chinchilla[beta=alpha]'.
    formula: the law in words, e.g. 'L(N, D) = E + A/N^alpha + B/D^beta'.
    citation: where the form comes from.
    inputs: names of the inputs, each a key of INPUT_UNITS (natural units).
    parameters: the fitted (free) parameters, in a fixed order.
    log_predict: raw coordinates of the free parameters and log inputs -> log predicted loss;
      written with jnp so that it can be traced, differentiated and vectorised by the fit engine.
    root: for a derived form, the form it was derived from by fixing or tying; else None.
    fixed: (name, natural value) of the root's parameters held constant.
    tied: (name, to) of the root's parameters set equal to another free parameter.
  """
  name: str
  formula: str
  citation: str
  inputs: tuple[str, ...]
  parameters: tuple[Parameter, ...]
  log_predict: LogPredictor
  root: "Form | None" = None
  fixed: tuple[tuple[str, float], ...] = ()
  tied: tuple[tuple[str, str], ...] = ()

  @property
  def param_names(self) -> tuple[str, ...]:
    """Names of the free (fitted) parameters."""
    return tuple(p.name for p in self.parameters)

  @property
  def raw_names(self) -> tuple[str, ...]:
    return tuple(p.raw_name for p in self.parameters)

  @property
  def all_param_names(self) -> tuple[str, ...]:
    """Names of every parameter of the root form, free, fixed and tied."""
    return self.root.param_names if self.root else self.param_names

  def init_grid(self) -> np.ndarray:
    """All starting points (Cartesian product of the grids), raw coordinates, shape (S, P)."""
    return np.array(list(itertools.product(*(p.grid for p in self.parameters))), np.float64)

  def to_raw(self, params: Mapping[str, float]) -> np.ndarray:
    """Natural parameters (dict by name) -> raw coordinate vector of the free ones, shape (P,).

    A log-scale coefficient of 0 maps to -inf: the limit a fit reaches when it drives the term
    to nothing (its log underflows in `from_raw`), e.g. E = 0 inside the default bounds
    [0, min loss]; the prediction is then that of the other terms. Fixed and tied parameters
    may be given too; they must then agree with the form.
    """
    missing = set(self.param_names) - set(params)
    if missing:
      raise ValueError(f"{self.name}: params missing {sorted(missing)}; need {self.param_names}")
    values = []
    for p in self.parameters:
      value = float(params[p.name])
      if p.log_scale and not value >= 0:
        raise ValueError(f"{self.name}: parameter {p.name}={value} must be >= 0 (a positive "
                         "coefficient; 0 where a fit drove its term to nothing)")
      with np.errstate(divide="ignore"):
        values.append(np.log(value) if p.log_scale else value)
    if self.root:
      full = self.from_raw(np.array(values))
      for name in set(params) & set(full):
        if not np.isclose(float(params[name]), full[name], rtol=1e-9, atol=0.0):
          raise ValueError(f"{self.name}: {name}={params[name]} contradicts the form "
                           f"({name} = {full[name]}); pass the free parameters only")
    return np.array(values, np.float64)

  def from_raw(self, raw: np.ndarray) -> dict[str, float]:
    """Raw coordinate vector (P,) -> natural values of every parameter of the root form; a
    log-scale coordinate beyond float64's range (a diverged refit) gives inf."""
    with np.errstate(over="ignore"):
      free = {p.name: float(np.exp(v) if p.log_scale else v)
              for p, v in zip(self.parameters, np.asarray(raw, np.float64))}
    if not self.root:
      return free
    full = {**free, **dict(self.fixed)}
    full.update({name: free[to] for name, to in self.tied})
    return {name: full[name] for name in self.root.param_names}

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
  if x not in _SINGLE_VARIABLE_GRIDS:
    raise ValueError(f"kaplan_single_variable: x={x!r} must be one of "
                     f"{sorted(_SINGLE_VARIABLE_GRIDS)}")
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


def _overtraining_log_predict(raw, log_inputs):
  m_term = raw["eta"] * log_inputs["m"]
  c_term = raw["eta"] * log_inputs["c"]
  scaling = jnp.logaddexp(raw["log_a"] + m_term, raw["log_b"] - m_term) - c_term
  return jnp.logaddexp(scaling, raw["log_E"])


OVERTRAINING = Form(
    name="overtraining",
    formula="L(C, M) = E + (a M^eta + b M^-eta) C^-eta, M = D / N",
    citation=(f"{GADRE_2024}: the Chinchilla form with alpha = beta = 2 eta, C = 6 N D, "
              "a = A 6^eta, b = B 6^eta"),
    inputs=("c", "m"),
    parameters=(
        Parameter("E", True, _LOG_ENTROPY_GRID),
        Parameter("a", True, (0.0, 4.0, 8.0, 12.0, 16.0, 20.0)),
        Parameter("b", True, (0.0, 4.0, 8.0, 12.0, 16.0, 20.0)),
        Parameter("eta", False, (0.05, 0.15, 0.3, 0.5, 1.0)),
    ),
    log_predict=_overtraining_log_predict,
)


def _format_value(value: float) -> str:
  return repr(float(value))


@functools.cache
def _derive(root: Form, fixed: tuple[tuple[str, float], ...],
            tied: tuple[tuple[str, str], ...]) -> Form:
  """The root form with `fixed` parameters held and `tied` ones copied; one object per spec."""
  if not fixed and not tied:
    return root
  constrained = {name for name, _ in fixed} | {name for name, _ in tied}
  by_name = {p.name: p for p in root.parameters}
  fixed_raw = {by_name[name].raw_name: float(np.log(v) if by_name[name].log_scale else v)
               for name, v in fixed}
  tied_raw = {by_name[name].raw_name: by_name[to].raw_name for name, to in tied}

  def log_predict(raw, log_inputs):
    full = dict(raw)
    for raw_name, value in fixed_raw.items():
      full[raw_name] = jnp.asarray(value, jnp.result_type(*raw.values()))
    full.update({raw_name: raw[to] for raw_name, to in tied_raw.items()})
    return root.log_predict(full, log_inputs)

  items = ([f"{name}={to}" for name, to in tied]
           + [f"{name}={_format_value(v)}" for name, v in fixed])
  notes = ([f"{name} = {to}" for name, to in tied]
           + [f"{name} = {_format_value(v)} fixed" for name, v in fixed])
  return Form(
      name=f"{root.name}[{','.join(items)}]",
      formula=f"{root.formula}; with {', '.join(notes)}",
      citation=f"{root.citation}; here with {', '.join(notes)} (not fitted)",
      inputs=root.inputs,
      parameters=tuple(p for p in root.parameters if p.name not in constrained),
      log_predict=log_predict,
      root=root,
      fixed=fixed,
      tied=tied,
  )


def _canonical(root: Form, fixed: Mapping[str, float], tied: Mapping[str, str]) -> Form:
  order = {name: i for i, name in enumerate(root.param_names)}
  return _derive(root, tuple(sorted(fixed.items(), key=lambda item: order[item[0]])),
                 tuple(sorted(tied.items(), key=lambda item: order[item[0]])))


def _require_free(form: Form, name: str, what: str) -> Parameter:
  free = {p.name: p for p in form.parameters}
  if name not in free:
    why = ("is already fixed or tied" if name in form.all_param_names else "is not a parameter")
    raise ValueError(f"{what}: {name!r} {why} in {form.name}; free parameters: "
                     f"{sorted(free)}")
  return free[name]


def fix(form: Form, **values: float) -> Form:
  """`form` with the given parameters held at natural values, e.g. fix(CHINCHILLA, E=1.69).

  Parameters tied to a fixed one are fixed with it. The same call returns the same Form object
  (fits of it share one compiled search).
  """
  if not values:
    raise ValueError(f"fix: name at least one parameter of {form.name} to fix, e.g. E=1.69")
  fixed = dict(form.fixed)
  tied = dict(form.tied)
  for name, value in values.items():
    parameter = _require_free(form, name, "fix")
    try:
      value = float(value)
    except (TypeError, ValueError):
      raise ValueError(f"fix: {name}={value!r} must be a number") from None
    if not np.isfinite(value) or (parameter.log_scale and not value > 0):
      raise ValueError(f"fix: {name}={value} must be finite" +
                       (" and > 0" if parameter.log_scale else ""))
    fixed[name] = value
  for name, to in list(tied.items()):
    if to in values:
      fixed[name] = fixed[to]
      del tied[name]
  if set(form.param_names) <= set(values):
    raise ValueError(f"fix: fixing {sorted(values)} leaves {form.name} nothing to fit; "
                     "leave at least one parameter free")
  return _canonical(form.root or form, fixed, tied)


def tie(form: Form, name: str, to: str) -> Form:
  """`form` with parameter `name` set equal to the free parameter `to`, e.g. tie(CHINCHILLA,
  "beta", "alpha"). Both must be free and of the same kind (both coefficients or both exponents).
  The same call returns the same Form object.
  """
  parameter = _require_free(form, name, "tie")
  target = _require_free(form, to, "tie")
  if name == to:
    raise ValueError(f"tie: cannot tie {name!r} to itself")
  if parameter.log_scale != target.log_scale:
    raise ValueError(f"tie: {name!r} and {to!r} are of different kinds (coefficient vs "
                     "exponent); tie like to like")
  tied = {k: (to if v == name else v) for k, v in form.tied}
  tied[name] = to
  return _canonical(form.root or form, dict(form.fixed), tied)


FORMS: dict[str, Form] = {
    "chinchilla": CHINCHILLA,
    "overtraining": OVERTRAINING,
    "kaplan_nd": KAPLAN_ND,
    **{f"single_variable_{x}": single_variable(x) for x in ("n", "d", "c")},
    **{f"kaplan_{x}": kaplan_single_variable(x) for x in ("n", "d", "c")},
}

_SPEC = re.compile(r"^\s*([A-Za-z0-9_]+)\s*(?:\[(.*)\])?\s*$")


def get(spec: str) -> Form:
  """The form named by `spec`: a key of FORMS, optionally with constraints in brackets.

  "chinchilla", "chinchilla[E=1.69]" (fix E), "chinchilla[beta=alpha]" (tie beta to alpha),
  "chinchilla[beta=alpha,E=1.69]" (several, comma-separated, applied left to right).
  """
  match = _SPEC.match(spec) if isinstance(spec, str) else None
  if not match:
    raise ValueError(f"form spec {spec!r} must look like 'chinchilla' or "
                     "'chinchilla[E=1.69,beta=alpha]'")
  name, constraints = match.groups()
  if name not in FORMS:
    raise ValueError(f"unknown form {name!r}; known forms: {', '.join(FORMS)}")
  form = FORMS[name]
  if constraints is None:
    return form
  for item in constraints.split(","):
    left, equals, right = (part.strip() for part in item.partition("="))
    if not equals or not left or not right:
      raise ValueError(f"form spec {spec!r}: constraint {item.strip()!r} must be name=value "
                       "(fix) or name=other_name (tie)")
    if right in form.all_param_names:
      form = tie(form, left, right)
    else:
      try:
        value = float(right)
      except ValueError:
        raise ValueError(f"form spec {spec!r}: {right!r} is neither a number nor a parameter "
                         f"of {name} {form.all_param_names}") from None
      form = fix(form, **{left: value})
  return form


def inputs_for(form: Form, *, n: np.ndarray | None = None, d: np.ndarray | None = None,
               c: np.ndarray | None = None) -> dict[str, np.ndarray]:
  """The arrays `form` takes, from parameters n, tokens d and FLOPs c (m = d / n, tokens per
  parameter). Raises ValueError naming an input the form needs but was not given."""
  given = dict(n=n, d=d, c=c)
  arrays = {}
  for name in form.inputs:
    needs = ("n", "d") if name == "m" else (name,)
    missing = [x for x in needs if given[x] is None]
    if missing:
      raise ValueError(f"{form.name} takes {name} ({INPUT_UNITS[name]}); pass "
                       f"{' and '.join(f'{x}=' for x in missing)}")
    if name == "m":
      arrays["m"] = np.asarray(d, np.float64) / np.asarray(n, np.float64)
    else:
      arrays[name] = np.asarray(given[name], np.float64)
  return arrays
