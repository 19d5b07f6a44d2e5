"""Published hyperparameter laws: the peak learning rate and batch size of a run from its size.

Each law is data: its formula's constants, its citation, what its N or C counts, and the range
it was fitted on (a law applied outside it is extrapolated: `range_warning`). Batch sizes are
returned in tokens; `scaling.hparams` turns them into sequences of the run's `seq_len`.

  * `steplaw` (H. Li et al., "Predictable Scale: Part I, Step Law", arXiv:2503.04715, 2025):
    lr = 1.79 N^-0.713 D^0.307 and B = 0.58 D^0.571 tokens, N the non-embedding parameters, D
    the training tokens; fitted on dense models of about 6e7-1e9 non-embedding parameters
    (the span of its dense grid, approximate).
  * `deepseek` (DeepSeek-AI, X. Bi et al., "DeepSeek LLM", arXiv:2401.02954, 2024, Sec. 3.1):
    lr = 0.3118 C^-0.1250 and B = 0.2920 C^0.3271 tokens, C = M x D FLOPs with M the
    non-embedding FLOPs per token including attention, M = 72 n_layers d_model^2 + 12 n_layers
    d_model seq_len (here 6 N_non_embedding + 12 n_layers d_model seq_len, the same count for
    any MLP width); fitted on compute budgets of 1e17-2e19 FLOPs.
  * `olmo` (the OLMo-2 model ladder, A. Bhagia et al., arXiv:2412.04403, 2024, on the form of
    T. Porian et al., arXiv:2406.19146, 2024): lr = 0.0047 / 4 x (N / 1.08e8)^(-1/3) and
    B = 160 x 2048 x (N / 1.08e8)^(2/3) tokens, N the total parameter count. Porian et al. fitted
    0.0047 and 160 sequences of 2048 tokens at N = 108M; the ladder's runs (stored in
    shared/data/olmo_ladder) use a quarter of that learning rate and round the batch up to a
    multiple of 128 sequences. Range: the ladder's sizes, 1.9e8-3e9 parameters.
"""
import abc
import dataclasses

LEARNING_RATE, BATCH_SIZE = "learning_rate", "batch_size"


@dataclasses.dataclass(frozen=True)
class Point:
  """What a published law reads of one run: counts of parameters, tokens and the shape."""
  non_embedding_params: int
  total_params: int
  tokens: float       # D, training tokens
  n_layers: int
  d_model: int
  seq_len: int

  @property
  def deepseek_flops(self) -> float:
    """DeepSeek LLM's C = M x D (FLOPs), M = 6 N_non_embedding + 12 n_layers d_model seq_len."""
    per_token = 6.0 * self.non_embedding_params + 12.0 * self.n_layers * self.d_model * self.seq_len
    return per_token * self.tokens


@dataclasses.dataclass(frozen=True)
class Law(abc.ABC):
  """One published law for the learning rate and the batch size (tokens)."""
  name: str
  citation: str
  variable: str                       # what the fitted range is of: 'N (non-embedding)', ...
  convention: str                     # what its N, D and C count, in words
  fitted_range: tuple[float, float]   # of `variable`

  @abc.abstractmethod
  def learning_rate(self, point: Point) -> float:
    """The peak learning rate at `point`."""

  @abc.abstractmethod
  def batch_tokens(self, point: Point) -> float:
    """The batch size at `point`, in tokens."""

  @abc.abstractmethod
  def variable_value(self, point: Point) -> float:
    """The value at `point` of the variable its fitted range is of."""

  def to_json(self) -> dict:
    return dict(name=self.name, citation=self.citation, variable=self.variable,
                convention=self.convention, fitted_range=list(self.fitted_range))


class StepLaw(Law):
  def learning_rate(self, point: Point) -> float:
    return 1.79 * point.non_embedding_params ** -0.713 * point.tokens ** 0.307

  def batch_tokens(self, point: Point) -> float:
    return 0.58 * point.tokens ** 0.571

  def variable_value(self, point: Point) -> float:
    return float(point.non_embedding_params)


class DeepSeekLaw(Law):
  def learning_rate(self, point: Point) -> float:
    return 0.3118 * point.deepseek_flops ** -0.1250

  def batch_tokens(self, point: Point) -> float:
    return 0.2920 * point.deepseek_flops ** 0.3271

  def variable_value(self, point: Point) -> float:
    return point.deepseek_flops


class OlmoLaw(Law):
  def learning_rate(self, point: Point) -> float:
    return 0.0047 / 4 * (point.total_params / 1.08e8) ** (-1.0 / 3.0)

  def batch_tokens(self, point: Point) -> float:
    return 160 * 2048 * (point.total_params / 1.08e8) ** (2.0 / 3.0)

  def variable_value(self, point: Point) -> float:
    return float(point.total_params)


LAWS: dict[str, Law] = {
    "steplaw": StepLaw(
        name="steplaw", citation="Li et al. 2025, Step Law, arXiv:2503.04715",
        variable="N (non-embedding parameters)",
        convention="N non-embedding parameters, D training tokens, B tokens",
        fitted_range=(6e7, 1e9)),
    "deepseek": DeepSeekLaw(
        name="deepseek", citation="DeepSeek-AI 2024, DeepSeek LLM, arXiv:2401.02954, Sec. 3.1",
        variable="C (FLOPs, M x D)",
        convention="C = M x D FLOPs, M non-embedding FLOPs/token with attention; B tokens",
        fitted_range=(1e17, 2e19)),
    "olmo": OlmoLaw(
        name="olmo", citation=("OLMo-2 ladder (Bhagia et al. 2024, arXiv:2412.04403) on "
                               "Porian et al. 2024, arXiv:2406.19146"),
        variable="N (total parameters)",
        convention="N total parameters (embeddings included); B tokens",
        fitted_range=(1.9e8, 3e9)),
}


def value(law_name: str, hparam: str, point: Point) -> float:
  """The law's learning rate, or its batch size in tokens, at `point`."""
  law = LAWS[law_name]
  return law.learning_rate(point) if hparam == LEARNING_RATE else law.batch_tokens(point)


def outside_range(law_name: str, point: Point) -> bool:
  """Whether `point` lies outside the range the law was fitted on."""
  low, high = LAWS[law_name].fitted_range
  return not low <= LAWS[law_name].variable_value(point) <= high


def range_warning(hparam: str, law_name: str, points: list[Point]) -> str | None:
  """One line when any of `points` lies outside the law's fitted range, naming the range and the
  span of the sweep's values; None when all lie inside."""
  law = LAWS[law_name]
  outside = [law.variable_value(point) for point in points if outside_range(law_name, point)]
  if not outside:
    return None
  low, high = law.fitted_range
  return (f"warning: sweep.hparams.{hparam}.rule={law_name!r} is extrapolated for "
          f"{len(outside)} of {len(points)} runs: their {law.variable} spans "
          f"{min(outside):.3g}-{max(outside):.3g}, outside the {low:.3g}-{high:.3g} it was fitted "
          f"on ({law.citation}); its values there are a guess")

