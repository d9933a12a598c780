"""Reading the `linkflow.credentials` topic whole, for the API's listing."""

from __future__ import annotations

import contextlib

from linkflow.secrets.records import CredentialError, StoredCredential
from linkflow.verify import read_to_end


def read_credentials(
    bootstrap: str, topic: str, timeout: float = 30.0
) -> dict[str, StoredCredential]:
    """The latest record of every stored credential (deleted ones left out)."""
    records: dict[str, StoredCredential] = {}
    for msg in read_to_end(bootstrap, topic, timeout):
        name = (msg.key() or b"").decode(errors="replace")
        value = msg.value()
        if not value:
            records.pop(name, None)
            continue
        # A record that is not a credential is not listed; the worker logs it.
        with contextlib.suppress(CredentialError):
            records[name] = StoredCredential.from_value(value)
    return records
