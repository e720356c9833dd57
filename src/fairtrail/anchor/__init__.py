"""Anchoring checkpoints on EVM chains, witness cosignatures, on-chain auditor approvals."""
