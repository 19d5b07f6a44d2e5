"""How laws are fitted: `options` holds FitOptions (law, objective, bounds, weights), the one
carrier of how to fit, and the one recipe every fitting user applies. Imports nothing itself."""
