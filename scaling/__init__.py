"""The sweep launcher: expand sweep configs into runs, train them, collect the results.

Modules: grid (sweep -> RunSpec list), hparams (per-size rules), published_hparams (published
learning-rate and batch-size laws), lr_search and lr_fit (the learning-rate search and its
fits), runs (resolved configs, ids,
run directories), rundir (run files and states), lease (lock file with heartbeat), runner (one
run: lease, train.py, retries), gang and ray_gang (the train.py processes of a run of several
hosts, on this machine or on a Ray placement group), hosts (their checks and layout), schedule
(the launcher loop), local and ray_backend (executors),
launch (the run command), preflight (run configs checked before anything starts), status,
collect (results.csv), estimate (dry-run times), progress and tables (console output). The
package imports nothing itself, so that `python -m scaling.runner` starts without importing jax.
"""
