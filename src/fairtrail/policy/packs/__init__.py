"""Policy packs shipped with fairtrail: regulations' obligations as CEL rules, each citing
the article or item it implements. `fairtrail policy add --pack NAME` records one."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from fairtrail.errors import InputError

__all__ = ["pack_path", "packs"]


def packs() -> list[str]:
    """Names of the shipped packs."""
    return sorted(
        Path(f.name).stem
        for f in resources.files(__package__).iterdir()
        if f.name.endswith(".yaml")
    )


def pack_path(name: str) -> Path:
    if name not in packs():
        raise InputError(f"no policy pack {name!r}; shipped packs: {', '.join(packs())}")
    return Path(str(resources.files(__package__).joinpath(f"{name}.yaml")))
