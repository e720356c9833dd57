"""fairtrail: a tamper-evident, verifiable audit trail for the whole life of an AI model.

Importing this package has no side effects: no logging setup, no network, no globals.
"""

from fairtrail.errors import (
    FairtrailError,
    InputError,
    IntegrityError,
    PolicyDeniedError,
    ProofError,
    VerificationError,
)
from fairtrail.statements import Role, Statement, Subject
from fairtrail.trail import Receipt, Trail, VerifyReport

__all__ = [
    "FairtrailError",
    "InputError",
    "IntegrityError",
    "PolicyDeniedError",
    "ProofError",
    "Receipt",
    "Role",
    "Statement",
    "Subject",
    "Trail",
    "VerificationError",
    "VerifyReport",
    "__version__",
]

__version__ = "0.1.0"
