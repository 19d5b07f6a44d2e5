"""How laws are fitted: `options` holds FitOptions (law, objective, bounds, weights), the one
carrier of how to fit, and the one recipe every fitting user applies; `objectives` (loss
functions of the residuals), `multistart` (the multi-start Huber fit in JAX), `fit` (one law
fitted to a table) and `bootstrap` (refits over resampled runs). Imports nothing itself."""
