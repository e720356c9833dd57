"""Turn a pydantic ValidationError into the one line a user can act on."""

from __future__ import annotations

from pydantic import ValidationError


def first_error(exc: ValidationError, default_place: str) -> str:
    """`<where>: <what>` for the first problem pydantic found."""
    first = exc.errors()[0]
    where = ".".join(str(p) for p in first["loc"]) or default_place
    return f"{where}: {first['msg']}"
