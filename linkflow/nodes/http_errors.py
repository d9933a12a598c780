"""How the `http` node classifies failures: retry what another attempt may fix (connection
trouble, timeouts, 5xx, 429, 408), fail for good what it cannot (other 4xx, bad URLs,
certificate errors, unparseable responses)."""

from __future__ import annotations

import email.utils
import time
from typing import Any

import aiohttp
from yarl import URL

from linkflow.worker.errors import ActivityError

HTTP_ERROR = "HttpError"  # a response with a failing status
HTTP_TIMEOUT = "HttpTimeout"
HTTP_CONNECTION_ERROR = "HttpConnectionError"
HTTP_TLS_ERROR = "HttpTlsError"
HTTP_INVALID_URL = "HttpInvalidUrl"
HTTP_INVALID_REQUEST = "HttpInvalidRequest"
HTTP_TOO_MANY_REDIRECTS = "HttpTooManyRedirects"
HTTP_CLIENT_ERROR = "HttpClientError"
HTTP_RESPONSE_PARSE_ERROR = "HttpResponseParseError"
HTTP_RESPONSE_TOO_LARGE = "HttpResponseTooLarge"

RETRYABLE_STATUSES = frozenset({408, 429})
MAX_ERROR_BODY_CHARS = 4096  # of a failing response's body kept in the error details


def status_retryable(status: int) -> bool:
    return status >= 500 or status in RETRYABLE_STATUSES


def safe_url(url: str | URL) -> str:
    """The URL without user info and query, which often carry secrets, for messages."""
    try:
        parsed = URL(str(url))
        return str(parsed.with_user(None).with_password(None).with_query(None).with_fragment(None))
    except (ValueError, TypeError):
        return "<invalid url>"


def retry_after_seconds(value: str | None) -> float | None:
    """Retry-After as seconds from now: either delta-seconds or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(when.timestamp() - time.time(), 0.0)


def status_error(
    method: str, url: str | URL, status: int, reason: str, headers: dict[str, str], body: Any
) -> ActivityError:
    if isinstance(body, str) and len(body) > MAX_ERROR_BODY_CHARS:
        body = body[:MAX_ERROR_BODY_CHARS] + "..."
    details: dict[str, Any] = {"status": status, "url": safe_url(url), "body": body}
    retry_after = retry_after_seconds(
        next((v for k, v in headers.items() if k.lower() == "retry-after"), None)
    )
    if retry_after is not None:
        details["retry_after_s"] = retry_after
    return ActivityError(
        HTTP_ERROR,
        f"{method} {safe_url(url)} returned {status} {reason}".rstrip(),
        retryable=status_retryable(status),
        details=details,
    )


def transport_error(method: str, url: str | URL, exc: BaseException) -> ActivityError:
    """The ActivityError for an exception raised while sending or receiving."""
    where = f"{method} {safe_url(url)}"
    details = {"url": safe_url(url), "error": type(exc).__name__}
    # Order matters: aiohttp's timeout errors are also connection errors, and its
    # certificate errors are also connector errors.
    if isinstance(exc, TimeoutError):
        return ActivityError(HTTP_TIMEOUT, f"{where} timed out", True, details)
    if isinstance(exc, aiohttp.InvalidURL):
        return ActivityError(HTTP_INVALID_URL, f"{where}: invalid URL", False, details)
    if isinstance(exc, ValueError) and not isinstance(exc, aiohttp.ClientError):
        # aiohttp validates headers and bodies as it sends: the config is at fault.
        return ActivityError(HTTP_INVALID_REQUEST, f"{where}: {exc}", False, details)
    if isinstance(exc, aiohttp.ClientConnectorCertificateError | aiohttp.ClientSSLError):
        return ActivityError(HTTP_TLS_ERROR, f"{where}: TLS failed: {exc}", False, details)
    if isinstance(exc, aiohttp.TooManyRedirects):
        return ActivityError(
            HTTP_TOO_MANY_REDIRECTS, f"{where}: too many redirects", False, details
        )
    if isinstance(exc, aiohttp.ClientConnectionError | aiohttp.ClientPayloadError | OSError):
        return ActivityError(HTTP_CONNECTION_ERROR, f"{where}: {exc}", True, details)
    return ActivityError(HTTP_CLIENT_ERROR, f"{where}: {type(exc).__name__}: {exc}", True, details)
