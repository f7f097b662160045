"""Pretrained weights through three tiers: local cache, object storage, the framework's source.

Modules are imported by name (`weights.resolver`, `weights.hub`, …): run_environment.py needs
`weights.access` and must not pull the training package in with it.
"""
