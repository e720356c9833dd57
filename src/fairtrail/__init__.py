"""fairtrail: a tamper-evident, verifiable audit trail for the whole life of an AI model.

Importing this package has no side effects: no logging setup, no network, no globals.
"""

from fairtrail.errors import (
    ChainError,
    FairtrailError,
    InputError,
    IntegrityError,
    PolicyDeniedError,
    ProofError,
    RemoteError,
    VerificationError,
    WitnessError,
)
from fairtrail.statements import Role, Statement, Subject
from fairtrail.trail import Receipt, Trail, VerifyReport

__all__ = [
    "ChainError",
    "FairtrailError",
    "InputError",
    "IntegrityError",
    "PolicyDeniedError",
    "ProofError",
    "Receipt",
    "RemoteError",
    "Role",
    "Statement",
    "Subject",
    "Trail",
    "VerificationError",
    "VerifyReport",
    "WitnessError",
    "__version__",
]

__version__ = "0.1.0"
