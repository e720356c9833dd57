"""Canonical JSON (RFC 8785) for everything that is hashed or signed, and a strict parser.

Two JSON texts that mean the same must hash the same, and one text must never mean
two things. So: what we hash is always `rfc8785` output, and what we parse rejects
duplicate keys, NaN/Infinity, invalid UTF-8, excessive size and excessive nesting,
instead of silently picking one interpretation (Rekor's canonicalisation lesson).
"""

from __future__ import annotations

import json
import re
from itertools import accumulate
from typing import Any

import rfc8785

from fairtrail.errors import InputError

__all__ = ["MAX_DEPTH", "MAX_JSON_BYTES", "canonical_json", "parse_json"]

MAX_JSON_BYTES = 1 << 20
MAX_DEPTH = 64
_STRINGS = re.compile(r'"(?:[^"\\]|\\.)*"')
_NOT_BRACKETS = re.compile(r"[^\[\]{}]+")


def canonical_json(value: Any) -> bytes:
    """RFC 8785 (JCS) serialisation of `value`."""
    try:
        return rfc8785.dumps(value)
    except (rfc8785.CanonicalizationError, TypeError, ValueError) as exc:
        raise InputError(f"value cannot be written as canonical JSON: {exc}") from exc


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise InputError(f"duplicate JSON key {key!r}")
        out[key] = value
    return out


def _reject_constant(name: str) -> Any:
    raise InputError(f"JSON value {name} is not allowed")


def parse_json(data: bytes | str, *, what: str = "JSON", max_bytes: int = MAX_JSON_BYTES) -> Any:
    """Parse `data` strictly; raise `InputError` naming `what` on anything doubtful."""
    raw = data.encode("utf-8") if isinstance(data, str) else data
    if len(raw) > max_bytes:
        raise InputError(f"{what} is {len(raw)} bytes; the limit is {max_bytes}")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(f"{what} is not valid UTF-8 (byte {exc.start})") from None
    _check_nesting(text, what)
    try:
        value = json.loads(text, object_pairs_hook=_no_duplicates, parse_constant=_reject_constant)
    except json.JSONDecodeError as exc:
        raise InputError(f"{what} is not valid JSON: {exc.msg} at line {exc.lineno}") from None
    except RecursionError:
        raise InputError(f"{what} is nested too deeply") from None
    _check_depth(value, what)
    return value


def _check_nesting(text: str, what: str) -> None:
    """Refuse deep nesting *before* the C parser sees it.

    `json.loads` recurses on the C stack and trusts the interpreter's recursion limit
    to stop it; py-evm (pulled in by web3) raises that limit to 100,000, and then
    100,000 nested brackets crash the process instead of raising RecursionError. So
    the depth is counted on the brackets outside strings first (linear, bounded by
    `max_bytes`).
    """
    brackets = _NOT_BRACKETS.sub("", _STRINGS.sub("", text))
    if len(brackets) <= MAX_DEPTH:
        return
    depth = max(accumulate(1 if ch in "[{" else -1 for ch in brackets))
    if depth > MAX_DEPTH:
        raise InputError(f"{what} is nested more than {MAX_DEPTH} levels deep")


def _check_depth(value: Any, what: str) -> None:
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise InputError(f"{what} is nested more than {MAX_DEPTH} levels deep")
        if isinstance(item, dict):
            stack.extend((v, depth + 1) for v in item.values())
        elif isinstance(item, list):
            stack.extend((v, depth + 1) for v in item)
