"""The chaos suite's history checker: `linkflow.verify.check`, printed as a table.

    .venv/bin/python tests/chaos/checker.py [--topic-prefix P] [--bootstrap-servers B]

is `linkflow verify`; the scenarios call `verified` after their faults.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable

from linkflow.verify import Report, check


def verified(bootstrap: str, prefix: str, accepted: Iterable[str], title: str) -> Report:
    """Check the runtime under `prefix` and print the table (pytest shows it with -s or on
    failure); the report, for the test to assert on."""
    report = check(bootstrap, topic_prefix=prefix, accepted=accepted)
    print(f"\n== checker: {title}\n{report.table()}")
    return report


if __name__ == "__main__":
    from linkflow.cli.main import main

    sys.exit(main(["verify", *sys.argv[1:]]))
