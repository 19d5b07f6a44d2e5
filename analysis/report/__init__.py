"""The report: `pipeline` (every analysis under one pair of conventions; a failing side step is a
warning, see `auxiliary`), `law_fits` (one law fitted, bootstrapped and assessed), `document`
(fits.json and report.md; `document.build` is the library entry point), `report_checks`,
`markdown`, and the figures (`plots`, `diagnostic_plots`, `rollout_plots`).
Imports nothing itself."""
