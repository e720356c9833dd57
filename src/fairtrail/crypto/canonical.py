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
_STRINGS = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"')  # unrolled: one fast run per string
_NOT_BRACKETS = re.compile(r"[^\[\]{}]+")


def canonical_json(value: Any) -> bytes:
    """RFC 8785 (JCS) serialisation of `value`."""
    try:
        return rfc8785.dumps(value)
    except (rfc8785.CanonicalizationError, TypeError, ValueError) as exc:
        raise InputError(f"value cannot be written as canonical JSON: {exc}") from exc


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out = dict(pairs)  # built in C; a duplicate key shows as a shorter dict
    if len(out) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise InputError(f"duplicate JSON key {key!r}")
            seen.add(key)
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
    shallow = _check_nesting(text, what)
    try:
        value = _DECODER.decode(text)
    except json.JSONDecodeError as exc:
        raise InputError(f"{what} is not valid JSON: {exc.msg} at line {exc.lineno}") from None
    except RecursionError:
        raise InputError(f"{what} is nested too deeply") from None
    if not shallow:
        _check_depth(value, what)
    return value


_DECODER = json.JSONDecoder(object_pairs_hook=_no_duplicates, parse_constant=_reject_constant)


def _check_nesting(text: str, what: str) -> bool:
    """Refuse deep nesting *before* the C parser sees it.

    `json.loads` recurses on the C stack and trusts the interpreter's recursion limit
    to stop it; py-evm (pulled in by web3) raises that limit to 100,000, and then
    100,000 nested brackets crash the process instead of raising RecursionError. So
    the depth is counted on the brackets outside strings first (linear, bounded by
    `max_bytes`). Returns True when that count proves the depth bounded, so the
    walk over the parsed value can be skipped.
    """
    if text.count("[") + text.count("{") < MAX_DEPTH:  # fast path: most documents
        return True  # fewer openings than MAX_DEPTH: no value can be nested deeper
    # The string pattern is JSON's own string rule, applied from the start of the text,
    # so it pairs quotes as the parser does; after an unpaired quote (malformed input)
    # brackets are over-counted, which only makes the check stricter.
    brackets = _NOT_BRACKETS.sub("", _STRINGS.sub("", text))
    if len(brackets) > 2 * MAX_DEPTH:
        depth = max(accumulate(1 if ch in "[{" else -1 for ch in brackets))
        if depth > MAX_DEPTH:
            raise InputError(f"{what} is nested more than {MAX_DEPTH} levels deep")
    return True


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
