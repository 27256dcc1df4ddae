"""The one JSON reader for message bodies and stored changes: strict where Python's `json` is lax.

Python's `json` keeps the last of two duplicate keys (so a second `"permissions"` could quietly make
an item public), reads `NaN`, `Infinity` and `1e400` (an infinite float), recurses until
`RecursionError`, and hands back lone UTF-16 surrogates (`"\\ud800"`) that break every later
`encode()`. Coveo refuses all of these; so does this reader, each with its own reason.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable
from typing import Any

MAX_DEPTH = 32  # objects and arrays inside each other; an event needs about 12
# A JSON string literal, escapes included; unrolled: no per-character alternation.
STRING_PATTERN = r'"[^"\\]*(?:\\.[^"\\]*)*"'
_STRING = re.compile(STRING_PATTERN, re.DOTALL)
_INNERMOST = re.compile(r"\[[^\[\]{}]*\]|\{[^\[\]{}]*\}")
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F][0-9a-fA-F]{2}")


class JsonRefused(ValueError):
    """The text is not JSON this project accepts; `reason` says why, for a person."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


def loads(text: str | bytes, *, what: str = "message body") -> Any:
    """Parse `text`, refusing what Coveo refuses. Raises `JsonRefused` and nothing else."""
    if isinstance(text, bytes | bytearray):
        try:
            text = bytes(text).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise JsonRefused(f"{what} is not UTF-8 ({exc.reason} at byte {exc.start})") from None
    if not isinstance(text, str):
        raise JsonRefused(f"{what} is a {type(text).__name__}, not text")
    _check_depth(text, what)
    try:
        value = json.loads(
            text,
            object_pairs_hook=_object_without_duplicates,
            parse_constant=_refuse_constant,
            parse_float=_finite_float,
        )
    except JsonRefused as refused:
        path = _locate(text)
        where = f" (at {path})" if path else ""
        raise JsonRefused(f"{what} {refused.reason}{where}") from None
    except RecursionError:  # the depth check keeps this out of reach; a reason all the same
        raise JsonRefused(f"{what} nests objects and arrays deeper than {MAX_DEPTH} levels") from None
    except ValueError as exc:  # JSONDecodeError, and int strings past Python's digit limit
        raise JsonRefused(f"{what} is not JSON ({exc})") from None
    _check_surrogates(text, value, what)
    return value


def _check_depth(text: str, what: str) -> None:
    # Cheap first: nesting deeper than the limit needs more opening brackets than the limit.
    if text.count("[") + text.count("{") <= MAX_DEPTH:
        return
    # Strings out, then innermost pairs off, one level a pass: each pass is one regex (C speed),
    # and no more than MAX_DEPTH + 1 passes are made whatever the input.
    skeleton = _STRING.sub("", text)
    for _ in range(MAX_DEPTH):
        skeleton, removed = _INNERMOST.subn("", skeleton)
        if not removed:
            return  # flat enough, or brackets that do not pair: json.loads says which
    if _INNERMOST.search(skeleton):
        raise JsonRefused(f"{what} nests objects and arrays deeper than {MAX_DEPTH} levels")


def _object_without_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for key, value in pairs:
        if key in found:
            raise JsonRefused(
                f"has the key {key!r} twice in one object; JSON readers disagree on which one wins, "
                "so send each key once"
            )
        found[key] = value
    return found


def _refuse_constant(name: str) -> Any:
    raise JsonRefused(f"holds {name}, which is not JSON; send a number, or leave the value out")


def _finite_float(text: str) -> float:
    value = float(text)
    if math.isinf(value):
        raise JsonRefused(f"holds the number {text[:40]}, which is too large for a 64-bit float")
    return value


class _Marker:
    """Stands, in a lenient re-read, where the strict read refused something."""


def _locate(text: str) -> str | None:
    """Where the strict read's refusal sits (a path like `data.document.size`), found by reading
    again leniently with a marker in its place; only on the way to a refusal, so speed is no matter."""
    marker = _Marker()

    def pairs(items: list[tuple[str, Any]]) -> dict[str, Any]:
        found: dict[str, Any] = {}
        for key, value in items:
            found[key] = marker if key in found else value
        return found

    try:
        value = json.loads(
            text,
            object_pairs_hook=pairs,
            parse_constant=lambda _: marker,
            parse_float=lambda t: marker if math.isinf(float(t)) else float(t),
        )
    except (ValueError, RecursionError):
        return None
    return _path_of(value, lambda node: node is marker)


def _check_surrogates(text: str, value: Any, what: str) -> None:
    """A lone surrogate can arrive escaped (`\\ud800`) or, in a Python string, raw."""
    if _SURROGATE_ESCAPE.search(text) is None and _encodes(text):
        return
    path = _path_of(value, lambda node: isinstance(node, str) and not _encodes(node))
    if path is not None:
        where = f" at {path}" if path else ""
        raise JsonRefused(
            f"{what} holds an unpaired UTF-16 surrogate{where}; text must be valid Unicode "
            "(a surrogate escape like \\ud83d must be followed by its low half, like \\ude00)"
        )


def _encodes(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _path_of(value: Any, bad: Callable[[Any], bool]) -> str | None:
    """Where the first node (or object key) for which `bad` holds sits ("" for the top), or None."""
    stack: list[tuple[str, Any]] = [("", value)]
    while stack:
        path, node = stack.pop()
        if bad(node):
            return path
        if isinstance(node, dict):
            for key, child in node.items():
                shown = key.encode("utf-8", "backslashreplace").decode()
                if bad(key):
                    return f"{path}.{shown}".lstrip(".")
                stack.append((f"{path}.{shown}".lstrip("."), child))
        elif isinstance(node, list):
            stack.extend((f"{path}[{index}]", child) for index, child in enumerate(node))
    return None


def printable(text: str, limit: int = 200) -> str:
    """`text` made safe to put in a reason, a log line or an SQS attribute: no lone surrogates,
    no control characters, at most `limit` characters."""
    safe = text[: limit + 1].encode("utf-8", "backslashreplace").decode("utf-8")
    if not safe.isprintable():  # most text is: no character to look at one by one
        safe = "".join(c if c.isprintable() or c == " " else repr(c)[1:-1] for c in safe)
    return safe if len(safe) <= limit else safe[: limit - 1] + "…"
