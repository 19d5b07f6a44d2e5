"""Exporting a run as one parameter file plus a standalone runner, sampling, loss as compression.

Modules: `runner` (numpy only; copied beside each export as run.py), `safetensors_io`
(parameter files), `run_dir` (reading a run directory), `exporter` (the two files), `sample`
(one run or a sweep ordered by N), `cli` (`python -m scaling export|sample`), `compression`
(bits per byte, compressor baselines) and `compression_report` (the sweep report's section).
The package imports nothing itself, so `runner` loads without jax.
"""
