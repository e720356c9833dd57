"""The evidence bundle, version 1: one JSON document, checked offline.

    {
      "format": "fairtrail-bundle/v1",
      "createdAt": "...",
      "about": {"name", "digest": {alg: hex}, "entry"},          the model it is about
      "log": {"origin", "vkey", "rootAdmin": {"name", "key"}},    who runs the log
      "checkpoint": "<signed note, with witness cosignatures>",  what every proof is against
      "entries": [{"index", "leaf": base64, "proof": [base64...]}],
      "anchored": [{"note": "<signed note>", "consistency": [base64...]}],
      "zk": {"circuits": [{"entry", "settings", "vk", "srs"}],      base64 files of the
             "proofs": [{"entry", "batch", "proof"}]}               ZkCircuit/ZkProof entries
    }

`leaf` is the exact bytes of the log entry (a DSSE envelope in canonical JSON), so the
verifier hashes what the log hashed; `proof` is its RFC 9162 inclusion proof to the
checkpoint. `anchored` holds the checkpoints named by Anchor statements in `entries`,
each with a consistency proof to the bundle's checkpoint: the anchored history is a
prefix of the one shown. The JSON Schema is `docs/bundle-schema.json`
(`BundleV1.model_json_schema()`); `docs/bundle-format.md` explains each check.
"""

from __future__ import annotations

import re

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["FORMAT", "MAX_BUNDLE_BYTES", "MAX_ENTRIES", "BundleV1"]

FORMAT = "fairtrail-bundle/v1"
MAX_BUNDLE_BYTES = 256 << 20
MAX_ENTRIES = 1_000_000
_B64 = r"^[A-Za-z0-9+/]*={0,2}$"
_HASH = r"^[A-Za-z0-9+/]{43}=$"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class About(_Strict):
    name: str = Field(max_length=1024)
    digest: dict[str, str] = Field(min_length=1, max_length=8)
    entry: int = Field(ge=0, lt=2**63)


class RootAdmin(_Strict):
    name: str = Field(max_length=64)
    key: str = Field(pattern=_HASH, description="base64 raw Ed25519 public key")


class LogInfo(_Strict):
    origin: str = Field(min_length=1, max_length=255)
    vkey: str = Field(max_length=1024, description="C2SP signed-note verifier key")
    rootAdmin: RootAdmin


class Entry(_Strict):
    index: int = Field(ge=0, lt=2**63)
    leaf: str = Field(pattern=_B64, max_length=2 * (1 << 20))
    proof: list[str] = Field(max_length=63)


class Anchored(_Strict):
    note: str = Field(max_length=256 * 1024)
    consistency: list[str] = Field(max_length=126)


class ZkCircuitFiles(_Strict):
    entry: int = Field(ge=0, lt=2**63, description="the ZkCircuit statement's entry")
    settings: str = Field(pattern=_B64, max_length=1 << 20)
    vk: str = Field(pattern=_B64, max_length=16 << 20)
    srs: str = Field(pattern=_B64, max_length=48 << 20)


class ZkProofFile(_Strict):
    entry: int = Field(ge=0, lt=2**63, description="the ZkProof statement's entry")
    batch: int = Field(ge=0, lt=1 << 20, description="the batch's position in the statement")
    proof: str = Field(pattern=_B64, max_length=6 << 20)


class ZkFiles(_Strict):
    circuits: list[ZkCircuitFiles] = Field(default_factory=list, max_length=64)
    proofs: list[ZkProofFile] = Field(default_factory=list, max_length=100_000)


class BundleV1(_Strict):
    format: str = Field(pattern=f"^{re.escape(FORMAT)}$")
    createdAt: str = Field(max_length=64)
    about: About
    log: LogInfo
    checkpoint: str = Field(max_length=256 * 1024)
    entries: list[Entry] = Field(min_length=1, max_length=MAX_ENTRIES)
    anchored: list[Anchored] = Field(default_factory=list, max_length=10_000)
    zk: ZkFiles | None = None
