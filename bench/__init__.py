"""Trainyard's benchmarks: `make bench` runs them all (`python -m bench.run_all`)."""
