"""The trail folder's layout and its configuration file (`fairtrail.json`).

<trail>/fairtrail.json   what this trail is: origin, log verifier key, root admin
<trail>/log.db           the log (SQLite, WAL), unless `log_db` names a PostgreSQL database
<trail>/index.db         a derived index, rebuilt from the log whenever needed
<trail>/log.key          the log's checkpoint key (0600)
<trail>/keys/NAME.key    actors' private keys created here (0600, folder 0700)
<trail>/keys/NAME.eth    secp256k1 keys for chains (0600): anchor submitters, auditors
<trail>/anchors.db       anchor queue and states (pending/included/final), witness sizes
<trail>/chains/NAME.db   the in-process development chain(s), if configured
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from fairtrail._validation import first_error
from fairtrail.anchor.config import ChainConfig, WitnessConfig
from fairtrail.crypto.canonical import parse_json
from fairtrail.errors import ConfigError

__all__ = ["CONFIG_NAME", "TrailConfig", "TrailPaths"]

CONFIG_NAME = "fairtrail.json"
FORMAT = "fairtrail-trail/v1"
_ORIGIN = re.compile(r"^[^\s+]{1,255}$")


class TrailPaths:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.config = root / CONFIG_NAME
        self.log_db = root / "log.db"
        self.index_db = root / "index.db"
        self.log_key = root / "log.key"
        self.keys = root / "keys"
        self.secrets = root / "secrets"  # off-log secrets (row salts); erasable
        self.anchors_db = root / "anchors.db"
        self.chains = root / "chains"

    def eth_key(self, name: str) -> Path:
        return self.keys / f"{name}.eth"

    def actor_key(self, name: str) -> Path:
        return self.keys / f"{name}.key"

    def actor_pub(self, name: str) -> Path:
        return self.keys / f"{name}.pub"

    def row_secret(self, tree_root: str) -> Path:
        """Where the salt secret of the row tree with root `tree_root` (hex) is kept."""
        if not (len(tree_root) == 64 and all(c in "0123456789abcdef" for c in tree_root)):
            raise ValueError("a row tree root is 64 lower-case hex characters")
        return self.secrets / "rows" / f"{tree_root}.key"


class TrailConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    format: str = Field(default=FORMAT, pattern=f"^{re.escape(FORMAT)}$")
    origin: str = Field(pattern=_ORIGIN.pattern)
    log_vkey: str
    admin_name: str
    admin_key: str = Field(description="base64 raw Ed25519 public key of the root admin")
    log_db: str | None = Field(
        default=None,
        pattern=r"^postgresql://[^:@/\s]*@?[^@\s]*$",
        description="a PostgreSQL URL holding the log (no password: use ~/.pgpass or "
        "PGPASSWORD); absent: log.db in the trail folder",
    )
    chains: tuple[ChainConfig, ...] = ()
    witnesses: tuple[WitnessConfig, ...] = ()

    def chain(self, name: str | None) -> ChainConfig:
        """The chain called `name`, or the only one configured when `name` is None."""
        if name is None:
            if len(self.chains) == 1:
                return self.chains[0]
            if not self.chains:
                raise ConfigError("no chain is configured; add one with `fairtrail chain add`")
            names = ", ".join(c.name for c in self.chains)
            raise ConfigError(f"several chains are configured ({names}); name one with --chain")
        for chain in self.chains:
            if chain.name == name:
                return chain
        raise ConfigError(f"no chain named {name!r} in {CONFIG_NAME}")

    @classmethod
    def load(cls, paths: TrailPaths) -> TrailConfig:
        if not paths.config.is_file():
            raise ConfigError(f"no fairtrail trail at {paths.root} (missing {CONFIG_NAME})")
        try:
            data = paths.config.read_bytes()
        except OSError as exc:
            raise ConfigError(f"cannot read {paths.config}: {exc.strerror}") from None
        value = parse_json(data, what=str(paths.config), max_bytes=64 * 1024)
        try:
            return cls.model_validate(value)
        except ValidationError as exc:
            raise ConfigError(f"{paths.config}: {first_error(exc, 'config')}") from None

    def save(self, paths: TrailPaths) -> None:
        """Write atomically: a temporary file, fsync, rename, fsync the folder."""
        tmp = paths.config.with_suffix(".json.tmp")
        data = (self.model_dump_json(indent=2) + "\n").encode("utf-8")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        try:
            os.write(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, paths.config)
        dir_fd = os.open(paths.root, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
