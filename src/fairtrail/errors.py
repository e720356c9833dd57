"""Every error fairtrail raises on purpose, in one tree.

Front ends (the CLI, later the server) map these classes to exit codes and HTTP
statuses in exactly one place; nothing else decides how an error looks to a user.

    FairtrailError                      exit 1: something failed that the user cannot fix by input
    ├── InputError                      exit 2: the user gave something we cannot use
    │   ├── ConfigError                 the trail folder or its configuration is missing or wrong
    │   ├── KeyFileError                a key file is missing, unreadable or not Ed25519
    │   ├── StatementError              a statement or envelope is malformed or not allowed
    │   ├── UnknownSignerError          an envelope is not signed by a known actor
    │   └── ProofRequestError           a proof was asked for sizes/indices the log cannot prove
    ├── StoreError                      exit 1: the store could not do what was asked
    │   ├── StoreLockedError            exit 2: another writer holds the trail
    │   └── StoreFailedError            the store stopped writing after an I/O error (fail-stop)
    ├── VerificationError               exit 3: something does not verify; carries expected/actual
    │   ├── ProofError                  a Merkle inclusion or consistency proof is invalid
    │   ├── NoteError                   a signed note / checkpoint is malformed or not signed
    │   ├── SignatureError              a DSSE envelope's signatures do not verify
    │   └── IntegrityError              the stored log does not match itself (tampering, corruption)
    ├── PolicyDeniedError               exit 4: a gate refused (policy not passed); nothing recorded
    └── RemoteError                     exit 5: a chain or witness was unreachable or refused
        ├── ChainError                  an RPC, chain id, contract, funds or transaction problem
        └── WitnessError                a witness refused a checkpoint or answered nonsense

Each error has one message a user can act on and a `diagnostics()` hint saying what to do next.
"""

from __future__ import annotations


class FairtrailError(Exception):
    """Root of every error fairtrail raises deliberately."""

    exit_code = 1
    hint = "This is a fault in fairtrail or its environment; rerun with --verbose and report it."

    def diagnostics(self) -> str:
        """A short hint on what the user should do next."""
        return self.hint


class InputError(FairtrailError):
    """The user supplied something fairtrail cannot use; nothing was recorded."""

    exit_code = 2
    hint = "Fix the input named in the message and run the command again."


class ConfigError(InputError):
    hint = "Run `fairtrail init` first, or point --trail at an existing trail folder."


class KeyFileError(InputError):
    hint = "Create a key with `fairtrail keys create NAME` or pass the path of an Ed25519 PEM key."


class StatementError(InputError):
    hint = "The statement must be an in-toto Statement v1 JSON object (see docs/formats.md)."


class UnknownSignerError(InputError):
    hint = "Register the signer first: `fairtrail keys create NAME --role ROLE` (needs an admin)."


class ProofRequestError(InputError):
    hint = "Ask for an index below the tree size and sizes no larger than the log."


class StoreError(FairtrailError):
    """The store could not complete an operation; nothing acknowledged is lost."""


class StoreLockedError(StoreError):
    exit_code = 2
    hint = "Another fairtrail process is writing to this trail; wait for it or stop it."


class StoreFailedError(StoreError):
    hint = (
        "The store hit an I/O error and stopped accepting writes to protect the log. "
        "Check the disk, then run `fairtrail verify` before writing again."
    )


class VerificationError(FairtrailError):
    """Something that must verify does not. Carries what was expected and what was found."""

    exit_code = 3
    hint = "Do not trust this data; `fairtrail verify` names the first place that is wrong."

    def __init__(
        self, message: str, *, expected: object | None = None, actual: object | None = None
    ) -> None:
        if expected is not None or actual is not None:
            message = f"{message}: expected {_show(expected)}, got {_show(actual)}"
        super().__init__(message)
        self.expected = expected
        self.actual = actual


class ProofError(VerificationError):
    """A Merkle inclusion or consistency proof does not verify (or is malformed)."""


class NoteError(VerificationError):
    """A C2SP signed note or checkpoint is malformed or not validly signed."""


class SignatureError(VerificationError):
    """A signature or a DSSE envelope does not verify against the keys it must."""


class IntegrityError(VerificationError):
    """The stored log contradicts itself or its signed checkpoints.

    `index` is the first leaf index found bad, when the damage is tied to one leaf.
    """

    def __init__(
        self,
        message: str,
        *,
        index: int | None = None,
        expected: object | None = None,
        actual: object | None = None,
    ) -> None:
        super().__init__(message, expected=expected, actual=actual)
        self.index = index


def _show(value: object) -> str:
    if isinstance(value, bytes | bytearray):
        return bytes(value).hex() if value else "(empty)"
    return str(value)


class PolicyDeniedError(FairtrailError):
    """A deployment gate refused: the model has no current, passing policy decision."""

    exit_code = 4
    hint = "Fix what the failing rules name, record new evidence, run `fairtrail policy check`."


class RemoteError(FairtrailError):
    """Something outside the trail (a chain, a witness) could not do what was asked.

    The trail itself is never changed by such a failure: anchors stay pending with the
    reason, and checkpoints keep the cosignatures they already had.
    """

    exit_code = 5
    hint = "Check the endpoint and its configuration (`fairtrail chain list`), then retry."


class ChainError(RemoteError):
    """An EVM chain: unreachable RPC, wrong chain id, no contract, no funds, a revert."""


class WitnessError(RemoteError):
    """A witness refused a checkpoint (its HTTP status says why) or was unreachable."""

    hint = "A 409 means the witness saw another size for this log: compare checkpoints."
