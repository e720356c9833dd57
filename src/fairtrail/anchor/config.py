"""How a trail reaches chains and witnesses: the `chains` and `witnesses` of fairtrail.json.

A chain entry names an EVM JSON-RPC endpoint (or `local`, the in-process eth-tester
chain kept in the trail folder), the chain id it must report (EIP-155: a transaction
signed for one chain is worthless on another), the contracts' addresses, the key file
that pays for anchors, and when an anchor counts as final.
"""

from __future__ import annotations

import re

from pydantic import BaseModel, ConfigDict, Field, field_validator

__all__ = ["LOCAL_RPC", "ChainConfig", "WitnessConfig", "check_name"]

LOCAL_RPC = "local"
_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]{0,62}$")
_ADDRESS = r"^0x[0-9a-fA-F]{40}$"


def check_name(name: str, what: str = "chain") -> str:
    if not _NAME.fullmatch(name):
        raise ValueError(
            f"{what} name {name!r} must be 1-63 of a-z 0-9 . _ - and start with a letter or digit"
        )
    return name


class ChainConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    rpc: str = Field(description="http(s) JSON-RPC URL, or 'local' for the in-process chain")
    chain_id: int = Field(ge=1, lt=2**64)
    key: str = Field(description="file holding the submitter's secp256k1 key (trail-relative)")
    anchor_contract: str | None = Field(default=None, pattern=_ADDRESS)
    registry_contract: str | None = Field(default=None, pattern=_ADDRESS)
    confirmations: int = Field(default=2, ge=1, le=10_000)
    use_finalized_tag: bool = Field(
        default=False,
        description="final at the node's `finalized` block instead of N confirmations",
    )
    max_fee_gwei: float = Field(default=200.0, gt=0, description="never pay more per gas")
    priority_fee_gwei: float = Field(default=1.0, ge=0)
    bump_after_seconds: float = Field(default=120.0, ge=0)
    require_approval: bool = Field(
        default=False, description="`fairtrail deploy` requires isApproved on this chain"
    )

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        return check_name(value)

    @field_validator("rpc")
    @classmethod
    def _rpc(cls, value: str) -> str:
        if value != LOCAL_RPC and not re.fullmatch(r"https?://[^\s]{1,2000}", value):
            raise ValueError("rpc must be an http(s):// URL or 'local'")
        return value


class WitnessConfig(BaseModel):
    """A witness the log asks for cosignatures (c2sp.org/tlog-witness)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(description="the witness's key name, as in its signature lines")
    vkey: str = Field(description="its verifier key, name+keyid+base64(0x04 || key)")
    url: str = Field(pattern=r"^https?://[^\s]{1,2000}$", description="submission prefix")
