"""History processor defaults, importable without Kafka clients (the CLI shows them in --help)."""

DEFAULT_MAX_BATCH = 500
# The shortest time between the starts of two batches: a batch takes what has been fetched
# and, if the previous one began less than this ago, gathers inputs for the rest of it.
# The broker's cost grows with transactions, not records: on the 2-core dev machine at 500
# workflows/s offered, 0 (a transaction per poll) reached 410/s with p50 3.9 s, 0.01 reached
# 473-477/s with p50 0.7-1.0 s. An input after a quiet spell goes at once.
DEFAULT_BATCH_WITHIN = 0.005
# An instance that dies with a transaction open holds up read_committed readers of the
# partitions it wrote until the broker aborts the transaction after this long (unless it is
# restarted in place, which aborts it at once).
DEFAULT_TRANSACTION_TIMEOUT = 10.0
# Execution states kept decoded in memory (the store holds them all).
DEFAULT_CACHE_SIZE = 20_000
