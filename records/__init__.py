"""The bottom layer: the on-disk run record and how a command line ends. Imports nothing from
the project.

`layout`: the file names of a run directory and a sweep directory.
`status`: `RunStatus` (result.json's status) and `SweepState` (a sweep's view of a run).
`result`: the result.json keys with their units; its writer and reader.
`results_csv`: the results.csv columns with their units; its writer and reader.
`atomic`: files written whole or not at all, and JSON that is always valid.
`cli`: exit codes and the one-line error of every entry point.
`conventions`: the names of the N and C conventions.
`console`: short console texts (durations).
"""
