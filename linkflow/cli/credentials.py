"""`linkflow credentials set | list | delete`: stored credentials through the API (README,
Credentials). Secret fields come from environment variables or standard input rather than
the command line, which other users may see in `ps` and which shells keep in history.

    linkflow credentials set github --type bearer --field-env token=GITHUB_TOKEN
    echo '{"username": "u", "password": "p"}' | linkflow credentials set db --type basic --stdin
    linkflow credentials list
    linkflow credentials delete github
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any

from linkflow.api.remote import RemoteApi
from linkflow.cli.executions import (
    EXIT_OK,
    EXIT_USAGE,
    _in_path,
    add_common,
    pair_arg,
    print_json,
    runner,
    table,
)
from linkflow.secrets.records import TYPES


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "credentials",
        help="store, list and delete credentials that nodes use by name",
        description="Credentials are encrypted by the API with LINKFLOW_APP_KEY, kept on the "
        "linkflow.credentials topic and decrypted only by workers, when a node names them "
        "in its `credentials` config. Needs the admin role.",
    )
    commands = parser.add_subparsers(dest="credentials_command", metavar="COMMAND")
    commands.required = True

    put = commands.add_parser("set", help="store (or replace) a credential")
    put.add_argument("name")
    put.add_argument("--type", required=True, choices=sorted(TYPES), help="credential type")
    put.add_argument(
        "--field",
        type=pair_arg,
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a field given on the command line (only for what is not secret, e.g. username)",
    )
    put.add_argument(
        "--field-env",
        type=pair_arg,
        action="append",
        default=[],
        metavar="NAME=VARIABLE",
        help="a field read from an environment variable (repeatable)",
    )
    put.add_argument(
        "--stdin", action="store_true", help="read the fields as a JSON object on stdin"
    )
    add_common(put)
    put.set_defaults(func=runner(_set))

    listing = commands.add_parser("list", help="names and types of the stored credentials")
    add_common(listing)
    listing.set_defaults(func=runner(_list))

    delete = commands.add_parser("delete", help="delete a stored credential")
    delete.add_argument("name")
    add_common(delete)
    delete.set_defaults(func=runner(_delete))


def _set(args: argparse.Namespace, api: RemoteApi) -> int:
    fields: dict[str, Any] = {}
    if args.stdin:
        try:
            given = json.loads(sys.stdin.read())
        except ValueError as exc:
            print(f"error: stdin is not JSON: {exc}", file=sys.stderr)
            return EXIT_USAGE
        if not isinstance(given, dict):
            print("error: stdin must hold a JSON object of fields", file=sys.stderr)
            return EXIT_USAGE
        fields.update(given)
    fields.update(dict(args.field))
    for name, variable in args.field_env:
        value = os.environ.get(variable)
        if not value:
            print(f"error: environment variable {variable} is not set", file=sys.stderr)
            return EXIT_USAGE
        fields[name] = value
    _, answer = api.call(
        "POST", "/v1/credentials", None, {"name": args.name, "type": args.type, "data": fields}
    )
    if args.json:
        print_json(answer)
    else:
        print(f"stored {answer['type']} credential {answer['name']!r}")
    return EXIT_OK


def _list(args: argparse.Namespace, api: RemoteApi) -> int:
    answer = api.get("/v1/credentials")
    if args.json:
        print_json(answer)
    else:
        rows = [(c["name"], c["type"], c["updated_at_ms"]) for c in answer["credentials"]]
        print(table(["name", "type", "updated_at_ms"], rows))
    return EXIT_OK


def _delete(args: argparse.Namespace, api: RemoteApi) -> int:
    answer = api.call("DELETE", f"/v1/credentials/{_in_path(args.name)}")[1]
    if args.json:
        print_json(answer)
    else:
        print(f"deleted credential {args.name!r}")
    return EXIT_OK
