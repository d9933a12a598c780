"""Credentials for outgoing calls, by name, so secrets never appear in workflow definitions or
history: a node says `credentials: "github"` and the worker's provider of that name supplies
the headers (a token, a signature) at call time.

    from linkflow.nodes.credentials import register_credentials, bearer_token_from_env

    register_credentials("github", bearer_token_from_env("GITHUB_TOKEN"))

    @register_credentials("internal-api")
    async def internal(request: CredentialRequest) -> dict[str, str]:
        return {"Authorization": f"Bearer {await fetch_token()}"}

Register providers in a module the worker imports, e.g. one exposed through the
`linkflow.nodes` entry point group. A name no provider has is looked up among the stored
credentials (`linkflow credentials set`, the `linkflow.credentials` topic, decrypted with
LINKFLOW_APP_KEY) when the worker follows them (`linkflow.secrets.follower`).
"""

from __future__ import annotations

import inspect
import os
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, overload

from linkflow.worker.errors import ActivityError

CREDENTIALS_NOT_FOUND = "CredentialsNotFound"
CREDENTIALS_ERROR = "CredentialsError"


@dataclass(frozen=True)
class CredentialRequest:
    """What a provider may base its headers on (request signing needs method and URL)."""

    name: str
    method: str
    url: str
    execution_id: str = ""
    node_id: str = ""


Provider = Callable[[CredentialRequest], Mapping[str, str] | Awaitable[Mapping[str, str]]]


@dataclass(frozen=True)
class Resolved:
    """Headers to send, and every secret string in them (to scrub from what is reported)."""

    headers: dict[str, str]
    secrets: list[str]


# Stored credentials: the headers and secret values of a name, or None if none is stored.
StoredSource = Callable[[CredentialRequest], Awaitable[Resolved | None]]


class CredentialRegistry:
    def __init__(self) -> None:
        self._providers: dict[str, Provider] = {}
        self.stored: StoredSource | None = None

    def register(self, name: str, provider: Provider, *, replace: bool = False) -> None:
        if name in self._providers and not replace:
            raise ValueError(f"credentials {name!r} are already registered")
        self._providers[name] = provider

    def unregister(self, name: str) -> None:
        self._providers.pop(name, None)

    def names(self) -> list[str]:
        return sorted(self._providers)

    async def headers(self, request: CredentialRequest) -> dict[str, str]:
        return (await self.resolve(request)).headers

    async def resolve(self, request: CredentialRequest) -> Resolved:
        """The headers of `request.name`'s provider, or of the stored credential of that
        name.

        Unknown names fail for good (a deployment mistake retries cannot fix); a provider
        failing is assumed transient (a token endpoint down). Messages never include the
        headers themselves.
        """
        provider = self._providers.get(request.name)
        if provider is None:
            stored = await self.stored(request) if self.stored is not None else None
            if stored is not None:
                return stored
            where = "on this worker" + (" or stored" if self.stored is not None else "")
            raise ActivityError(
                CREDENTIALS_NOT_FOUND,
                f"no credentials named {request.name!r} {where}",
                retryable=False,
                details={"credentials": request.name},
            )
        try:
            supplied = provider(request)
            if inspect.isawaitable(supplied):
                supplied = await supplied
        except ActivityError:
            raise
        except Exception as exc:
            raise ActivityError(
                CREDENTIALS_ERROR,
                f"credentials {request.name!r}: provider failed: {type(exc).__name__}",
                retryable=True,
                details={"credentials": request.name},
            ) from exc
        if not isinstance(supplied, Mapping):
            raise ActivityError(
                CREDENTIALS_ERROR,
                f"credentials {request.name!r}: provider returned {type(supplied).__name__}, "
                "not a mapping of headers",
                retryable=False,
            )
        headers = {str(k): str(v) for k, v in supplied.items()}
        return Resolved(headers, header_secrets(headers))


def header_secrets(headers: Mapping[str, str]) -> list[str]:
    """The secret strings of credential headers: each value, and the token after an
    authorization scheme (`Bearer <token>`)."""
    found: list[str] = []
    for value in headers.values():
        found.append(value)
        scheme, _, token = value.partition(" ")
        if token and scheme.isalpha():
            found.append(token)
    return found


CREDENTIALS = CredentialRegistry()


@overload
def register_credentials(name: str, provider: Provider, *, replace: bool = ...) -> Provider: ...


@overload
def register_credentials(
    name: str, provider: None = ..., *, replace: bool = ...
) -> Callable[[Provider], Provider]: ...


def register_credentials(
    name: str, provider: Provider | None = None, *, replace: bool = False
) -> Any:
    """Register `provider` under `name` in the worker-wide registry (or use as a decorator)."""
    if provider is not None:
        CREDENTIALS.register(name, provider, replace=replace)
        return provider

    def decorate(fn: Provider) -> Provider:
        CREDENTIALS.register(name, fn, replace=replace)
        return fn

    return decorate


def static_headers(headers: Mapping[str, str]) -> Provider:
    """A provider that always supplies the same headers (e.g. an API key)."""
    fixed = dict(headers)
    return lambda _request: fixed


def bearer_token_from_env(variable: str) -> Provider:
    """`Authorization: Bearer <token>` with the token read from the environment at call time,
    so a rotated secret is picked up without restarting the worker."""

    def provide(request: CredentialRequest) -> dict[str, str]:
        token = os.environ.get(variable)
        if not token:
            raise ActivityError(
                CREDENTIALS_NOT_FOUND,
                f"credentials {request.name!r}: environment variable {variable} is not set",
                retryable=False,
            )
        return {"Authorization": f"Bearer {token}"}

    return provide
