"""A quick test framework: a real service from the shared factory whose train.py only counts.

It exercises everything around training (dispatch, reporting, cancel, crashes, restarts)
without torch, so the platform's own tests stay fast. Options choose its behaviour.
"""
