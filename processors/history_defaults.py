"""History processor defaults, importable without Kafka clients (the CLI shows them in --help)."""

DEFAULT_MAX_BATCH = 500
# How long a batch waits for more inputs once it has one. 0: it takes what the consumer has
# fetched already, and a busy processor's batches grow by themselves while the previous
# transaction commits. Anything above 0 is added to every step's latency when idle.
DEFAULT_BATCH_WITHIN = 0.0
# An instance that dies with a transaction open holds up read_committed readers of the
# partitions it wrote until the broker aborts the transaction after this long (unless it is
# restarted in place, which aborts it at once).
DEFAULT_TRANSACTION_TIMEOUT = 10.0
# Execution states kept decoded in memory (the store holds them all).
DEFAULT_CACHE_SIZE = 20_000
