"""The report: `pipeline` (every analysis under one pair of conventions, run as the named
`steps`; a failing side step is a warning, see `auxiliary`), `law_fits` (one law fitted,
bootstrapped and assessed), `conventions` (the same runs under every convention pair),
`document` (fits.json and report.md; `document.build` is the library entry point),
`report_checks`, `markdown`, `figures` (which figures an analysis draws) and the figure
functions (`plots`, `diagnostic_plots`, `rollout_plots`).
Imports nothing itself."""
