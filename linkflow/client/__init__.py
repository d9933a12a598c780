"""The LinkFlow client SDK: register definitions, start and steer executions, await outcomes."""

from linkflow.client.client import Client, Outcome, WaitTimeout
from linkflow.client.ids import execution_id_for, partition_for

__all__ = ["Client", "Outcome", "WaitTimeout", "execution_id_for", "partition_for"]
