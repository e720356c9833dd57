"""Shared CLI state: where the trail is, who is acting, how to print."""

from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from fairtrail.crypto.canonical import MAX_JSON_BYTES
from fairtrail.crypto.keys import SigningKey
from fairtrail.errors import InputError
from fairtrail.trail import Trail

DEFAULT_TRAIL = ".fairtrail"

#: The signer options every recording command takes (resolved by `State.signer`).
ActorOpt = Annotated[str | None, typer.Option("--as", help="Actor whose key signs.")]
KeyOpt = Annotated[Path | None, typer.Option(help="Sign with this PEM private key.")]


def read_input(path: str | Path, limit: int = MAX_JSON_BYTES, what: str = "file") -> bytes:
    """A file's bytes (or stdin's for "-"), never more than `limit`: every CLI input is
    read here, so a huge file is refused before it is in memory."""
    path = str(path)
    if path == "-":
        data = sys.stdin.buffer.read(limit + 1)
    else:
        p = Path(path)
        try:
            if p.stat().st_size > limit:
                raise InputError(f"{path} is larger than the {limit}-byte limit")
            with p.open("rb") as f:
                data = f.read(limit + 1)
        except FileNotFoundError:
            raise InputError(f"no such file: {path}") from None
        except IsADirectoryError:
            raise InputError(f"{path} is a folder, not a {what}") from None
        except OSError as exc:
            raise InputError(f"cannot read {path}: {exc.strerror}") from None
    if len(data) > limit:
        raise InputError(f"{path} is larger than the {limit}-byte limit")
    return data


def print_json(value: Any) -> None:
    """Machine-readable output: indented JSON on stdout, non-ASCII kept as is."""
    sys.stdout.write(json.dumps(value, indent=2, ensure_ascii=False) + "\n")


@dataclass
class State:
    trail_path: Path = field(
        default_factory=lambda: Path(os.environ.get("FAIRTRAIL_TRAIL", DEFAULT_TRAIL))
    )
    wait: float = 10.0
    verbose: bool = False
    out: Console = field(default_factory=lambda: Console(highlight=False, soft_wrap=True))
    err: Console = field(
        default_factory=lambda: Console(stderr=True, highlight=False, soft_wrap=True)
    )

    def open(self, *, writable: bool = True) -> Trail:
        return Trail.open(self.trail_path, writable=writable, lock_timeout=self.wait)

    def signer(self, trail: Trail, actor: str | None, key_file: Path | None) -> SigningKey:
        """The key to sign with: --key FILE, else --as NAME, else $FAIRTRAIL_ACTOR, else admin."""
        if key_file is not None:
            return SigningKey.load(key_file)
        name = actor or os.environ.get("FAIRTRAIL_ACTOR") or trail.config.admin_name
        return trail.actor_key(name)


STATE = State()
