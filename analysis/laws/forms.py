"""Scaling-law forms as data: parameters, inputs, a log-space predictor and a start grid.

A `Form` predicts the loss (nats/token) from named inputs in natural units: `n` (parameters),
`d` (training tokens), `c` (training FLOPs), `m` (tokens per parameter, D / N) and `u` (unique
tokens: the distinct tokens that D repeats over its epochs). The fit
engine works on the log of the loss and on "raw" coordinates: a parameter with `log_scale=True`
(a coefficient such as A) is optimised as its natural log (`log_A`), the others (exponents) as
they are. Each form carries the grid of starting points, in raw coordinates, that the
multi-start fit runs from. A form evaluates its log prediction (`log_predict_raw`) and the
derivatives of it with respect to the raw coordinates (`log_jacobian`, forward mode) for one
parameter vector or a batch of them, e.g. bootstrap refits.

`fix(form, E=1.69)` and `tie(form, "beta", "alpha")` derive forms with fewer free parameters.
The laws themselves (Chinchilla, Kaplan, over-training, ...) are in `analysis.laws.catalogue`.
"""
from collections.abc import Callable, Mapping
import dataclasses
import functools
import itertools

import jax
import jax.numpy as jnp
import numpy as np

INPUT_UNITS = {"n": "parameters", "d": "tokens", "c": "FLOPs", "m": "tokens per parameter",
               "u": "unique tokens"}

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

  def raw_samples(self, samples: Mapping[str, np.ndarray]) -> np.ndarray:
    """Natural values of the free parameters, name -> (S,) samples, as raw rows (S, P).

    Unlike `to_raw` nothing is refused, since refits on resamples may degenerate: a coefficient
    of 0 gives -inf (its term vanishes) and a negative one NaN (its predictions are NaN).
    """
    columns = []
    for parameter in self.parameters:
      values = np.asarray(samples[parameter.name], np.float64).reshape(-1)
      with np.errstate(divide="ignore", invalid="ignore"):
        columns.append(np.log(values) if parameter.log_scale else values)
    return np.stack(columns, axis=1)

  def _raw_array(self, raw: np.ndarray) -> np.ndarray:
    raw = np.asarray(raw, np.float64)
    if raw.ndim not in (1, 2) or raw.shape[-1] != len(self.parameters):
      raise ValueError(f"{self.name}: raw parameters must have shape (P,) or (samples, P) with "
                       f"P = {len(self.parameters)} {self.raw_names}; got {raw.shape}")
    return raw

  def log_predict_raw(self, raw: np.ndarray, inputs: Mapping[str, np.ndarray]) -> np.ndarray:
    """Log predicted loss (natural log of nats/token), float64, for raw parameter vectors.

    Args:
      raw: (P,) or (S, P) in the raw coordinates of the free parameters (`to_raw`,
        `raw_samples`); a log-scale coordinate of -inf is a coefficient of 0.
      inputs: at least this form's inputs, natural units, arrays of one shape. They are not
        validated: an input of +inf gives the limit in which its terms vanish.

    Returns:
      The inputs' shape for one vector, (S,) + that shape for S of them.
    """
    raw = self._raw_array(raw)
    with jax.enable_x64(True):
      arrays = {name: jnp.asarray(inputs[name], jnp.float64) for name in self.inputs}
      ndim = max(values.ndim for values in arrays.values())
      if raw.ndim == 2:  # rows along a new leading axis, each broadcast over the inputs
        arrays = {name: values.reshape((1,) * (ndim + 1 - values.ndim) + values.shape)
                  for name, values in arrays.items()}
      shape = (raw.shape[0],) + (1,) * ndim if raw.ndim == 2 else ()
      raw_dict = {name: jnp.asarray(raw[..., i]).reshape(shape)
                  for i, name in enumerate(self.raw_names)}
      log_inputs = {name: jnp.log(values) for name, values in arrays.items()}
      return np.asarray(self.log_predict(raw_dict, log_inputs), np.float64)

  def log_predict_with_jacobian(self, raw_vector: jax.Array, log_inputs: Mapping[str, jax.Array]
                                ) -> tuple[jax.Array, list[jax.Array]]:
    """The log prediction at one raw vector (P,) and its derivative w.r.t. each raw coordinate.

    Traceable (jit, vmap): one forward-mode product per parameter, so it needs no hand-written
    derivative. Returns the log prediction (shape of the log inputs) and P arrays of that shape,
    in the order of `raw_names`.
    """
    raw = {name: raw_vector[i] for i, name in enumerate(self.raw_names)}
    predict = functools.partial(self.log_predict, log_inputs=log_inputs)
    columns = []
    for name in self.raw_names:
      tangent = {k: jnp.ones_like(v) if k == name else jnp.zeros_like(v) for k, v in raw.items()}
      log_prediction, column = jax.jvp(predict, (raw,), (tangent,))
      columns.append(column)
    return log_prediction, columns

  def log_jacobian(self, raw: np.ndarray, inputs: Mapping[str, np.ndarray]) -> np.ndarray:
    """d log L / d raw coordinate, float64: (points, P) for raw (P,), (S, points, P) for (S, P).

    `inputs` holds at least this form's inputs, natural units, each with one value per point;
    the derivative is that of `log_predict_with_jacobian`.
    """
    raw = self._raw_array(raw)
    with jax.enable_x64(True):
      log_inputs = {name: jnp.log(jnp.asarray(inputs[name], jnp.float64).reshape(-1))
                    for name in self.inputs}

      def rows(raw_vector):
        return jnp.stack(self.log_predict_with_jacobian(raw_vector, log_inputs)[1], axis=-1)

      return np.asarray((jax.vmap(rows) if raw.ndim == 2 else rows)(jnp.asarray(raw)),
                        np.float64)

  def predict(self, params: Mapping[str, float], **inputs: np.ndarray) -> np.ndarray:
    """Predicted loss (nats/token), float64, for natural params and inputs in natural units
    (validated by `check_inputs`)."""
    arrays = self.check_inputs(inputs)
    return np.exp(self.log_predict_raw(self.to_raw(params), arrays))


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


def inputs_for(form: Form, *, n: np.ndarray | None = None, d: np.ndarray | None = None,
               c: np.ndarray | None = None, u: np.ndarray | None = None
               ) -> dict[str, np.ndarray]:
  """The arrays `form` takes, from parameters n, tokens d, FLOPs c and unique tokens u (m = d /
  n, tokens per parameter). Raises ValueError naming an input the form needs but was not given."""
  given = dict(n=n, d=d, c=c, u=u)
  if "u" in form.inputs and u is None:
    raise ValueError(f"{form.name} needs column u (unique tokens per run, which D repeats "
                     "over its epochs) and these runs have none: leave it out of --law and "
                     "--rollout_forms, or fit from Python with inputs_for(..., u=UNIQUE_TOKENS)")
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
