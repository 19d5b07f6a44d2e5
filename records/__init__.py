"""The bottom layer: how records reach disk and how a command line ends.

`atomic`: files written whole or not at all, and JSON that is always valid.
`cli`: exit codes and the one-line error of every entry point.
"""
