"""Bounds the engine and its edges (API, client, registration) enforce; docs/limits.md
says what happens past each. Pure constants: the engine reads them too."""

from __future__ import annotations

# Versions are stored as PostgreSQL integers (and Avro ints): the largest is 2**31 - 1.
MAX_VERSION = 2**31 - 1

# Workflow, execution and node ids, signal names, idempotency keys. Child execution ids
# append to their parent's, so nesting grows them; 1,000 leaves room and keeps an id far
# below what a URL, a Kafka key or an index entry can hold.
MAX_ID_LENGTH = 1000

# Events in one execution's history. Past it the execution fails (HistoryLimitExceeded):
# every reader of its history (replay, the sink, `linkflow history`) pays for its length.
# Temporal's default is 51,200.
MAX_HISTORY_EVENTS = 50_000
