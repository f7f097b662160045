"""Trainyard's gateway: the public API, the job store, dispatch to training services."""
