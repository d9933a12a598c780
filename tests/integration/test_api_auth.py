"""Bearer tokens on the API: 401 without or with a bad token (always JSON, never a 500), 403
when the role does not allow the call, static tokens and HS256 JWTs, the open routes, and
the CLI sending LINKFLOW_TOKEN."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import AsyncIterator, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt
import pytest
import pytest_asyncio
from aiohttp.test_utils import TestClient
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm
from test_api_support import Services, prepare, running_api, unique, workflow_doc

from linkflow.api.auth import Authenticator, Principal
from linkflow.cli.main import main

pytestmark = pytest.mark.asyncio(loop_scope="module")

Client = TestClient[Any, Any]
SECRET = "a-shared-key-of-at-least-32-characters!"
TOKENS = {
    "viewer": "viewer-token-0123456789",
    "operator": "operator-token-0123456789",
    "admin": "admin-token-0123456789",
}


@pytest.fixture(scope="module")
def services(database_url: str, kafka_bootstrap: str) -> Services:
    return prepare(database_url, kafka_bootstrap)


def _authenticator(metrics_open: bool = True) -> Authenticator:
    tokens = tuple((t, Principal(f"{role} test", role, "ws-1")) for role, t in TOKENS.items())
    return Authenticator(tokens, SECRET, metrics_open)


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def client(services: Services) -> AsyncIterator[Client]:
    async with running_api(services, auth=_authenticator()) as c:
        yield c


def _as(role: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {TOKENS[role]}"}


def _jwt(claims: dict[str, Any], secret: str = SECRET) -> dict[str, str]:
    return {"Authorization": f"Bearer {jwt.encode(claims, secret, algorithm='HS256')}"}


async def _problem(response: Any, status: int, code: str) -> str:
    assert response.status == status, await response.text()
    body = await response.json()
    assert body["error"]["code"] == code, body
    return str(body["error"]["message"])


async def test_open_routes_need_no_token(client: Client) -> None:
    for path in ("/healthz", "/openapi.json", "/ui/", "/ui/app.js", "/metrics"):
        response = await client.get(path)
        assert response.status == 200, path


async def test_no_token_or_a_bad_one_is_a_json_401(client: Client) -> None:
    response = await client.get("/v1/executions")
    assert "token" in await _problem(response, 401, "unauthenticated")
    assert response.headers["WWW-Authenticate"] == "Bearer"
    for header in (
        "Basic dXNlcjpwYXNz",
        "Bearer",
        "Bearer not-a-token-we-know",
        "Bearer a.b.c",  # looks like a JWT, is not one
        "Bearer " + "x" * 5000,
    ):
        response = await client.get("/v1/executions", headers={"Authorization": header})
        await _problem(response, 401, "unauthenticated")


async def test_each_role_gets_what_it_may_and_403_for_the_rest(client: Client) -> None:
    workflow_id = unique("auth-wf")
    absent = unique("auth-exec")
    calls: list[tuple[str, str, Any, dict[str, int]]] = [
        ("GET", "/v1/executions", None, {"viewer": 200, "operator": 200, "admin": 200}),
        ("GET", "/v1/workflows", None, {"viewer": 200, "operator": 200, "admin": 200}),
        (
            "POST",
            f"/v1/executions/{absent}/signal",
            {"name": "go"},
            {"viewer": 403, "operator": 202, "admin": 202},
        ),
        (
            "POST",
            f"/v1/executions/{absent}/cancel",
            {},
            {"viewer": 403, "operator": 202, "admin": 202},
        ),
        (
            "POST",
            f"/v1/executions/{absent}/terminate",
            {},
            {"viewer": 403, "operator": 403, "admin": 202},
        ),
        (
            "POST",
            "/v1/workflows",
            workflow_doc(workflow_id),
            {"viewer": 403, "operator": 403, "admin": 201},
        ),
        (
            "POST",
            "/v1/executions",
            {"workflow_id": workflow_id},
            {"viewer": 403, "operator": 202, "admin": 202},
        ),
        (
            "POST",
            "/v1/dlq/requeue",
            {"refs": ["0:999999999"]},
            {"viewer": 403, "operator": 403, "admin": 404},
        ),
    ]
    for method, path, body, expected in calls:
        for role in ("viewer", "operator", "admin"):  # admin last: it registers first
            response = await client.request(method, path, json=body, headers=_as(role))
            assert response.status == expected[role], (method, path, role, await response.text())
            if expected[role] == 403:
                message = await _problem(response, 403, "forbidden")
                assert repr(role) in message and f"{role} test" in message


async def test_whoami_says_who_and_what(client: Client) -> None:
    for role in ("viewer", "operator", "admin"):
        response = await client.get("/v1/whoami", headers=_as(role))
        me = await response.json()
        assert (me["authenticated"], me["role"], me["name"]) == (True, role, f"{role} test")
        assert me["workspace"] == "ws-1"
        assert ("terminate" in me["permissions"]) == (role == "admin")
        assert ("signal" in me["permissions"]) == (role != "viewer")
    await _problem(await client.get("/v1/whoami"), 401, "unauthenticated")


async def test_jwts_signed_with_the_shared_key(client: Client) -> None:
    now = int(time.time())
    good = _jwt({"sub": "ci-bot", "role": "viewer", "workspace": "ws-1", "exp": now + 60})
    assert (await client.get("/v1/executions", headers=good)).status == 200
    operator = _jwt({"sub": "ci-bot", "role": "viewer", "exp": now + 60})
    response = await client.post("/v1/executions", json={"workflow_id": "x"}, headers=operator)
    assert "'viewer'" in await _problem(response, 403, "forbidden")

    expired = _jwt({"role": "admin", "exp": now - 10})
    response = await client.get("/v1/executions", headers=expired)
    assert "expired" in await _problem(response, 401, "unauthenticated")
    forged = _jwt({"role": "admin"}, secret="another-key-of-at-least-32-characters")
    await _problem(await client.get("/v1/executions", headers=forged), 401, "unauthenticated")
    no_role = _jwt({"sub": "x"})
    await _problem(await client.get("/v1/executions", headers=no_role), 401, "unauthenticated")
    unknown_role = _jwt({"role": "superuser"})
    await _problem(await client.get("/v1/executions", headers=unknown_role), 403, "forbidden")


@pytest.fixture(scope="module")
def identity_provider() -> Iterator[tuple[str, Any]]:
    """A JWKS endpoint with one RSA public key (kid `k1`), and its private key."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    jwk = json.loads(RSAAlgorithm.to_jwk(key.public_key()))
    body = json.dumps({"keys": [{**jwk, "kid": "k1", "use": "sig", "alg": "RS256"}]}).encode()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/jwks.json", key
    finally:
        server.shutdown()
        server.server_close()


async def test_jwts_checked_against_the_identity_providers_keys(
    services: Services, identity_provider: tuple[str, Any]
) -> None:
    url, key = identity_provider
    authenticator = Authenticator(jwks_url=url, audience="linkflow", issuer="https://idp")
    now = int(time.time())
    claims = {"sub": "alice", "role": "operator", "aud": "linkflow", "iss": "https://idp"}

    def signed(extra: dict[str, Any], signer: Any = key, kid: str = "k1") -> dict[str, str]:
        token = jwt.encode({**claims, "exp": now + 60, **extra}, signer, "RS256", {"kid": kid})
        return {"Authorization": f"Bearer {token}"}

    async with running_api(services, auth=authenticator, follow_definitions=False) as api:
        me = await (await api.get("/v1/whoami", headers=signed({}))).json()
        assert (me["name"], me["role"]) == ("alice", "operator")
        other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        for headers, why in (
            (signed({}, signer=other), "Signature verification failed"),
            (signed({"aud": "someone-else"}), "Audience doesn't match"),
            (signed({"iss": "https://evil"}), "Invalid issuer"),
            (signed({}, kid="k2"), "no key to check the token with"),
            (_jwt({**claims, "exp": now + 60}), "HS256 are not accepted"),
        ):
            response = await api.get("/v1/executions", headers=headers)
            assert why in await _problem(response, 401, "unauthenticated"), why


async def test_metrics_can_require_a_token(services: Services) -> None:
    async with running_api(
        services, auth=_authenticator(metrics_open=False), follow_definitions=False
    ) as api:
        await _problem(await api.get("/metrics"), 401, "unauthenticated")
        assert (await api.get("/metrics", headers=_as("viewer"))).status == 200
        assert (await api.get("/healthz")).status == 200


async def test_the_cli_sends_linkflow_token(
    client: Client, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    api = str(client.make_url("")).rstrip("/")
    monkeypatch.delenv("LINKFLOW_TOKEN", raising=False)
    assert await asyncio.to_thread(main, ["list", "--api", api]) == 1
    assert "unauthenticated" in capsys.readouterr().err
    monkeypatch.setenv("LINKFLOW_TOKEN", TOKENS["viewer"])
    assert await asyncio.to_thread(main, ["list", "--api", api]) == 0
    assert "EXECUTION" in capsys.readouterr().out
