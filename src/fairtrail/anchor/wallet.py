"""secp256k1 keys for chains: anchor submitters and auditors.

Kept apart from the Ed25519 keys that sign statements and checkpoints (key
separation, RELIABILITY A3): a leaked wallet cannot sign the log, and a leaked log key
cannot spend. Files hold the hex private key, are created 0600 and never overwritten.
"""

from __future__ import annotations

from pathlib import Path

from eth_account import Account
from eth_account.signers.local import LocalAccount

from fairtrail.crypto._files import write_private
from fairtrail.errors import KeyFileError

__all__ = ["create_wallet", "load_wallet"]

_MAX_BYTES = 256


def create_wallet(path: Path, private_key: bytes | None = None) -> LocalAccount:
    """Make a new key (or store `private_key`) at `path`; refuse to overwrite one."""
    account: LocalAccount = (
        Account.from_key(private_key) if private_key is not None else Account.create()
    )
    try:
        write_private(path, (account.key.hex().removeprefix("0x") + "\n").encode("ascii"))
    except FileExistsError:
        raise KeyFileError(f"{path} already exists; fairtrail never overwrites a key") from None
    return account


def load_wallet(path: Path) -> LocalAccount:
    try:
        info = path.stat()
        if info.st_size > _MAX_BYTES:
            raise KeyFileError(f"{path} is too large to be a secp256k1 key file")
        text = path.read_text("ascii").strip()
    except FileNotFoundError:
        raise KeyFileError(f"no chain key at {path}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise KeyFileError(f"cannot read chain key {path}: {exc}") from None
    try:
        key = bytes.fromhex(text.removeprefix("0x"))
        if len(key) != 32:
            raise ValueError
        account: LocalAccount = Account.from_key(key)
    except ValueError:
        raise KeyFileError(f"{path} does not hold a 32-byte hex secp256k1 key") from None
    return account
