"""Dataset formats and the synthetic datasets used by demos and tests."""
