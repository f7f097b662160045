"""Trainyard's Python client and command-line tool."""
