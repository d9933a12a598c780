"""The `code` node runs snippets in a separate process, with time and memory limits, and
classifies what goes wrong."""

from __future__ import annotations

import os
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from linkflow.nodes.code import code as code_handler
from linkflow.worker import ActivityContext, HandlerRegistry, Outcome, execute

_registry = HandlerRegistry()
_registry.register("code", code_handler)


@pytest.fixture
async def ctx() -> AsyncIterator[ActivityContext]:
    context = ActivityContext(execution_id="e1", activity_id="a1", attempt=1, node_id="calc")
    yield context
    await context.resources.aclose()


async def run(ctx: ActivityContext, config: Any, timeout_ms: int | None = None) -> Outcome:
    return await execute(_registry.get("code"), ctx, config, timeout_ms=timeout_ms)


def _gone(pid: int) -> bool:
    """True once `pid` no longer runs (a zombie waiting for its reaper counts as gone)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return True
    return stat.rsplit(")", 1)[1].split()[0] == "Z"


def _wait_gone(pid: int, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if _gone(pid):
            return True
        time.sleep(0.02)
    return False


async def test_snippet_reads_input_and_sets_result(ctx: ActivityContext) -> None:
    outcome = await run(
        ctx,
        {
            "source": "print('noise on stdout')\nresult = {'sum': sum(input['xs']), 'n': None}",
            "input": {"xs": [1, 2, 3]},
        },
    )
    assert outcome.ok, outcome.error
    assert outcome.result == {"sum": 6, "n": None}


async def test_args_is_an_alias_of_input_and_result_defaults_to_null(ctx: ActivityContext) -> None:
    assert (await run(ctx, {"source": "result = args = input", "args": [1]})).result == [1]
    assert (await run(ctx, {"source": "x = 1"})).result is None


async def test_exceptions_come_back_with_type_message_and_traceback(ctx: ActivityContext) -> None:
    outcome = await run(ctx, {"source": "import sys\nprint('debug', file=sys.stderr)\nint('x')"})
    assert outcome.error is not None
    assert outcome.error.type == "ValueError"
    assert "invalid literal" in outcome.error.message
    assert outcome.error.retryable is True
    assert "line 3" in outcome.error.details["traceback"]
    assert "debug" in outcome.error.details["stderr"]


async def test_snippets_can_fail_for_good_with_activity_error(ctx: ActivityContext) -> None:
    outcome = await run(
        ctx, {"source": "raise ActivityError('Rejected', 'bad order', False, {'id': 7})"}
    )
    assert outcome.error is not None
    assert (outcome.error.type, outcome.error.message) == ("Rejected", "bad order")
    assert outcome.error.retryable is False
    assert outcome.error.details["id"] == 7


async def test_syntax_errors_are_not_retryable(ctx: ActivityContext) -> None:
    outcome = await run(ctx, {"source": "x = 1\nresult = (\n"})
    assert outcome.error is not None
    assert (outcome.error.type, outcome.error.retryable) == ("SyntaxError", False)
    assert outcome.error.details["line"] >= 2


async def test_wall_time_limit(ctx: ActivityContext) -> None:
    outcome = await run(ctx, {"source": "while True:\n    pass", "timeout": "300ms"})
    assert outcome.error is not None
    assert (outcome.error.type, outcome.error.retryable) == ("CodeTimeout", True)
    assert outcome.error.details == {"timeout_s": 0.3}


@pytest.mark.parametrize(
    "source",
    [
        "x = bytearray(1024 * 1024 * 1024)",  # one huge allocation
        "chunks = []\nwhile True:\n    chunks.append(' ' * 1_000_000)",  # growth up to the limit
    ],
)
async def test_memory_limit(ctx: ActivityContext, source: str) -> None:
    outcome = await run(ctx, {"source": source, "memory_mb": 96, "timeout": "30s"})
    assert outcome.error is not None
    assert (outcome.error.type, outcome.error.retryable) == ("CodeMemoryLimitExceeded", False)
    assert outcome.error.details == {"memory_mb": 96}


async def test_unserialisable_results_fail_for_good(ctx: ActivityContext) -> None:
    outcome = await run(ctx, {"source": "result = {1, 2}"})
    assert outcome.error is not None
    assert (outcome.error.type, outcome.error.retryable) == ("ResultNotSerializable", False)
    nan = await run(ctx, {"source": "result = float('nan')"})
    assert nan.error is not None and nan.error.type == "ResultNotSerializable"


async def test_a_process_dying_without_reply_is_a_crash(ctx: ActivityContext) -> None:
    outcome = await run(ctx, {"source": "import os\nos._exit(3)"})
    assert outcome.error is not None
    assert (outcome.error.type, outcome.error.retryable) == ("CodeCrashed", True)
    assert outcome.error.details["exit_status"] == 3


async def test_sys_exit_is_reported_as_an_error(ctx: ActivityContext) -> None:
    outcome = await run(ctx, {"source": "import sys\nsys.exit(2)"})
    assert outcome.error is not None and outcome.error.type == "SystemExit"


async def test_the_child_sees_no_worker_environment(
    ctx: ActivityContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LINKFLOW_TEST_SECRET", "s3cret")
    outcome = await run(ctx, {"source": "import os\nresult = [dict(os.environ), os.getcwd()]"})
    assert outcome.ok, outcome.error
    env, cwd = outcome.result
    assert "LINKFLOW_TEST_SECRET" not in env
    assert cwd != os.getcwd() and "linkflow-code-" in cwd
    assert not Path(cwd).exists()  # the scratch directory is removed afterwards


async def test_a_timeout_kills_what_the_snippet_spawned(
    ctx: ActivityContext, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The sandbox refuses new processes and files outside the scratch directory; this
    # checks the cleanup that still holds without it (LINKFLOW_CODE_SANDBOX=off).
    monkeypatch.setenv("LINKFLOW_CODE_SANDBOX", "off")
    pid_file = tmp_path / "pid"
    source = (
        "import subprocess\n"
        "p = subprocess.Popen(['sleep', '60'])\n"
        f"open({str(pid_file)!r}, 'w').write(str(p.pid))\n"
        "while True:\n    pass\n"
    )
    outcome = await run(ctx, {"source": source, "timeout": "3s"})
    assert outcome.error is not None and outcome.error.type == "CodeTimeout"
    assert _wait_gone(int(pid_file.read_text()))


async def test_start_to_close_cancellation_kills_the_child(
    ctx: ActivityContext, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LINKFLOW_CODE_SANDBOX", "off")  # to write the pid file
    pid_file = tmp_path / "pid"
    source = f"import os\nopen({str(pid_file)!r}, 'w').write(str(os.getpid()))\nwhile True: pass"
    outcome = await run(ctx, {"source": source, "timeout": "60s"}, timeout_ms=3000)
    assert outcome.timed_out
    assert _wait_gone(int(pid_file.read_text()))


@pytest.mark.parametrize(
    "config",
    [{}, {"source": 5}, {"source": "x", "memory_mb": 1}, {"source": "x", "timeout": "later"}],
)
async def test_bad_configs_fail_for_good(ctx: ActivityContext, config: Any) -> None:
    outcome = await run(ctx, config)
    assert outcome.error is not None
    assert (outcome.error.type, outcome.error.retryable) == ("InvalidConfig", False)
