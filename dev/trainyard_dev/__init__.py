"""Development helpers, installed only in the development environment."""
