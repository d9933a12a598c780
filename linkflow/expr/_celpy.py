"""The celpy boundary: the only module of `linkflow.expr` that imports celpy.

celpy's annotations are loose (values are typed as broad unions, internals as Any), and
some of what we rely on is internal to cel-python 0.5.0 (the transpiler's code object and
base activation, the parser singleton). Everything like that lives here, behind a small
typed surface:

- `parse(source)` -> lark tree (lark itself is typed),
- `Program(tree).run(activation)` -> raw celpy value,
- `to_cel` / `from_cel` value conversion,
- `decode_string_literal`, `FUNCTION_NAMES` for the static analysis,
- `CelFailure`, the one internal exception, carrying a human-readable reason.
"""

from __future__ import annotations

import base64
import datetime
import re
import sys
from collections.abc import Iterable, Mapping
from functools import cache
from typing import Any, Final

import celpy
import celpy.evaluation
import lark
import lark.exceptions
from celpy import celtypes
from celpy.celparser import CELParser
from celpy.evaluation import CELEvalError, TranspilerTree, celstr


class CelFailure(Exception):
    """A compile or evaluation problem; `reason` is meant for humans."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


# Names celpy resolves as functions or type values (size, int, string, matches, ...).
FUNCTION_NAMES: Final[frozenset[str]] = frozenset(
    name for name in celpy.evaluation.base_functions if name[:1].isalpha()
)

_INT64_MIN: Final = -(2**63)
_INT64_MAX: Final = 2**63 - 1


# ---------------------------------------------------------------------------- parsing


@cache
def _runtime() -> tuple[lark.Lark, celpy.Environment]:
    """Our own parser and environment, built once, on first use (about 0.1 s).

    celpy keeps one global Lark parser (`CELParser.CEL_PARSER`) whose tree class is
    fixed by whoever builds it first. The transpiling runner (three times faster than
    the interpreter) needs `TranspilerTree` nodes, so we build a private parser and put
    the global back as we found it: other celpy users in the process keep working, and
    so do we whatever they did first.
    """
    saved_parser = CELParser.CEL_PARSER
    saved_limit = sys.getrecursionlimit()
    try:
        CELParser.CEL_PARSER = None
        CELParser(tree_class=TranspilerTree)
        parser = CELParser.CEL_PARSER
        # Built while our parser is installed, so the environment builds no other.
        environment = celpy.Environment(runner_class=celpy.CompiledRunner)
    finally:
        CELParser.CEL_PARSER = saved_parser
        # Environment() sets the limit to 2500 unconditionally; never lower a caller's.
        sys.setrecursionlimit(max(saved_limit, sys.getrecursionlimit()))
    if parser is None:  # pragma: no cover - CELParser always builds one
        raise RuntimeError("celpy did not build a parser")
    return parser, environment


def parse(source: str) -> lark.Tree[lark.Token]:
    """Parse CEL source into celpy's lark tree; raises CelFailure on a syntax error."""
    parser, _ = _runtime()
    try:
        return parser.parse(source)
    except lark.exceptions.UnexpectedInput as ex:
        raise CelFailure(_syntax_reason(ex, source)) from None
    except lark.exceptions.LarkError as ex:
        raise CelFailure(f"syntax error: {ex}") from None


def _syntax_reason(ex: lark.exceptions.UnexpectedInput, source: str) -> str:
    if isinstance(ex, lark.exceptions.UnexpectedToken):
        token = ex.token
        what = (
            "unexpected end of expression"
            if token.type == "$END"
            else f"unexpected {token.value!r}"
        )
    elif isinstance(ex, lark.exceptions.UnexpectedCharacters):
        what = f"unexpected character {ex.char!r}"
    else:
        what = "unexpected end of expression"
    line, column = getattr(ex, "line", None), getattr(ex, "column", None)
    if not isinstance(column, int) or column < 1:
        return f"syntax error: {what}"
    if "\n" in source and isinstance(line, int):
        return f"syntax error at line {line}, column {column}: {what}"
    return f"syntax error at column {column}: {what}"


def decode_string_literal(token: lark.Token) -> str:
    """The value of a STRING_LIT token, decoded exactly as celpy decodes it."""
    return str(celstr(token))


# ---------------------------------------------------------------------------- programs

# The transpiled code runs in a namespace like celpy.evaluation's module globals. celpy
# itself executes it *in* those globals, storing the activation there, which is not safe
# if two threads evaluate at once; a fresh copy per run is (and costs about a microsecond).
_EXEC_GLOBALS: Final[dict[str, Any]] = dict(vars(celpy.evaluation))


_ACTIVATION_ATTRIBUTES: Final[frozenset[str]] = frozenset(dir(celpy.evaluation.Activation)) | {
    "identifiers",
    "functions",
    "package",
}


# celpy 0.5.0 transpiles has(e.f) to a Python bool, which its own ternary and `!` refuse
# (`has(x) ? a : b` fails with "Unexpected <class 'bool'> ? ..."): wrap it in BoolType.
_HAS_LINE: Final = re.compile(
    r"^(ex_\d+ = lambda activation: )(not isinstance\(.*, CELEvalError\))$", re.MULTILINE
)


def _with_cel_bool_has(source: str, code: Any) -> Any:
    fixed, count = _HAS_LINE.subn(r"\1celpy.celtypes.BoolType(\2)", source)
    return compile(fixed, "<cel>", "exec") if count else code


class Program:
    """A transpiled CEL program, reusable for any number of evaluations."""

    __slots__ = ("_base_activation", "_code")

    def __init__(self, tree: lark.Tree[lark.Token]) -> None:
        _, environment = _runtime()
        try:
            runner = environment.program(tree)
        except RecursionError:
            raise CelFailure("expression nested too deeply") from None
        except Exception as ex:
            raise CelFailure(f"unsupported expression ({_python_reason(ex)})") from None
        transpiler = runner.tp  # type: ignore[attr-defined]
        self._code: Any = _with_cel_bool_has(transpiler.source_text, transpiler.executable_code)
        self._base_activation: Any = transpiler.base_activation

    def run(self, activation: Mapping[str, object]) -> object:
        """Evaluate with top-level names bound to CEL values; raises CelFailure."""
        # What celpy's Transpiler.evaluate does, minus its shared globals and its
        # ERROR-level log line for every failed evaluation (a missing key is normal).
        # A fresh activation chained to the program's base one (which holds the type
        # annotations), as celpy builds one for each macro: cheaper than clone().
        bound = self._base_activation.nested_activation(vars=activation)
        # Top-level names also as plain attributes: the transpiled code reads
        # `activation.nodes`, and Activation.__getattr__ (package-aware name resolution
        # plus a typing.cast over a Union built on each call) is otherwise about half
        # the cost of a simple condition. Macros' nested activations still resolve
        # through `identifiers`, loaded above, so both ways see the same values.
        attributes = vars(bound)
        for name, bound_value in activation.items():
            if name not in _ACTIVATION_ATTRIBUTES:
                attributes[name] = bound_value
        namespace = dict(_EXEC_GLOBALS)
        namespace["base_activation"] = bound
        try:
            exec(self._code, namespace)
        except CELEvalError as ex:
            raise CelFailure(eval_reason(ex)) from None
        except RecursionError:
            raise CelFailure("expression nested too deeply") from None
        except Exception as ex:
            raise CelFailure(_python_reason(ex)) from None
        result: object = namespace["CEL"]
        if isinstance(result, CELEvalError):
            raise CelFailure(eval_reason(result))
        return result


# ---------------------------------------------------------------------------- error text

_CEL_TYPE_NAMES: Final[dict[str, str]] = {
    "BoolType": "bool",
    "IntType": "int",
    "UintType": "uint",
    "DoubleType": "double",
    "StringType": "string",
    "BytesType": "bytes",
    "ListType": "list",
    "MapType": "map",
    "NoneType": "null_type",
    "TypeType": "type",
    "DurationType": "google.protobuf.Duration",
    "TimestampType": "google.protobuf.Timestamp",
    "bool": "bool",
    "int": "int",
    "float": "double",
    "str": "string",
    "bytes": "bytes",
    "list": "list",
    "dict": "map",
}
_CELTYPE_CLASS = re.compile(r"<class 'celpy\.celtypes\.(\w+)'>")
_CELTYPE_NAME = re.compile(
    r"\b((?:Bool|Int|Uint|Double|String|Bytes|List|Map|Duration|Timestamp|Type)Type)\b"
)
_CELTYPE_REPR = re.compile(r"\b(?:Int|Uint|Double|Bool|String|Bytes|List|Map)Type\((.*?)\)")
_NO_GET = re.compile(r"'(\w+)' object has no attribute 'get'")


def _cel_type_name(python_name: str) -> str:
    return _CEL_TYPE_NAMES.get(python_name, python_name)


def _clean(text: str) -> str:
    """Python error text with celpy's class names and reprs turned into CEL words."""
    text = _CELTYPE_CLASS.sub(lambda m: _cel_type_name(m.group(1)), text)
    text = _CELTYPE_REPR.sub(r"\1", text)
    return _CELTYPE_NAME.sub(lambda m: _cel_type_name(m.group(1)), text)


def _detail(exc_args: object) -> str:
    """The first argument of the Python exception celpy wrapped, in CEL words."""
    if isinstance(exc_args, tuple) and exc_args:
        first = exc_args[0]
        text = first.decode("utf-8", "replace") if isinstance(first, bytes) else str(first)
        return _clean(text)
    return ""


def _overload_reason(exc_args: object) -> str:
    raw = str(exc_args[0]) if isinstance(exc_args, tuple) and exc_args else ""
    if raw.startswith("no such overload:"):
        # "no such overload: IntType(6) <class '...IntType'> != StringType('5') <...>"
        types = [_cel_type_name(name) for name in _CELTYPE_CLASS.findall(raw)]
        if len(types) == 2:
            return f"type mismatch: no matching overload between {types[0]} and {types[1]}"
    detail = _detail(exc_args)
    if not detail or "NotImplementedType" in detail:
        return "type mismatch: no matching overload"
    return f"type mismatch: {detail}"


def _key_text(exc_args: object) -> str:
    if isinstance(exc_args, tuple) and exc_args:
        key = exc_args[0]
        if isinstance(key, str):
            return repr(str(key))
        if isinstance(key, int) and not isinstance(key, bool):
            return str(int(key))
        return str(key)
    return "?"


def eval_reason(error: CELEvalError) -> str:
    """A readable reason from celpy's CELEvalError(message, exc_type, exc_args)."""
    args = error.args
    message = str(args[0]) if args else "evaluation error"
    exc_args = args[2] if len(args) > 2 else None
    if message == "evaluation error" and isinstance(exc_args, tuple) and exc_args:
        # The stock runner wraps the real error; unwrap it.
        return eval_reason(CELEvalError(*exc_args))
    if message.startswith(("no such member in mapping", "no such key")):
        return f"no such key {_key_text(exc_args)}"
    if message.startswith("undeclared reference to"):
        return message.split(" (in ", 1)[0]
    if message in ("divide by zero", "modulus or divide by zero"):
        return "division by zero"
    if message.startswith(("no such overload", "found no matching overload")):
        return _overload_reason(exc_args)
    if message == "return error for overflow":
        detail = _detail(exc_args)
        return "integer overflow" if detail in ("", "overflow") else f"invalid value: {detail}"
    if message == "invalid_argument":
        detail = _detail(exc_args)
        return "index out of range" if "out of range" in detail else f"invalid argument: {detail}"
    if message == "match error":
        return f"invalid regular expression: {_detail(exc_args)}"
    if message == "unbound function":
        return f"unknown function {_key_text(exc_args)}"
    detail = _detail(exc_args)
    return f"{message}: {detail}" if detail and detail != message else message


def _python_reason(ex: Exception) -> str:
    """A readable reason for a plain Python exception escaping celpy."""
    if isinstance(ex, CELEvalError):
        return eval_reason(ex)
    text = str(ex)
    no_get = _NO_GET.search(text)
    if isinstance(ex, AttributeError) and no_get:
        kind = _cel_type_name(no_get.group(1))
        return f"type mismatch: {kind} does not support field selection"
    return f"{type(ex).__name__}: {_clean(text)}" if text else type(ex).__name__


# ---------------------------------------------------------------------------- conversion

_TRUE: Final = celtypes.BoolType(True)
_FALSE: Final = celtypes.BoolType(False)


def to_cel(value: Any) -> Any:
    """A JSON-like Python value as celpy values; raises CelFailure for anything else.

    The common exact types build celpy objects through the base constructors: celpy's
    own constructors re-check their input and wrap a range check in a fresh decorator on
    every call, which makes them ten times slower than this.
    """
    kind = type(value)
    if kind is str:
        return str.__new__(celtypes.StringType, value)
    if kind is dict:
        return _map_to_cel(value)
    if kind is list or kind is tuple:
        return _list_to_cel(value)
    if kind is bool:
        return _TRUE if value else _FALSE
    if kind is int:
        return _int_to_cel(value)
    if kind is float:
        return float.__new__(celtypes.DoubleType, value)
    if value is None:
        return None
    return _other_to_cel(value)


def cel_map(items: Mapping[str, Any]) -> Any:
    """A CEL map from string keys and values that are already CEL values."""
    converted = celtypes.MapType()
    entries: dict[Any, Any] = {str.__new__(celtypes.StringType, k): v for k, v in items.items()}
    dict.update(converted, entries)
    return converted


def _map_to_cel(value: Mapping[Any, Any]) -> Any:
    converted = celtypes.MapType()
    entries: dict[Any, Any] = {_key_to_cel(k): to_cel(v) for k, v in value.items()}
    dict.update(converted, entries)
    return converted


def _list_to_cel(value: Iterable[Any]) -> Any:
    items: list[Any] = [to_cel(item) for item in value]
    return celtypes.ListType(items)


def _int_to_cel(value: int) -> object:
    if _INT64_MIN <= value <= _INT64_MAX:
        return int.__new__(celtypes.IntType, value)
    raise CelFailure(f"integer {value} is outside the 64-bit range of CEL")


def _key_to_cel(key: object) -> object:
    if isinstance(key, str):
        return str.__new__(celtypes.StringType, key)
    if isinstance(key, bool):
        return _TRUE if key else _FALSE
    if isinstance(key, int):
        return _int_to_cel(key)
    raise CelFailure(f"a map key of type {type(key).__name__} cannot be used in an expression")


def _other_to_cel(value: object) -> object:
    """Subclasses and non-JSON types that still have a faithful CEL value."""
    if isinstance(value, bool):
        return _TRUE if value else _FALSE
    if isinstance(value, int):
        return _int_to_cel(int(value))
    if isinstance(value, float):
        return float.__new__(celtypes.DoubleType, float(value))
    if isinstance(value, str):
        return str.__new__(celtypes.StringType, str(value))
    if isinstance(value, Mapping):
        return _map_to_cel(value)
    if isinstance(value, list | tuple):
        return _list_to_cel(value)
    if isinstance(value, datetime.datetime):
        if value.tzinfo is None:
            raise CelFailure("a datetime without a time zone cannot be used in an expression")
        return celtypes.TimestampType(value)
    if isinstance(value, datetime.timedelta):
        return celtypes.DurationType(value)
    raise CelFailure(f"a value of type {type(value).__name__} cannot be used in an expression")


def from_cel(value: object) -> Any:
    """A celpy result as plain JSON-like Python.

    Values JSON has no word for become strings, as celpy's own JSON encoder does:
    bytes as base64, timestamps as RFC 3339, durations as CEL duration text ("1.5s"),
    types as their CEL name ("int").
    """
    if value is None:
        return None
    if isinstance(value, bool | celtypes.BoolType):  # BoolType is an int, not a bool
        return bool(value)
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value)
    if isinstance(value, str):
        return str(value)
    if isinstance(value, dict):
        return {_key_from_cel(k): from_cel(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [from_cel(item) for item in value]
    return _other_from_cel(value)


def _key_from_cel(key: object) -> str | int | bool:
    if isinstance(key, bool | celtypes.BoolType):
        return bool(key)
    if isinstance(key, int):
        return int(key)
    return str(key)


def _other_from_cel(value: object) -> Any:
    if isinstance(value, bytes):
        return base64.b64encode(value).decode("ascii")
    if isinstance(value, datetime.datetime):
        text = value.isoformat()
        return text[:-6] + "Z" if text.endswith("+00:00") else text
    if isinstance(value, datetime.timedelta):
        return format_duration(value)
    if isinstance(value, type):
        return _cel_type_name(value.__name__)
    if isinstance(value, CELEvalError):
        raise CelFailure(eval_reason(value))
    raise CelFailure(f"the result is not a value (a {type(value).__name__})")


def format_duration(value: datetime.timedelta) -> str:
    """A duration in CEL's text form: seconds with an 's', fractions without trailing 0s."""
    micros = (value.days * 86_400 + value.seconds) * 1_000_000 + value.microseconds
    sign = "-" if micros < 0 else ""
    seconds, fraction = divmod(abs(micros), 1_000_000)
    if fraction:
        return f"{sign}{seconds}.{fraction:06d}".rstrip("0") + "s"
    return f"{sign}{seconds}s"
