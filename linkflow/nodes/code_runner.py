"""The child side of the `code` node, run as `python -I -m linkflow.nodes.code_runner`
(it imports nothing of LinkFlow but the sandbox, standard library only).

Protocol: one JSON request on stdin {"source", "input", "memory_bytes", "cpu_seconds",
"sandbox"}; one JSON reply on stdout, {"ok": true, "result": ...} or {"ok": false, "error":
{"type", "message", "retryable", "details"}}, both with "sandbox": {"applied": [...],
"missing": {layer: why}}. The child confines itself (code_sandbox.py) before it compiles the
snippet. The snippet's own prints go to stderr, so they can never corrupt the reply.
"""

from __future__ import annotations

import builtins
import json
import os
import sys
import traceback
from typing import Any

from linkflow.nodes.code_sandbox import REQUIRED, apply

MEMORY_ERROR = "CodeMemoryLimitExceeded"
SANDBOX_UNAVAILABLE = "CodeSandboxUnavailable"


class ActivityError(Exception):
    """Raised by a snippet to choose its error type and whether a retry may help."""

    def __init__(
        self, type: str, message: str, retryable: bool = True, details: Any = None
    ) -> None:
        super().__init__(message)
        self.type = type
        self.message = message
        self.retryable = retryable
        self.details = details


def _error(type_: str, message: str, retryable: bool, details: Any = None) -> str:
    reply = {"type": type_, "message": message, "retryable": retryable, "details": details}
    try:
        return json.dumps({"ok": False, "error": reply}, allow_nan=False)
    except (TypeError, ValueError, RecursionError):
        reply["details"] = {"repr": repr(details)[:2000]}
        return json.dumps({"ok": False, "error": reply})


def _run(source: str, value: Any) -> str:
    try:
        code = compile(source, "<code>", "exec")
    except SyntaxError as exc:
        details = {"line": exc.lineno, "offset": exc.offset, "text": exc.text}
        return _error("SyntaxError", f"{exc.msg} (line {exc.lineno})", False, details)
    except (ValueError, TypeError) as exc:  # e.g. NUL bytes in the source
        return _error("SyntaxError", str(exc), False)
    namespace: dict[str, Any] = {
        "__name__": "__main__",
        "__builtins__": builtins,
        "input": value,
        "result": None,
        "ActivityError": ActivityError,
    }
    try:
        exec(code, namespace)
    except MemoryError:
        namespace.clear()  # free what the snippet held, so the reply can be built
        return _error(MEMORY_ERROR, "the code ran out of memory", False)
    except ActivityError as exc:
        return _error(str(exc.type), str(exc.message), bool(exc.retryable), exc.details)
    except BaseException as exc:  # SystemExit and KeyboardInterrupt are snippet errors too
        trace = "".join(traceback.format_exception(exc)[-6:])
        message = str(exc) or type(exc).__name__
        return _error(type(exc).__name__, message, True, {"traceback": trace[-4000:]})
    try:
        return json.dumps({"ok": True, "result": namespace.get("result")}, allow_nan=False)
    except (TypeError, ValueError, RecursionError) as exc:
        return _error("ResultNotSerializable", f"result is not JSON-serialisable: {exc}", False)


def main() -> None:
    request = json.loads(sys.stdin.buffer.read())
    mode = str(request.get("sandbox") or "strict")
    applied, missing = apply(
        mode, os.getcwd(), request.get("memory_bytes"), request.get("cpu_seconds")
    )
    reply = sys.stdout
    sys.stdout = sys.stderr
    lacking = {layer: why for layer, why in missing.items() if layer in REQUIRED}
    if mode == "strict" and lacking:
        text = _error(
            SANDBOX_UNAVAILABLE,
            "the code was not run: this machine cannot confine it ("
            + "; ".join(f"{layer}: {why}" for layer, why in lacking.items())
            + ")",
            False,
            {"missing": lacking},
        )
    else:
        try:
            text = _run(request["source"], request.get("input"))
        except MemoryError:
            text = _error(MEMORY_ERROR, "the code ran out of memory", False)
    sandbox = json.dumps({"applied": applied, "missing": missing})
    # `text` is a JSON object: the sandbox report goes in as its last member, without
    # parsing a result that may be megabytes again.
    reply.write(text[:-1] + f', "sandbox": {sandbox}}}')
    reply.flush()


if __name__ == "__main__":
    main()
