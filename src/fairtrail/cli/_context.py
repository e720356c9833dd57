"""Shared CLI state: where the trail is, who is acting, how to print."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from rich.console import Console

from fairtrail.crypto.keys import SigningKey
from fairtrail.trail import Trail

DEFAULT_TRAIL = ".fairtrail"


@dataclass
class State:
    trail_path: Path = field(
        default_factory=lambda: Path(os.environ.get("FAIRTRAIL_TRAIL", DEFAULT_TRAIL))
    )
    wait: float = 10.0
    verbose: bool = False
    out: Console = field(default_factory=lambda: Console(highlight=False, soft_wrap=True))

    def open(self, *, writable: bool = True) -> Trail:
        return Trail.open(self.trail_path, writable=writable, lock_timeout=self.wait)

    def signer(self, trail: Trail, actor: str | None, key_file: Path | None) -> SigningKey:
        """The key to sign with: --key FILE, else --as NAME, else $FAIRTRAIL_ACTOR, else admin."""
        if key_file is not None:
            return SigningKey.load(key_file)
        name = actor or os.environ.get("FAIRTRAIL_ACTOR") or trail.config.admin_name
        return trail.actor_key(name)


STATE = State()
