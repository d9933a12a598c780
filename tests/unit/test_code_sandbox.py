"""The `code` node's sandbox (linkflow/nodes/code_sandbox.py): every escape a snippet tries
is refused by the kernel, while ordinary snippets (threads, the standard library, files in
the scratch directory) still work."""

from __future__ import annotations

import io
import json
import os
import socket
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from linkflow.nodes import code_runner
from linkflow.nodes.code import code as code_handler
from linkflow.worker import ActivityContext, HandlerRegistry, Outcome, execute

_registry = HandlerRegistry()
_registry.register("code", code_handler)


@pytest.fixture
async def ctx() -> AsyncIterator[ActivityContext]:
    context = ActivityContext(execution_id="e1", activity_id="a1", attempt=1, node_id="calc")
    yield context
    await context.resources.aclose()


@pytest.fixture
def listener() -> Iterator[int]:
    """A TCP port on 127.0.0.1 that accepts connections: a snippet must not reach it."""
    server = socket.create_server(("127.0.0.1", 0))
    try:
        yield server.getsockname()[1]
    finally:
        server.close()


async def run(ctx: ActivityContext, source: str) -> Outcome:
    return await execute(_registry.get("code"), ctx, {"source": source, "timeout": "20s"})


def _refused(outcome: Outcome) -> str:
    assert outcome.error is not None, f"the escape worked: {outcome.result!r}"
    return f"{outcome.error.type}: {outcome.error.message}"


async def test_no_network_whatever_the_route(ctx: ActivityContext, listener: int) -> None:
    tcp = await run(ctx, f"import socket\nsocket.create_connection(('127.0.0.1', {listener}), 2)")
    assert _refused(tcp).startswith("PermissionError")
    udp = await run(ctx, "import socket\nsocket.socket(socket.AF_INET, socket.SOCK_DGRAM)")
    assert _refused(udp).startswith("PermissionError")
    raw = await run(ctx, "import ctypes\nresult = ctypes.CDLL(None).socket(2, 1, 0)")
    assert raw.ok and raw.result == -1  # libc's socket() straight: refused all the same


@pytest.mark.parametrize(
    "source",
    [
        "import subprocess\nsubprocess.run(['/bin/true'])",
        "import os\nos.system('true')",
        "import os\nos.fork()",
        "import os\nos.execv('/bin/true', ['true'])",
        "import os\nos.posix_spawn('/bin/true', ['true'], {})",
    ],
)
async def test_no_new_processes(ctx: ActivityContext, source: str) -> None:
    outcome = await run(ctx, source)
    if outcome.ok:  # os.system reports the failure as a status, not an exception
        assert outcome.result is None and "system" in source
        status = await run(ctx, "import os\nresult = os.system('true')")
        assert status.ok and status.result != 0
    else:
        assert _refused(outcome).startswith("PermissionError")


async def test_threads_the_standard_library_and_the_scratch_directory_work(
    ctx: ActivityContext,
) -> None:
    source = (
        "import threading, decimal, sqlite3, zoneinfo\n"
        "seen = []\n"
        "t = threading.Thread(target=lambda: seen.append(1))\n"
        "t.start(); t.join()\n"
        "open('scratch.txt', 'w').write('kept')\n"
        "db = sqlite3.connect('x.db'); db.execute('create table t (x)')\n"
        "result = [seen, open('scratch.txt').read(), str(decimal.Decimal('1.5'))]"
    )
    outcome = await run(ctx, source)
    assert outcome.ok, outcome.error
    assert outcome.result == [[1], "kept", "1.5"]


async def test_no_worker_environment_files_or_memory(
    ctx: ActivityContext, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("LINKFLOW_TEST_SECRET", "s3cret")
    secret_file = tmp_path / "credentials"
    secret_file.write_text("s3cret")
    env = await run(ctx, "import os\nresult = dict(os.environ)")
    assert env.ok and "LINKFLOW_TEST_SECRET" not in env.result
    for path in (
        "/proc/{os.getppid()}/environ",
        "/proc/{os.getppid()}/mem",
        str(secret_file),
        "/etc/passwd",
        os.path.expanduser("~"),
        str(Path.cwd()),
    ):
        source = (
            f"import os\np = f'{path}'\n"
            "result = os.listdir(p) if os.path.isdir(p) else open(p, 'rb').read(10)"
        )
        assert _refused(await run(ctx, source)).startswith("PermissionError"), path


async def test_no_writes_outside_the_scratch_directory(ctx: ActivityContext) -> None:
    target = Path("/tmp") / f"linkflow-escape-{uuid.uuid4().hex}"
    outcome = await run(ctx, f"open({str(target)!r}, 'w').write('x')")
    assert _refused(outcome).startswith("PermissionError")
    assert not target.exists()


async def test_no_signals_to_the_worker(ctx: ActivityContext) -> None:
    outcome = await run(ctx, "import os, signal\nos.kill(os.getppid(), signal.SIGTERM)")
    assert _refused(outcome).startswith("PermissionError")


async def test_open_files_and_file_size_are_bounded(ctx: ActivityContext) -> None:
    files = await run(ctx, "handles = [open(f'f{i}', 'w') for i in range(1000)]")
    assert "Too many open files" in _refused(files)
    big = await run(ctx, "open('big', 'wb').write(b'x' * (65 * 1024 * 1024))")
    assert _refused(big).split(":")[0] in {"OSError", "CodeCrashed"}


def _main(monkeypatch: pytest.MonkeyPatch, mode: str, missing: dict[str, str]) -> dict[str, Any]:
    """code_runner.main in this process, its sandbox replaced by one that lacks layers."""
    monkeypatch.setattr(code_runner, "apply", lambda *args: (["rlimits"], missing))
    request = {"source": "result = 42", "input": None, "sandbox": mode}
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(json.dumps(request).encode())))
    out = io.StringIO()
    monkeypatch.setattr(sys, "stdout", out)
    code_runner.main()
    reply: dict[str, Any] = json.loads(out.getvalue())
    return reply


def test_strict_refuses_to_run_without_the_required_layers(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    missing = {"landlock": "landlock: Function not implemented", "netns": "unshare: EPERM"}
    reply = _main(monkeypatch, "strict", missing)
    assert reply["ok"] is False and reply["error"]["type"] == "CodeSandboxUnavailable"
    assert "landlock" in reply["error"]["message"] and not reply["error"]["retryable"]
    assert reply["sandbox"] == {"applied": ["rlimits"], "missing": missing}
    # The network namespace alone is not required; best-effort runs with what there is.
    assert _main(monkeypatch, "strict", {"netns": "unshare: EPERM"})["result"] == 42
    assert _main(monkeypatch, "best-effort", missing)["result"] == 42


async def test_an_unknown_sandbox_mode_is_a_configuration_error(
    ctx: ActivityContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LINKFLOW_CODE_SANDBOX", "lenient")
    outcome = await run(ctx, "result = 1")
    assert outcome.error is not None and outcome.error.type == "InvalidConfig"
    assert "LINKFLOW_CODE_SANDBOX" in outcome.error.message
