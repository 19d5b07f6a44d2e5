"""Published scaling laws as data, each with its citation and conventions.

A law is a form and its constants: `form` is a key of `catalogue.FORMS` and `params` the form's
parameters in natural units, so its loss is the form's prediction (`PublishedLaw.loss`). Two
kinds state no loss law:
  'kaplan_compute': N_opt = n_coefficient * (C / PF-day)^a  (Kaplan et al. 2020, Fig. 14);
  'exponents': only the compute-optimal exponents a (N_opt ~ C^a) and b (D_opt ~ C^b).

Losses are in nats/token on each paper's own data and tokenizer, so absolute losses are not
comparable across papers (or with our runs); exponents and allocations are. Parameters N: the
`n_convention` of each law; compute C in FLOPs unless stated.
"""
import dataclasses

import numpy as np

from analysis.laws import catalogue
from analysis.laws import forms

PETAFLOP_DAY = 1e15 * 24 * 3600  # FLOPs in one PF-day (Kaplan et al.'s compute unit)

ALLOCATION_KINDS = ("kaplan_compute", "exponents")


@dataclasses.dataclass(frozen=True)
class PublishedLaw:
  """One published law: constants, where they were read, and the conventions they assume.

  `form`: a key of `catalogue.FORMS` (then `params` are that form's parameters) or one of
  ALLOCATION_KINDS; `a`, `b`: compute-optimal exponents (N_opt ~ C^a, D_opt ~ C^b); `ci`:
  published intervals {name: (low, high)} at `ci_level`, where given.
  """
  key: str
  label: str
  citation: str
  source: str
  form: str
  params: dict[str, float]
  a: float
  b: float
  n_convention: str
  c_convention: str
  ci: dict[str, tuple[float, float]] = dataclasses.field(default_factory=dict)
  ci_level: float = 0.0

  def __post_init__(self):
    if self.form not in catalogue.FORMS and self.form not in ALLOCATION_KINDS:
      raise ValueError(f"published law {self.key!r}: form {self.form!r} is neither a form of "
                       f"the catalogue ({', '.join(catalogue.FORMS)}) nor one of "
                       f"{ALLOCATION_KINDS}")

  def law_form(self) -> forms.Form | None:
    """The law's form from the catalogue; None when it states compute-optimal exponents or an
    allocation only."""
    return catalogue.FORMS.get(self.form)

  def loss(self, n: np.ndarray | float | None = None, d: np.ndarray | float | None = None,
           u: np.ndarray | float | None = None) -> np.ndarray:
    """Predicted loss (nats/token, the paper's data) at N parameters, D tokens and, for the
    data-constrained law, U unique tokens: the form's prediction; D = inf is the limit of
    unlimited data."""
    form = self.law_form()
    if form is None:
      raise ValueError(f"published law {self.key!r} ({self.form}) gives no loss; it states "
                       "compute-optimal exponents only")
    return np.exp(form.log_predict_raw(form.to_raw(self.params),
                                       forms.inputs_for(form, n=n, d=d, u=u)))

  def to_json(self) -> dict:
    return dict(label=self.label, citation=self.citation, source=self.source, form=self.form,
                params=self.params, a=self.a, b=self.b, n_convention=self.n_convention,
                c_convention=self.c_convention, ci={k: list(v) for k, v in self.ci.items()},
                ci_level=self.ci_level)


def _chinchilla_exponents(alpha: float, beta: float) -> tuple[float, float]:
  return beta / (alpha + beta), alpha / (alpha + beta)


_HOFFMANN_ROUNDED = dict(E=1.69, A=406.4, B=410.7, alpha=0.34, beta=0.28)
_HOFFMANN_UNROUNDED = dict(E=float(np.exp(0.5267228)), A=float(np.exp(6.0073404)),
                           B=float(np.exp(6.0179186)), alpha=0.33917084, beta=0.2849083)
_BESIROGLU = dict(E=1.82, A=482.01, B=2085.43, alpha=0.348, beta=0.366)
_BESIROGLU_REPLICATE = dict(E=1.8172, A=477.84, B=2143.86, alpha=0.3473, beta=0.3672)
# Muennighoff et al. 2023's fit of eq. 5 as the authors gave it (huggingface/datablations issue
# #9, quoted in shared/data/README.md): log A, log B, log E and the exponents (alpha = beta).
_MUENNIGHOFF = dict(E=float(np.exp(0.6254804)), A=float(np.exp(6.255414)),
                    B=float(np.exp(7.3049974)), alpha=0.3526596, beta=0.3526596,
                    R_D_star=15.387756, R_N_star=5.309743)

LAWS: dict[str, PublishedLaw] = {law.key: law for law in (
    PublishedLaw(
        "kaplan2020_n", "Kaplan et al. 2020, L(N)", catalogue.KAPLAN_2020, "Eq. 1.1",
        "kaplan_n", dict(alpha_N=0.076, N_c=8.8e13), a=0.73, b=0.27,
        n_convention="non_embedding", c_convention="6nd"),
    PublishedLaw(
        "kaplan2020_d", "Kaplan et al. 2020, L(D)", catalogue.KAPLAN_2020, "Eq. 1.2",
        "kaplan_d", dict(alpha_D=0.095, D_c=5.4e13), a=0.73, b=0.27,
        n_convention="non_embedding", c_convention="6nd"),
    PublishedLaw(
        "kaplan2020_nd", "Kaplan et al. 2020, L(N, D)", catalogue.KAPLAN_2020,
        "Eq. 1.5 with the fitted constants of Sec. 4", "kaplan_nd",
        dict(alpha_N=0.076, alpha_D=0.103, N_c=6.4e13, D_c=1.8e13), a=0.73, b=0.27,
        n_convention="non_embedding", c_convention="6nd"),
    PublishedLaw(
        "kaplan2020_compute", "Kaplan et al. 2020, N_opt(C)", catalogue.KAPLAN_2020,
        "Sec. 6, Fig. 14 (C in PF-days, C = 6ND with non-embedding N)", "kaplan_compute",
        dict(n_coefficient=1.3e9), a=0.73, b=0.27, n_convention="non_embedding",
        c_convention="6nd"),
    PublishedLaw(
        "hoffmann2022_approach1", "Hoffmann et al. 2022, Approach 1", catalogue.HOFFMANN_2022,
        "Table 2, minimum over training curves (10th-90th percentile intervals)", "exponents",
        {}, a=0.50, b=0.50,
        n_convention="total", c_convention="6nd",
        ci=dict(a=(0.488, 0.502), b=(0.501, 0.512)), ci_level=0.8),
    PublishedLaw(
        "hoffmann2022_approach2", "Hoffmann et al. 2022, Approach 2", catalogue.HOFFMANN_2022,
        "Table 2, IsoFLOP profiles (10th-90th percentile intervals)", "exponents", {},
        a=0.49, b=0.51,
        n_convention="total", c_convention="6nd",
        ci=dict(a=(0.462, 0.534), b=(0.483, 0.529)), ci_level=0.8),
    PublishedLaw(
        "hoffmann2022_approach3_rounded", "Hoffmann et al. 2022, Approach 3 (rounded)",
        catalogue.HOFFMANN_2022, "Eq. 10 constants; a, b intervals from Table 2",
        "chinchilla", _HOFFMANN_ROUNDED, *_chinchilla_exponents(0.34, 0.28),
        n_convention="total", c_convention="6nd", ci=dict(a=(0.454, 0.455), b=(0.542, 0.543)),
        ci_level=0.8),
    PublishedLaw(
        "hoffmann2022_approach3_unrounded", "Hoffmann et al. 2022, Approach 3 (unrounded)",
        catalogue.HOFFMANN_2022, "TeX source constants, as quoted by Besiroglu et al. 2024",
        "chinchilla", _HOFFMANN_UNROUNDED, *_chinchilla_exponents(0.33917084, 0.2849083),
        n_convention="total", c_convention="6nd"),
    PublishedLaw(
        "besiroglu2024", "Besiroglu et al. 2024 (Epoch), refit", catalogue.BESIROGLU_2024,
        ("Huber-likelihood fit to 240 points read from Hoffmann et al. Fig. 4; estimates and "
         "95% bootstrap intervals as printed by the authors' analysis notebook"),
        "chinchilla", _BESIROGLU, *_chinchilla_exponents(0.348, 0.366),
        n_convention="total", c_convention="6nd",
        ci=dict(A=(285.2, 743.6), B=(1042.4, 5810.3), E=(1.769, 1.871), alpha=(0.317, 0.373),
                beta=(0.331, 0.415)), ci_level=0.95),
    PublishedLaw(
        "besiroglu2024_replicate", "Besiroglu et al. 2024, Hoffmann's procedure",
        catalogue.BESIROGLU_2024,
        "pure Huber (delta 1e-3), L-BFGS from Hoffmann's 4500-start grid", "chinchilla",
        _BESIROGLU_REPLICATE, *_chinchilla_exponents(0.3473, 0.3672),
        n_convention="total", c_convention="6nd"),
    PublishedLaw(
        "muennighoff2023", "Muennighoff et al. 2023, data-constrained", catalogue.MUENNIGHOFF_2023,
        ("eq. 5 constants as given by the authors in huggingface/datablations issue #9 (not "
         "re-checked against the paper's figures); a, b with unlimited unique data"),
        "data_constrained", _MUENNIGHOFF, *_chinchilla_exponents(0.3526596, 0.3526596),
        n_convention="total", c_convention="6nd"),
)}

APPROACH3_LAWS = tuple(key for key, law in LAWS.items() if law.form == "chinchilla")
