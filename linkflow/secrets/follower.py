"""A worker's view of the stored credentials: the `linkflow.credentials` topic followed
(linkflow.worker.follower), the latest record of each name kept. Records stay encrypted in
memory; a lookup decrypts one with the worker's LINKFLOW_APP_KEY at the moment an activity
needs it."""

from __future__ import annotations

import asyncio
import logging

from linkflow.nodes.credentials import CredentialRequest, Resolved, header_secrets
from linkflow.secrets.records import CredentialError, StoredCredential, headers_of
from linkflow.worker.errors import ActivityError
from linkflow.worker.follower import TopicFollower

log = logging.getLogger(__name__)

CATCH_UP_SECONDS = 10.0  # how long a lookup of an unknown name waits for the topic's end


class CredentialFollower:
    def __init__(self, bootstrap: str, topic: str, key: bytes) -> None:
        self._key = key
        self._records: dict[str, StoredCredential] = {}
        self._follower = TopicFollower(bootstrap, topic, self._record)

    def start(self) -> None:
        self._follower.start()

    def stop(self) -> None:
        self._follower.stop()

    def _record(self, name: str, value: bytes | None) -> None:
        if value is None:
            self._records.pop(name, None)
            return
        try:
            self._records[name] = StoredCredential.from_value(value)
        except CredentialError as exc:
            log.warning("credential record %r skipped: %s", name, exc)

    async def resolve(self, request: CredentialRequest) -> Resolved | None:
        record = self._records.get(request.name)
        if record is None:
            # Perhaps stored a moment ago: read the topic to its end before saying no.
            await asyncio.to_thread(self._follower.caught_up, CATCH_UP_SECONDS)
            record = self._records.get(request.name)
            if record is None:
                return None
        try:
            fields = record.open(self._key)
        except CredentialError as exc:
            raise ActivityError(
                "CredentialsError", str(exc), retryable=False, details={"credentials": record.name}
            ) from None
        headers = headers_of(record.type, fields)
        # Names are not secret (a header name, a user name); everything else is.
        values = [v for k, v in fields.items() if k not in ("header", "username")]
        return Resolved(headers, [*header_secrets(headers), *values])
