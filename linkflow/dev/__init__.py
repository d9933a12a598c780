"""The local single-machine stack: a Kafka broker and a PostgreSQL server started by LinkFlow."""

from linkflow.dev.stack import StackError, StackStatus, down, status, up

__all__ = ["StackError", "StackStatus", "down", "status", "up"]
