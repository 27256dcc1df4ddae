"""Fixture plugins shared across test tiers (pytest reads `pytest_plugins` only from the root conftest)."""

pytest_plugins = ["tests.pipeline.stack"]
