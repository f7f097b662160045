"""A benchmark-only framework whose train.py prints lines stamped with the time they were printed.

A real service from the shared app factory, like the tests' toy framework, so the log path is
the platform's own: output capture, reporter, callback, job store, Server-Sent Events.
"""
