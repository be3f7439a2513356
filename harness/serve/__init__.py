"""``harness serve``: a harness process that outlives one run, keeping its stage (network, services,
OpenResty containers) warm for the ``harness t`` runs handed to it."""
