"""A small synchronous client of the query service for the CLI (standard library only, so
`linkflow get` starts fast and works against any remote API)."""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

ENV_API_URL = "LINKFLOW_API_URL"
ENV_API_PORT = "LINKFLOW_API_PORT"
ENV_TOKEN = "LINKFLOW_TOKEN"
DEFAULT_API_URL = "http://127.0.0.1:8080"
SSE_READ_TIMEOUT = 60.0

QueryValue = str | int | float | Sequence[str] | None


def default_api_url() -> str:
    """LINKFLOW_API_URL, else the local API on LINKFLOW_API_PORT (where `linkflow demo`
    serves it), else http://127.0.0.1:8080."""
    url = os.environ.get(ENV_API_URL)
    if url:
        return url
    port = os.environ.get(ENV_API_PORT)
    return f"http://127.0.0.1:{port}" if port else DEFAULT_API_URL


class RemoteError(RuntimeError):
    """The API answered with an error, or could not be reached (status 0)."""

    def __init__(self, status: int, code: str, message: str, body: Any = None) -> None:
        super().__init__(f"{message} ({code}, HTTP {status})" if status else message)
        self.status = status
        self.code = code
        self.message = message
        self.body = body


@dataclass(frozen=True, slots=True)
class SseMessage:
    event: str
    id: str | None
    data: str

    def json(self) -> Any:
        return json.loads(self.data)


class RemoteApi:
    def __init__(
        self, base_url: str | None = None, timeout: float = 30.0, token: str | None = None
    ) -> None:
        self.base_url = (base_url or default_api_url()).rstrip("/")
        self.timeout = timeout
        # Sent as a bearer token when the API requires one (linkflow.api.auth).
        self.token = token if token is not None else os.environ.get(ENV_TOKEN) or None

    def url(self, path: str, query: Mapping[str, QueryValue] | None = None) -> str:
        pairs: list[tuple[str, str]] = []
        for name, value in (query or {}).items():
            if value is None:
                continue
            if isinstance(value, str | int | float):
                pairs.append((name, str(value)))
            else:
                pairs.extend((name, str(v)) for v in value)
        encoded = urllib.parse.urlencode(pairs)
        return f"{self.base_url}{path}" + (f"?{encoded}" if encoded else "")

    def _open(
        self,
        method: str,
        path: str,
        query: Mapping[str, QueryValue] | None = None,
        body: Any = None,
        headers: Mapping[str, str] | None = None,
        timeout: float | None = None,
    ) -> Any:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(
            self.url(path, query), data=data, method=method, headers=dict(headers or {})
        )
        if self.token:
            request.add_header("Authorization", f"Bearer {self.token}")
        if data is not None:
            request.add_header("Content-Type", "application/json")
        try:
            return urllib.request.urlopen(request, timeout=timeout or self.timeout)
        except urllib.error.HTTPError as exc:
            raise _error_from(exc) from None
        except (TimeoutError, urllib.error.URLError, ConnectionError) as exc:
            reason = getattr(exc, "reason", exc)
            raise RemoteError(
                0, "unreachable", f"cannot reach the LinkFlow API at {self.base_url}: {reason}"
            ) from None

    def call(
        self,
        method: str,
        path: str,
        query: Mapping[str, QueryValue] | None = None,
        body: Any = None,
        headers: Mapping[str, str] | None = None,
        timeout: float | None = None,
    ) -> tuple[int, Any]:
        with self._open(method, path, query, body, headers, timeout) as response:
            raw = response.read()
            return response.status, (json.loads(raw) if raw else None)

    def get(self, path: str, **query: QueryValue) -> Any:
        return self.call("GET", path, query)[1]

    def post(self, path: str, body: Any = None, **query: QueryValue) -> Any:
        return self.call("POST", path, query, body)[1]

    def events(self, path: str, last_event_id: int | None = None) -> Iterator[SseMessage]:
        """Messages of a Server-Sent Events stream until the server ends it."""
        headers = {"Accept": "text/event-stream"}
        if last_event_id is not None:
            headers["Last-Event-ID"] = str(last_event_id)
        # The server writes a keepalive comment every 15 s of silence: a silent minute
        # means a dead connection (the caller resumes with Last-Event-ID).
        with self._open("GET", path, headers=headers, timeout=SSE_READ_TIMEOUT) as response:
            yield from parse_sse(response)


def parse_sse(lines: Iterator[bytes] | Any) -> Iterator[SseMessage]:
    """The SSE wire format (WHATWG): fields until a blank line; comments start with ':'."""
    event, ident = "message", None
    data: list[str] = []
    for raw in lines:
        line = raw.decode("utf-8").rstrip("\r\n")
        if not line:
            if data:
                yield SseMessage(event, ident, "\n".join(data))
            event, data = "message", []
            continue
        if line.startswith(":"):
            continue
        name, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if name == "event":
            event = value
        elif name == "data":
            data.append(value)
        elif name == "id":
            ident = value


def _error_from(exc: urllib.error.HTTPError) -> RemoteError:
    raw = exc.read()
    try:
        body = json.loads(raw)
        error = body["error"]
        return RemoteError(exc.code, str(error["code"]), str(error["message"]), body)
    except (ValueError, KeyError, TypeError):
        text = raw.decode(errors="replace").strip() or exc.reason
        return RemoteError(exc.code, "http_error", str(text))
