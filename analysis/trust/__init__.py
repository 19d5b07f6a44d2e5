"""How far a fit can be believed: `intervals` (confidence and prediction intervals), `extrapolate`
(fit below a compute threshold, predict above it), `rollout` (which law predicts held-out runs
best), `calibration` (intervals widened by the held-out record), `selection` (choosing or
averaging forms by record), `checkpoint_record` (checkpoint recipes scored by rollout),
`identifiability` (whether the data pin the parameters down) and `residuals`.
Imports nothing itself."""
