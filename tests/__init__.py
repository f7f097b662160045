"""Trainyard's tests: a package, so helpers import as `tests.support.…` with no path edits."""
