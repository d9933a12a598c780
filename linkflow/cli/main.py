"""The `linkflow` command line: one module per subcommand group, each exposing `register`."""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from linkflow.limits import LimitSettingError

# Each module defines `register(subparsers) -> None`; the parser it adds sets `func`,
# a callable taking the parsed namespace and returning an exit code.
_COMMAND_MODULES = (
    "linkflow.cli.dev",
    "linkflow.cli.topics",
    "linkflow.cli.worker",
    "linkflow.cli.processors",
    "linkflow.cli.demo",
    "linkflow.cli.sink",
    "linkflow.cli.api",
    "linkflow.cli.workflows",
    "linkflow.cli.executions",
    "linkflow.cli.dlq",
    "linkflow.cli.verify",
    "linkflow.cli.up",
    "linkflow.cli.replay",
    "linkflow.cli.reset",
    "linkflow.cli.credentials",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="linkflow", description="LinkFlow: durable workflows on Kafka"
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in _COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != name:
                raise
            continue  # a command group not written yet
        module.register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    try:
        return _run(argv)
    except LimitSettingError as exc:
        # Read when the modules that use it are imported: a setting out of range is the
        # user's mistake, said in one line, not a traceback.
        print(f"linkflow: {exc}", file=sys.stderr)
        return 2


def _run(argv: Sequence[str] | None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    func = getattr(args, "func", None)
    if func is None:
        parser.print_help()
        return 2
    if getattr(args, "long_running", False):
        from linkflow.gc_tuning import tune_for_service

        tune_for_service()
    try:
        return int(func(args) or 0)
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
