"""History processor defaults, importable without Faust (the CLI shows them in --help)."""

DEFAULT_MAX_BATCH = 500
# How long a partial batch waits for more inputs: small, it is added to every step's latency.
DEFAULT_BATCH_WITHIN = 0.005
