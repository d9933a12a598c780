"""`code`: a Python snippet run in a separate, isolated process.

Config: `source` (the snippet: it sees `input` and sets `result`); `input` (the value the
snippet sees; `args` is accepted as an alias); `timeout` (wall time, milliseconds or e.g.
"10s"; default 10 s); `memory_mb` (address-space limit of the child; default 256).

The child is `python -I` (no environment variables, user site or script directory) with an
empty environment and a fresh temporary working directory, in its own process group so a
timeout kills anything it spawned. JSON goes in on stdin and comes back on stdout (see
code_runner.py). Before the snippet runs, the child confines itself (code_sandbox.py): no
network, no exec or new processes, no files but the standard library and its scratch
directory, no signals outside, bounded memory, CPU, open files and file size.
LINKFLOW_CODE_SANDBOX: `strict` (default: a machine that cannot apply seccomp and Landlock
refuses to run snippets, CodeSandboxUnavailable), `best-effort` (runs with the layers it
has, logs which are missing), `off` (resource limits only).

Errors: the snippet's exception type and message (retryable, unless it raises
`ActivityError(type, message, retryable=False)`, which is in its namespace; what the
sandbox refuses is a PermissionError); SyntaxError (not retryable); CodeTimeout
(retryable); CodeMemoryLimitExceeded (not retryable); CodeSandboxUnavailable (not
retryable); CodeCrashed (retryable; the child died without a reply).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
import os
import signal
import sys
import tempfile
from typing import Any

from linkflow.nodes import _config as cfg
from linkflow.nodes.code_runner import MEMORY_ERROR
from linkflow.worker.context import ActivityContext
from linkflow.worker.errors import ActivityError
from linkflow.worker.registry import activity

log = logging.getLogger(__name__)

NODE_TYPE = "code"
CODE_TIMEOUT = "CodeTimeout"
CODE_MEMORY_LIMIT = MEMORY_ERROR
CODE_CRASHED = "CodeCrashed"
DEFAULT_TIMEOUT_MS = 10_000
DEFAULT_MEMORY_MB = 256
MIN_MEMORY_MB = 32  # below this the interpreter itself cannot start
MAX_OUTPUT_BYTES = 8 * 1024 * 1024  # a larger result could not be reported anyway
MAX_STDERR_BYTES = 16 * 1024

CONFIG_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "source": {"type": "string", "description": "Python code; reads `input`, sets `result`."},
        "input": {"description": "The value the code sees as `input`."},
        "args": {"description": "Alias of input."},
        "timeout": {
            "type": ["integer", "string"],
            "description": 'Wall-time limit: milliseconds or e.g. "10s"; default 10 s.',
        },
        "memory_mb": {
            "type": "integer",
            "minimum": MIN_MEMORY_MB,
            "description": f"Address-space limit of the child; default {DEFAULT_MEMORY_MB}.",
        },
    },
    "required": ["source"],
    "additionalProperties": False,
}


ENV_SANDBOX = "LINKFLOW_CODE_SANDBOX"
SANDBOX_MODES = ("strict", "best-effort", "off")
_warned: set[str] = set()


def sandbox_mode() -> str:
    mode = os.environ.get(ENV_SANDBOX) or "strict"
    if mode not in SANDBOX_MODES:
        raise ActivityError(
            "InvalidConfig",
            f"{ENV_SANDBOX} must be one of {', '.join(SANDBOX_MODES)}, not {mode!r}",
            retryable=False,
        )
    return mode


@activity(
    NODE_TYPE,
    config_schema=CONFIG_SCHEMA,
    description="A Python snippet in a separate, sandboxed process: it reads `input` and sets "
    "`result`. The sandbox (LINKFLOW_CODE_SANDBOX, default `strict`) refuses the network, "
    "new processes, files outside a scratch directory and the standard library, signals "
    "to other processes, and bounds wall time, CPU, memory, open files (64) and file size "
    "(64 MiB); what it refuses raises PermissionError in the snippet. Where seccomp or "
    "Landlock is missing (not Linux, old kernels) `strict` fails the node with "
    "CodeSandboxUnavailable; `best-effort` runs it with the layers there are.",
    output="The value the snippet assigned to `result`.",
)
async def code(ctx: ActivityContext, config: Any) -> Any:
    c = cfg.as_mapping(NODE_TYPE, config)
    source = c.get("source")
    if not isinstance(source, str):
        raise cfg.invalid(NODE_TYPE, "'source' must be a string of Python code")
    timeout_s = cfg.duration_s(NODE_TYPE, c, "timeout", DEFAULT_TIMEOUT_MS)
    memory_mb = c.get("memory_mb", DEFAULT_MEMORY_MB)
    if isinstance(memory_mb, bool) or not isinstance(memory_mb, int) or memory_mb < MIN_MEMORY_MB:
        raise cfg.invalid(NODE_TYPE, f"'memory_mb' must be an integer >= {MIN_MEMORY_MB}")
    value = c["input"] if "input" in c else c.get("args")
    request = {
        "source": source,
        "input": value,
        "memory_bytes": memory_mb * 1024 * 1024,
        "cpu_seconds": math.ceil(timeout_s) + 1,
        "sandbox": sandbox_mode(),
    }
    return await run_snippet(request, timeout_s, memory_mb)


async def run_snippet(request: dict[str, Any], timeout_s: float, memory_mb: int) -> Any:
    data = json.dumps(request, allow_nan=False).encode()
    with tempfile.TemporaryDirectory(prefix="linkflow-code-") as workdir:
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-I",
            "-m",
            "linkflow.nodes.code_runner",
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            cwd=workdir,
            env={"PATH": os.defpath, "LANG": "C.UTF-8"},
            start_new_session=True,  # its own process group: a timeout kills its children too
        )
        try:
            async with asyncio.timeout(timeout_s):
                stdout, stderr = await _communicate(proc, data)
        except TimeoutError:
            raise ActivityError(
                CODE_TIMEOUT,
                f"the code did not finish within {timeout_s:g} s",
                retryable=True,
                details={"timeout_s": timeout_s},
            ) from None
        finally:
            await _kill(proc)
    return _reply(proc.returncode, stdout, stderr, timeout_s, memory_mb)


async def _communicate(proc: asyncio.subprocess.Process, data: bytes) -> tuple[bytes, bytes]:
    assert proc.stdin is not None and proc.stdout is not None and proc.stderr is not None

    async def feed() -> None:
        assert proc.stdin is not None
        # The child may die before reading everything (a memory limit hit while starting).
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            proc.stdin.write(data)
            await proc.stdin.drain()
            proc.stdin.close()

    _, stdout, stderr, _ = await asyncio.gather(
        feed(),
        _read_capped(proc.stdout, MAX_OUTPUT_BYTES + 1),
        _read_capped(proc.stderr, MAX_STDERR_BYTES, keep_tail=True),
        proc.wait(),
    )
    return stdout, stderr


async def _read_capped(stream: asyncio.StreamReader, cap: int, *, keep_tail: bool = False) -> bytes:
    """Everything the child writes is drained (so it never blocks on a full pipe), but at
    most `cap` bytes are kept: the head of stdout, the tail of stderr."""
    kept = bytearray()
    while chunk := await stream.read(64 * 1024):
        kept += chunk
        if len(kept) > cap:
            kept = kept[-cap:] if keep_tail else kept[:cap]
    return bytes(kept)


async def _kill(proc: asyncio.subprocess.Process) -> None:
    # Always, not only on timeout: whatever the snippet spawned must not outlive it.
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    if proc.returncode is None:
        # Shielded: reaping must finish even when the activity itself is being cancelled.
        await asyncio.shield(proc.wait())


def _note_sandbox(report: Any) -> None:
    """Log once per process which confinement layers a child could not apply."""
    missing = report.get("missing") if isinstance(report, dict) else None
    if not missing:
        return
    key = json.dumps(missing, sort_keys=True)
    if key not in _warned:
        _warned.add(key)
        log.warning(
            "code snippets run without %s", "; ".join(f"{k}: {v}" for k, v in missing.items())
        )


def _reply(
    returncode: int | None, stdout: bytes, stderr: bytes, timeout_s: float, memory_mb: int
) -> Any:
    tail = stderr.decode(errors="replace")[-2000:]
    if len(stdout) > MAX_OUTPUT_BYTES:
        raise ActivityError(
            CODE_CRASHED, f"the code's reply is larger than {MAX_OUTPUT_BYTES} bytes", False
        )
    if returncode == 0 and stdout:
        try:
            reply = json.loads(stdout)
        except ValueError:
            reply = None
        if isinstance(reply, dict):
            _note_sandbox(reply.get("sandbox"))
        if isinstance(reply, dict) and reply.get("ok") is True:
            return reply.get("result")
        if isinstance(reply, dict) and isinstance(reply.get("error"), dict):
            error = reply["error"]
            details = error.get("details")
            if error.get("type") == CODE_MEMORY_LIMIT:
                details = {"memory_mb": memory_mb}
            elif tail and isinstance(details, dict):
                details = {**details, "stderr": tail}
            raise ActivityError(
                str(error.get("type") or "Error"),
                str(error.get("message") or ""),
                retryable=bool(error.get("retryable", True)),
                details=details,
            )
    if returncode == -signal.SIGXCPU:
        raise ActivityError(
            CODE_TIMEOUT, "the code used up its CPU time", True, {"timeout_s": timeout_s}
        )
    if "MemoryError" in tail or "Cannot allocate memory" in tail:
        raise ActivityError(
            CODE_MEMORY_LIMIT, "the code ran out of memory", False, {"memory_mb": memory_mb}
        )
    raise ActivityError(
        CODE_CRASHED,
        f"the code's process ended without a reply (exit status {returncode})",
        True,
        {"exit_status": returncode, "stderr": tail},
    )
