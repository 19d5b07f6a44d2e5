"""Exporting a run as one parameter file plus a standalone runner, sampling, loss as compression.

Modules: `runner` (numpy-only, copied beside each export as run.py), `safetensors_io`
(parameter files), `run_dir` (reading a run directory), `compression` (bits per byte and
compressor baselines). The package imports nothing itself, so `runner` loads without jax.
"""
