"""The catalogue of scaling-law forms (`forms.Form`), each with its citation and start grid.

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
  * `INTERACTION`: L(N, D) = E + A / N^alpha + B / D^beta + G / (N^alpha D^beta), Chinchilla's
    form with an N-D interaction term (G = 0 is Chinchilla).
  * `DATA_CONSTRAINED`: L(N, D, U) = E + A / N'^alpha + B / D'^beta with the effective data D'
    and parameters N' of repeated epochs over U unique tokens, Muennighoff et al. 2023 (eq. 5).

`FORMS` names every form and `get("chinchilla[beta=alpha,E=1.69]")` builds one from a spec
(constraints by `forms.fix` and `forms.tie`). New forms are added to `FORMS`, in this module
only. N is in parameters, D in tokens, C in FLOPs, the loss in nats/token.
"""
import functools
import re

import jax.numpy as jnp

from analysis.laws import forms

HOFFMANN_2022 = ("J. Hoffmann et al., Training Compute-Optimal Large Language Models, "
                 "arXiv:2203.15556 (2022)")
BESIROGLU_2024 = ("T. Besiroglu, E. Erdil, M. Barnett, J. You, Chinchilla Scaling: A replication "
                  "attempt, arXiv:2404.10102 (2024)")
KAPLAN_2020 = ("J. Kaplan et al., Scaling Laws for Neural Language Models, "
               "arXiv:2001.08361 (2020)")
GADRE_2024 = ("S. Y. Gadre et al., Language models scale reliably with over-training and on "
              "downstream tasks, arXiv:2403.08540 (2024)")
MUENNIGHOFF_2023 = ("N. Muennighoff et al., Scaling Data-Constrained Language Models, NeurIPS "
                    "2023, arXiv:2305.16264")

_EXPONENT_GRID = (0.0, 0.5, 1.0, 1.5, 2.0)
_LOG_COEFFICIENT_GRID = (0.0, 5.0, 10.0, 15.0, 20.0, 25.0)
_LOG_ENTROPY_GRID = (-1.0, -0.5, 0.0, 0.5, 1.0)


def _chinchilla_log_predict(raw, log_inputs):
  n_term = raw["log_A"] - raw["alpha"] * log_inputs["n"]
  d_term = raw["log_B"] - raw["beta"] * log_inputs["d"]
  return jnp.logaddexp(jnp.logaddexp(n_term, d_term), raw["log_E"])


CHINCHILLA = forms.Form(
    name="chinchilla",
    formula="L(N, D) = E + A / N^alpha + B / D^beta",
    citation=f"{HOFFMANN_2022}, eq. 2 and App. D.2 (start grid as in {BESIROGLU_2024})",
    inputs=("n", "d"),
    parameters=(
        forms.Parameter("E", True, _LOG_ENTROPY_GRID),
        forms.Parameter("A", True, _LOG_COEFFICIENT_GRID),
        forms.Parameter("B", True, _LOG_COEFFICIENT_GRID),
        forms.Parameter("alpha", False, _EXPONENT_GRID),
        forms.Parameter("beta", False, _EXPONENT_GRID),
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


def _single_variable_log_predict(x: str) -> forms.LogPredictor:
  def log_predict(raw, log_inputs):
    return jnp.logaddexp(raw["log_A"] - raw["alpha"] * log_inputs[x], raw["log_E"])
  return log_predict


@functools.cache
def single_variable(x: str) -> forms.Form:
  """L(X) = E + A X^-alpha for X = 'n' (parameters), 'd' (tokens) or 'c' (FLOPs).

  Cached: the same `x` gives the same Form object, so fits share its compiled search.
  """
  if x not in _SINGLE_VARIABLE_GRIDS:
    raise ValueError(f"single_variable: x={x!r} must be one of {sorted(_SINGLE_VARIABLE_GRIDS)}")
  coefficient_grid, exponent_grid = _SINGLE_VARIABLE_GRIDS[x]
  return forms.Form(
      name=f"single_variable_{x}",
      formula=f"L({x.upper()}) = E + A {x.upper()}^-alpha",
      citation=f"saturating power law, as in {HOFFMANN_2022} (single-variable slices)",
      inputs=(x,),
      parameters=(
          forms.Parameter("E", True, _LOG_ENTROPY_GRID),
          forms.Parameter("A", True, coefficient_grid),
          forms.Parameter("alpha", False, exponent_grid),
      ),
      log_predict=_single_variable_log_predict(x),
  )


def _kaplan_single_variable_log_predict(x: str) -> forms.LogPredictor:
  def log_predict(raw, log_inputs):
    return raw[f"alpha_{x.upper()}"] * (raw[f"log_{x.upper()}_c"] - log_inputs[x])
  return log_predict


@functools.cache
def kaplan_single_variable(x: str) -> forms.Form:
  """L(X) = (X_c / X)^alpha_X, Kaplan et al. 2020 eqs. 1.1 (N), 1.2 (D), 1.3 (C, in their
  units), with their names for the constants (N_c and alpha_N for X = N).

  X_c is in the units of the input (parameters, tokens or FLOPs); Kaplan et al. quote C in
  PF-days and N as non-embedding parameters.
  """
  if x not in _SINGLE_VARIABLE_GRIDS:
    raise ValueError(f"kaplan_single_variable: x={x!r} must be one of "
                     f"{sorted(_SINGLE_VARIABLE_GRIDS)}")
  name = x.upper()
  return forms.Form(
      name=f"kaplan_{x}",
      formula=f"L({name}) = ({name}_c / {name})^alpha_{name}",
      citation=f"{KAPLAN_2020}, eqs. 1.1-1.3",
      inputs=(x,),
      parameters=(
          forms.Parameter(f"{name}_c", True, (20.0, 30.0, 40.0, 50.0, 60.0)),
          forms.Parameter(f"alpha_{name}", False, (0.02, 0.05, 0.1, 0.2)),
      ),
      log_predict=_kaplan_single_variable_log_predict(x),
  )


def _kaplan_nd_log_predict(raw, log_inputs):
  n_term = (raw["alpha_N"] / raw["alpha_D"]) * (raw["log_N_c"] - log_inputs["n"])
  d_term = raw["log_D_c"] - log_inputs["d"]
  return raw["alpha_D"] * jnp.logaddexp(n_term, d_term)


KAPLAN_ND = forms.Form(
    name="kaplan_nd",
    formula="L(N, D) = [(N_c / N)^(alpha_N / alpha_D) + D_c / D]^alpha_D",
    citation=f"{KAPLAN_2020}, eq. 1.5",
    inputs=("n", "d"),
    parameters=(
        forms.Parameter("N_c", True, (20.0, 25.0, 30.0, 35.0)),
        forms.Parameter("D_c", True, (20.0, 25.0, 30.0, 35.0)),
        forms.Parameter("alpha_N", False, (0.05, 0.1, 0.2, 0.4)),
        forms.Parameter("alpha_D", False, (0.05, 0.1, 0.2, 0.4)),
    ),
    log_predict=_kaplan_nd_log_predict,
)


def _overtraining_log_predict(raw, log_inputs):
  m_term = raw["eta"] * log_inputs["m"]
  c_term = raw["eta"] * log_inputs["c"]
  scaling = jnp.logaddexp(raw["log_a"] + m_term, raw["log_b"] - m_term) - c_term
  return jnp.logaddexp(scaling, raw["log_E"])


OVERTRAINING = forms.Form(
    name="overtraining",
    formula="L(C, M) = E + (a M^eta + b M^-eta) C^-eta, M = D / N",
    citation=(f"{GADRE_2024}: the Chinchilla form with alpha = beta = 2 eta, C = 6 N D, "
              "a = A 6^eta, b = B 6^eta"),
    inputs=("c", "m"),
    parameters=(
        forms.Parameter("E", True, _LOG_ENTROPY_GRID),
        forms.Parameter("a", True, (0.0, 4.0, 8.0, 12.0, 16.0, 20.0)),
        forms.Parameter("b", True, (0.0, 4.0, 8.0, 12.0, 16.0, 20.0)),
        forms.Parameter("eta", False, (0.05, 0.15, 0.3, 0.5, 1.0)),
    ),
    log_predict=_overtraining_log_predict,
)


def _interaction_log_predict(raw, log_inputs):
  n_term = raw["log_A"] - raw["alpha"] * log_inputs["n"]
  d_term = raw["log_B"] - raw["beta"] * log_inputs["d"]
  product = raw["log_G"] - raw["alpha"] * log_inputs["n"] - raw["beta"] * log_inputs["d"]
  return jnp.logaddexp(jnp.logaddexp(n_term, d_term), jnp.logaddexp(product, raw["log_E"]))


INTERACTION = forms.Form(
    name="interaction",
    formula="L(N, D) = E + A / N^alpha + B / D^beta + G / (N^alpha D^beta)",
    citation=(f"{HOFFMANN_2022}, eq. 2, with a product term G / (N^alpha D^beta) coupling N and "
              "D (G >= 0; G = 0 is Chinchilla)"),
    inputs=("n", "d"),
    parameters=CHINCHILLA.parameters + (forms.Parameter("G", True, _LOG_COEFFICIENT_GRID),),
    log_predict=_interaction_log_predict,
)

# Smallest exponent used in the Chinchilla-optimal N of U unique tokens: exponents may reach
# their lower bound 0, where the optimum (a ratio of exponents) is undefined.
_MIN_EXPONENT = 1e-6


def _log_effective(log_unique, log_total, log_r_star):
  """log X' = log(U + U R* (1 - exp(-R / R*))) with R = X / U - 1 repetitions (U <= X)."""
  repeats = jnp.expm1(log_total - log_unique)
  r_star = jnp.exp(log_r_star)
  return log_unique + jnp.log1p(-r_star * jnp.expm1(-repeats / r_star))


def _data_constrained_log_predict(raw, log_inputs):
  log_unique = jnp.minimum(log_inputs["u"], log_inputs["d"])  # U > D: only D of U were seen
  alpha = jnp.maximum(raw["alpha"], _MIN_EXPONENT)
  beta = jnp.maximum(raw["beta"], _MIN_EXPONENT)
  # Chinchilla-optimal N for D = U tokens under C = 6ND: G (G U)^(beta / alpha), with
  # G = (alpha A / (beta B))^(1 / (alpha + beta)).
  log_g = (jnp.log(alpha) + raw["log_A"] - jnp.log(beta) - raw["log_B"]) / (alpha + beta)
  log_n_unique = log_g + (beta / alpha) * (log_g + log_unique)
  log_n_unique = jnp.minimum(log_n_unique, log_inputs["n"])
  log_n = _log_effective(log_n_unique, log_inputs["n"], raw["log_R_N_star"])
  log_d = _log_effective(log_unique, log_inputs["d"], raw["log_R_D_star"])
  n_term = raw["log_A"] - raw["alpha"] * log_n
  d_term = raw["log_B"] - raw["beta"] * log_d
  return jnp.logaddexp(jnp.logaddexp(n_term, d_term), raw["log_E"])


# Muennighoff et al. 2023, eq. 5: Chinchilla's law in effective parameters N' and data D',
#   D' = U_D + U_D R*_D (1 - exp(-R_D / R*_D)),  R_D = D / U_D - 1 (repeated epochs, >= 0),
#   N' = U_N + U_N R*_N (1 - exp(-R_N / R*_N)),  R_N = N / U_N - 1,
# with U_D = u unique tokens and, as in the paper, U_N = min(N, N_opt(U_D)) unique parameters:
# the Chinchilla-optimal size for U_D tokens under the law's own A, B, alpha, beta. A token
# repeated R_D times is worth R*_D (1 - exp(-R_D / R*_D)) fresh ones, saturating at R*_D; so
# u = d (one epoch) and N <= N_opt(u) give Chinchilla exactly, and d -> inf gives
# D' -> U_D (1 + R*_D).
DATA_CONSTRAINED = forms.Form(
    name="data_constrained",
    formula=("L(N, D, U) = E + A / N'^alpha + B / D'^beta; D' = U (1 + R_D_star (1 - "
             "exp(-(D/U - 1) / R_D_star))), N' = U_N (1 + R_N_star (1 - exp(-(N/U_N - 1) / "
             "R_N_star))), U_N = min(N, Chinchilla-optimal N for U tokens)"),
    citation=(f"{MUENNIGHOFF_2023}, eq. 5 with the effective data and parameters of Sec. 3.1 "
              "(R_D_star, R_N_star are their R*_D, R*_N)"),
    inputs=("n", "d", "u"),
    parameters=(
        forms.Parameter("E", True, (0.0, 0.5, 1.0)),
        forms.Parameter("A", True, (0.0, 5.0, 10.0, 15.0)),
        forms.Parameter("B", True, (0.0, 5.0, 10.0, 15.0)),
        forms.Parameter("alpha", False, (0.2, 0.5, 1.0)),
        forms.Parameter("beta", False, (0.2, 0.5, 1.0)),
        forms.Parameter("R_D_star", True, (1.0, 2.5, 4.0)),
        forms.Parameter("R_N_star", True, (0.0, 1.5, 3.0)),
    ),
    log_predict=_data_constrained_log_predict,
)


FORMS: dict[str, forms.Form] = {
    "chinchilla": CHINCHILLA,
    "overtraining": OVERTRAINING,
    "kaplan_nd": KAPLAN_ND,
    "interaction": INTERACTION,
    "data_constrained": DATA_CONSTRAINED,
    **{f"single_variable_{x}": single_variable(x) for x in ("n", "d", "c")},
    **{f"kaplan_{x}": kaplan_single_variable(x) for x in ("n", "d", "c")},
}

_SPEC = re.compile(r"^\s*([A-Za-z0-9_]+)\s*(?:\[(.*)\])?\s*$")


def get(spec: str) -> forms.Form:
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
      form = forms.tie(form, left, right)
    else:
      try:
        value = float(right)
      except ValueError:
        raise ValueError(f"form spec {spec!r}: {right!r} is neither a number nor a parameter "
                         f"of {name} {form.all_param_names}") from None
      form = forms.fix(form, **{left: value})
  return form
