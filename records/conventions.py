"""The names of the conventions for N (parameters) and C (training compute): their one spelling.

Every layer that counts or fits N and C names them so: the FLOP counts (model/counting.py), the
sweep grid (`sweep.grid.flop_convention` and `sweep.grid.n_convention`), and the analysis
(`--n_convention`, `--c_convention`, and the `conventions` of every fit).

N:
  non_embedding  parameters less the token embedding and an untied output head (Kaplan et al.
                 2020); result.json's and results.csv's `n_params_non_embedding`
  total          every parameter; `n_params_total`
C (training FLOPs, forward and backward):
  6nd            6 x N x D with the chosen N (Kaplan et al. 2020); with N non-embedding it is
                 result.json's and results.csv's `flops_6nd`
  exact          the exact training FLOPs per token (attention and the output head included,
                 Hoffmann et al. 2022, App. F) x D, whatever N; `flops_exact`
"""
N_NON_EMBEDDING = "non_embedding"
N_TOTAL = "total"
N_CONVENTIONS = (N_NON_EMBEDDING, N_TOTAL)

C_6ND = "6nd"
C_EXACT = "exact"
C_CONVENTIONS = (C_6ND, C_EXACT)
