"""What to train next: `suggest` (the runs that most narrow the compute-optimal allocation) and its
command line, `suggest_cli`.
Imports nothing itself."""
