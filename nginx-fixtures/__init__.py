"""Fixture apps, shipped with the harness as package ``harness.fixtures`` (pyproject.toml maps this
directory): every directory here is in the wheel, so the catalogue and `harness perf` may use it."""
