"""LinkFlow: a durable workflow engine on Apache Kafka."""

__version__ = "0.1.0"
