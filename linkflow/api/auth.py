"""Who may call the API: bearer tokens, each carrying a role (and a workspace, kept for the
workspaces to come).

Two sources, either or both:
- static tokens from a YAML or JSON file (`LINKFLOW_API_TOKENS_FILE`): a list of
  `{token, role, name, workspace}`;
- JWTs signed with a shared key (HS256, `LINKFLOW_API_JWT_SECRET`), or by an identity
  provider whose public keys are at a JWKS URL (RS256/384/512, PS256, ES256/384,
  `LINKFLOW_API_JWKS_URL`), whose claims carry `role` (and `sub`, `workspace`); `exp` and
  `nbf` are checked when present, `aud` and `iss` when LINKFLOW_API_JWT_AUDIENCE /
  LINKFLOW_API_JWT_ISSUER are set. Keys are fetched from the JWKS URL off the event loop
  and cached (a token with an unknown `kid` makes one new fetch).

With neither configured the API is open (a warning is logged at start): what the local
stack does unless told otherwise. Roles, from least to most:

- `viewer`: every read (executions, history, workflows, dead letters, live events);
- `operator`: also start, signal and cancel executions;
- `admin`: also terminate, reset, register workflows, requeue dead letters and manage
  stored credentials.

`/healthz`, `/readyz`, `/openapi.json` and the UI's files are always open (the UI asks for a
token and sends it with its calls); `/metrics` is open unless `LINKFLOW_API_METRICS_AUTH=1`.
"""

from __future__ import annotations

import hmac
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jwt
import yaml
from aiohttp import web

from linkflow.model.workspaces import DEFAULT_WORKSPACE, workspace_problem

ENV_TOKENS_FILE = "LINKFLOW_API_TOKENS_FILE"
ENV_JWT_SECRET = "LINKFLOW_API_JWT_SECRET"
ENV_METRICS_AUTH = "LINKFLOW_API_METRICS_AUTH"
ENV_JWKS_URL = "LINKFLOW_API_JWKS_URL"
ENV_JWT_AUDIENCE = "LINKFLOW_API_JWT_AUDIENCE"
ENV_JWT_ISSUER = "LINKFLOW_API_JWT_ISSUER"
JWKS_ALGORITHMS = ["RS256", "RS384", "RS512", "PS256", "ES256", "ES384"]

# What each role may do; a route names the permission it needs (linkflow.api.app.ROUTES).
READ, START, SIGNAL, CANCEL, TERMINATE, RESET, REGISTER, REQUEUE, CREDENTIALS, METRICS, OPEN = (
    "read",
    "start",
    "signal",
    "cancel",
    "terminate",
    "reset",
    "register",
    "requeue",
    "credentials",
    "metrics",
    "open",
)
ROLES: dict[str, frozenset[str]] = {
    "viewer": frozenset({READ, METRICS}),
    "operator": frozenset({READ, METRICS, START, SIGNAL, CANCEL}),
    "admin": frozenset(
        {READ, METRICS, START, SIGNAL, CANCEL, TERMINATE, RESET, REGISTER, REQUEUE, CREDENTIALS}
    ),
}


class AuthConfigError(ValueError):
    """The tokens file or the JWT settings cannot be used (refused at start)."""


@dataclass(frozen=True, slots=True)
class Principal:
    name: str
    role: str
    workspace: str = DEFAULT_WORKSPACE

    def may(self, permission: str) -> bool:
        return permission in ROLES[self.role]


@dataclass(frozen=True, slots=True)
class Denied:
    status: int  # 401: no or bad credentials; 403: not allowed
    code: str
    message: str


@dataclass(frozen=True)
class Authenticator:
    tokens: tuple[tuple[str, Principal], ...] = ()
    jwt_secret: str | None = None
    metrics_open: bool = True
    jwks_url: str | None = None
    audience: str | None = None
    issuer: str | None = None
    _jwks: list[jwt.PyJWKClient] = field(default_factory=list, compare=False, repr=False)

    @classmethod
    def from_environment(cls) -> Authenticator | None:
        """From LINKFLOW_API_TOKENS_FILE / LINKFLOW_API_JWT_SECRET / LINKFLOW_API_JWKS_URL;
        None when none is set."""
        path = os.environ.get(ENV_TOKENS_FILE)
        secret = os.environ.get(ENV_JWT_SECRET) or None
        jwks_url = os.environ.get(ENV_JWKS_URL) or None
        if not path and not secret and not jwks_url:
            return None
        tokens = load_tokens(Path(path)) if path else ()
        if secret is not None and len(secret) < 32:
            raise AuthConfigError(f"{ENV_JWT_SECRET} must be at least 32 characters")
        if jwks_url is not None and not jwks_url.startswith(("https://", "http://")):
            raise AuthConfigError(f"{ENV_JWKS_URL} must be an http(s) URL, not {jwks_url!r}")
        return cls(
            tokens,
            secret,
            os.environ.get(ENV_METRICS_AUTH) != "1",
            jwks_url,
            os.environ.get(ENV_JWT_AUDIENCE) or None,
            os.environ.get(ENV_JWT_ISSUER) or None,
        )

    def needs_key_fetch(self, authorization: str | None) -> bool:
        """Whether checking this credential may fetch keys from the JWKS URL (a blocking
        HTTP call: the caller runs `check` off the event loop then)."""
        if self.jwks_url is None or not authorization:
            return False
        credential = authorization.partition(" ")[2].strip()
        if credential.count(".") != 2:
            return False
        try:
            return jwt.get_unverified_header(credential).get("alg") in JWKS_ALGORITHMS
        except jwt.InvalidTokenError:
            return False

    def check(self, authorization: str | None, permission: str) -> Principal | Denied | None:
        """The caller (None for an open route), or why it is refused."""
        if permission == OPEN or (permission == METRICS and self.metrics_open):
            return None
        if not authorization:
            return Denied(401, "unauthenticated", "this API needs a bearer token")
        scheme, _, credential = authorization.partition(" ")
        credential = credential.strip()
        if scheme.lower() != "bearer" or not credential:
            return Denied(401, "unauthenticated", "expected 'Authorization: Bearer <token>'")
        principal = self._static(credential) or self._jwt(credential)
        if isinstance(principal, Denied):
            return principal
        if principal is None:
            return Denied(401, "unauthenticated", "unknown or invalid token")
        if not principal.may(permission):
            return Denied(
                403,
                "forbidden",
                f"role {principal.role!r} may not {permission} (as {principal.name})",
            )
        return principal

    def _static(self, credential: str) -> Principal | None:
        found = None
        for token, principal in self.tokens:  # every one compared: no early exit to time
            if hmac.compare_digest(token.encode(), credential.encode()):
                found = principal
        return found

    def _jwt(self, credential: str) -> Principal | Denied | None:
        if (self.jwt_secret is None and self.jwks_url is None) or credential.count(".") != 2:
            return None
        try:
            algorithm = jwt.get_unverified_header(credential).get("alg")
            key: Any
            if algorithm == "HS256" and self.jwt_secret is not None:
                key, algorithms = self.jwt_secret, ["HS256"]
            elif algorithm in JWKS_ALGORITHMS and self.jwks_url is not None:
                key, algorithms = (
                    self._jwks_client().get_signing_key_from_jwt(credential).key,
                    [algorithm],
                )
            else:
                return Denied(
                    401, "unauthenticated", f"tokens signed with {algorithm} are not accepted"
                )
            claims = jwt.decode(
                credential,
                key,
                algorithms=algorithms,
                audience=self.audience,
                issuer=self.issuer,
                options={"require": ["role"], "verify_aud": self.audience is not None},
            )
        except jwt.PyJWKClientError as exc:
            return Denied(401, "unauthenticated", f"no key to check the token with: {exc}")
        except jwt.ExpiredSignatureError:
            return Denied(401, "unauthenticated", "the token has expired")
        except jwt.InvalidTokenError as exc:
            return Denied(401, "unauthenticated", f"invalid token: {exc}")
        role = claims.get("role")
        if role not in ROLES:
            return Denied(403, "forbidden", f"unknown role {role!r} in the token")
        workspace = claims.get("workspace") or DEFAULT_WORKSPACE
        if workspace_problem(workspace) is not None:
            return Denied(401, "unauthenticated", "the token's workspace claim is not valid")
        return Principal(str(claims.get("sub") or "jwt"), role, workspace)

    def _jwks_client(self) -> jwt.PyJWKClient:
        if not self._jwks:
            assert self.jwks_url is not None
            self._jwks.append(jwt.PyJWKClient(self.jwks_url, cache_keys=True, lifespan=300))
        return self._jwks[0]


def load_tokens(path: Path) -> tuple[tuple[str, Principal], ...]:
    try:
        data: Any = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise AuthConfigError(f"cannot read {path}: {exc}") from exc
    if not isinstance(data, list):
        raise AuthConfigError(f"{path}: expected a list of {{token, role, name, workspace}}")
    tokens = []
    for index, item in enumerate(data):
        where = f"{path}[{index}]"
        if not isinstance(item, dict):
            raise AuthConfigError(f"{where}: expected a mapping")
        token, role = item.get("token"), item.get("role")
        if not isinstance(token, str) or len(token) < 16:
            raise AuthConfigError(f"{where}: token must be a string of at least 16 characters")
        if role not in ROLES:
            raise AuthConfigError(f"{where}: role must be one of {sorted(ROLES)}, not {role!r}")
        name = str(item.get("name") or f"token {index}")
        workspace = item.get("workspace") or DEFAULT_WORKSPACE
        problem = workspace_problem(workspace)
        if problem is not None:
            raise AuthConfigError(f"{where}: {problem}")
        tokens.append((token, Principal(name, role, workspace)))
    return tuple(tokens)


def problem_body(denied: Denied) -> dict[str, Any]:
    return {"error": {"code": denied.code, "message": denied.message}}


# Where the middleware leaves the caller on the request (None: an open route or no auth).
PRINCIPAL = web.RequestKey("linkflow_principal", Principal)
EVERYTHING = frozenset().union(*ROLES.values())


def caller_workspace(request: web.Request) -> str | None:
    """The workspace the caller reads and acts in; None when the API runs without
    authentication (every workspace is visible then, and what it creates is in `default`)."""
    principal = request.get(PRINCIPAL)
    return None if principal is None else principal.workspace


def whoami_body(principal: Principal | None) -> dict[str, Any]:
    """What `GET /v1/whoami` answers: the caller and what it may do (everything, with no
    authentication configured)."""
    if principal is None:
        return {
            "authenticated": False,
            "name": None,
            "role": None,
            "workspace": None,
            "permissions": sorted(EVERYTHING),
        }
    return {
        "authenticated": True,
        "name": principal.name,
        "role": principal.role,
        "workspace": principal.workspace,
        "permissions": sorted(ROLES[principal.role]),
    }
