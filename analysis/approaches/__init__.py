"""The three Chinchilla approaches: `envelope` (Approach 1, the loss envelope over training
curves), `isoflop` (Approach 2, IsoFLOP minima) and `optimal` (the compute-optimal allocation of a
fitted or published law, Approach 3).
Imports nothing itself."""
