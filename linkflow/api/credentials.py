"""`/v1/credentials`: store, list and delete credentials (README, Credentials).

The API encrypts a credential's fields with LINKFLOW_APP_KEY and publishes the record to
the compacted `linkflow.credentials` topic; workers with the same key decrypt it when a
node names it. No response ever holds a credential's fields, encrypted or not.
"""

from __future__ import annotations

import asyncio
import re

from aiohttp import web

from linkflow import transport
from linkflow.api.bodies import bad_field, read_object, str_field
from linkflow.api.context import ApiContext, context, topic
from linkflow.api.errors import ApiError, json_response, not_found, unavailable
from linkflow.api.params import reject_unknown
from linkflow.api.publisher import PublishError
from linkflow.secrets.laravel import ENV_APP_KEY
from linkflow.secrets.records import CredentialError, StoredCredential
from linkflow.secrets.store import read_credentials

NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$")


def _key(ctx: ApiContext) -> bytes:
    if ctx.config.app_key is None:
        raise ApiError(
            409,
            "credentials_disabled",
            f"this API cannot store credentials: start it with {ENV_APP_KEY} set (the key "
            "workers decrypt them with)",
        )
    return ctx.config.app_key


async def _publish(ctx: ApiContext, name: str, value: bytes | None) -> None:
    try:
        await ctx.publisher.publish(topic(ctx, transport.CREDENTIALS), name.encode(), value)
    except PublishError as exc:
        raise unavailable("kafka", exc) from exc


async def _all(ctx: ApiContext) -> dict[str, StoredCredential]:
    try:
        return await asyncio.to_thread(
            read_credentials, ctx.config.kafka_bootstrap, topic(ctx, transport.CREDENTIALS)
        )
    except (RuntimeError, TimeoutError) as exc:
        raise unavailable("kafka", exc) from exc


async def set_credential(request: web.Request) -> web.Response:
    ctx = context(request)
    reject_unknown(request.query, ())
    key = _key(ctx)
    body = await read_object(request, ("name", "type", "data"))
    name = str_field(body, "name", required=True) or ""
    if not NAME.fullmatch(name):
        raise bad_field("name", "letters, digits and _ . : - (up to 128), starting with one")
    kind = str_field(body, "type", required=True) or ""
    try:
        record = StoredCredential.seal(key, name, kind, body.get("data"), ctx.now_ms())
    except CredentialError as exc:
        raise bad_field("type" if "type" in str(exc) else "data", str(exc)) from None
    await _publish(ctx, name, record.to_value())
    return json_response(record.summary(), status=201)


async def list_credentials(request: web.Request) -> web.Response:
    ctx = context(request)
    reject_unknown(request.query, ())
    records = await _all(ctx)
    return json_response({"credentials": [records[n].summary() for n in sorted(records)]})


async def delete_credential(request: web.Request) -> web.Response:
    ctx = context(request)
    reject_unknown(request.query, ())
    name = request.match_info["name"]
    if name not in await _all(ctx):
        raise not_found("credential", name)
    await _publish(ctx, name, None)
    return json_response({"name": name, "deleted": True})
