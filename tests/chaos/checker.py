"""The chaos suite's history checker: `linkflow.verify.check`, printed as a table.

    .venv/bin/python tests/chaos/checker.py [--topic-prefix P] [--bootstrap-servers B]

is `linkflow verify`; the scenarios call `verified` after their faults.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable
from typing import Any

from linkflow.verify import Report, check


def verified(
    bootstrap: str,
    prefix: str,
    accepted: Iterable[str],
    title: str,
    database_url: str | None = None,
) -> Report:
    """Check the runtime under `prefix` (and its visibility rows in `database_url`) and
    print the table (pytest shows it with -s or on failure); the report, for the test to
    assert on."""
    report = check(bootstrap, topic_prefix=prefix, accepted=accepted, database_url=database_url)
    print(f"\n== checker: {title}\n{report.table()}")
    return report


def loader(rt: Any, workflow_id: str, ids: list[str]) -> Callable[[int], None]:
    """`load(n)` starts n more executions of `workflow_id` and adds their ids to `ids`."""

    def load(count: int) -> None:
        ids.extend(rt.client.start(workflow_id, {"n": len(ids) + i}) for i in range(count))
        rt.client.flush()

    return load


if __name__ == "__main__":
    from linkflow.cli.main import main

    sys.exit(main(["verify", *sys.argv[1:]]))
