"""The scenario catalogue, shipped with the harness as package ``harness.catalogue`` (pyproject.toml maps
this directory): every *.scenario.yaml here is in the wheel and is what `harness run` runs by default."""
