"""The one thread that owns the writable trail: a sequencer with group commit.

Why one thread: a `Trail` (its derived index, keyring and side databases) is not made
for concurrent use, and the log must have exactly one sequencer anyway. Request
handlers hand it jobs and await the result; nothing else touches the trail.

Group commit: append requests that arrive while a batch is being written wait in the
queue; the next turn admits each of them (signature, keyring, token's actor and role)
and appends every admitted envelope in one durable transaction. A request whose
envelopes are refused fails alone; the others in the group are unaffected. A request
that changes the keyring (actor statements) is written in a batch of its own, after
the group before it, so nothing is admitted against a keyring it is about to replace.

An answer is sent only after the commit: a client that goes away mid-request loses
nothing that was acknowledged, and an entry whose acknowledgement was lost is still in
the log at its index.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, TypeVar

from fairtrail.crypto.dsse import Envelope, verify_envelope
from fairtrail.crypto.keys import VerifyingKey
from fairtrail.errors import FairtrailError, StatementError
from fairtrail.server.tokens import ApiToken
from fairtrail.trail import Admitted, Receipt, Trail

T = TypeVar("T")

#: at most this many envelopes are committed in one group
MAX_GROUP = 5000
#: threads checking a group's signatures (Ed25519 verification releases the GIL)
VERIFY_THREADS = 2


class AuthorizationError(FairtrailError):
    """The request's token may not write what it sent (HTTP 403)."""

    exit_code = 2
    hint = "Use a token of the actor who signed the envelopes, holding the token's role."


@dataclass
class _Append:
    envelopes: list[Envelope]
    token: ApiToken
    future: Future[list[Receipt]] = field(default_factory=Future)


@dataclass
class _Call:
    fn: Callable[[Trail], Any]
    future: Future[Any] = field(default_factory=Future)


class TrailWorker:
    """Runs every trail operation of the server on one thread (see the module docstring)."""

    def __init__(self, trail: Trail) -> None:
        self._trail = trail
        self._jobs: queue.Queue[_Append | _Call | None] = queue.Queue()
        self._verifiers = ThreadPoolExecutor(VERIFY_THREADS, thread_name_prefix="fairtrail-verify")
        self._thread = threading.Thread(target=self._run, name="fairtrail-sequencer", daemon=True)
        self._thread.start()

    def append(self, envelopes: list[Envelope], token: ApiToken) -> Future[list[Receipt]]:
        job = _Append(envelopes, token)
        self._jobs.put(job)
        return job.future

    def call(self, fn: Callable[[Trail], T]) -> Future[T]:
        job = _Call(fn)
        self._jobs.put(job)
        return job.future

    def close(self) -> None:
        """Finish the queued jobs, close the trail on its own thread (its SQLite handles
        belong to it), then stop."""
        closed = self.call(lambda trail: trail.close())
        self._jobs.put(None)
        self._thread.join()
        self._verifiers.shutdown()
        closed.result()

    # ------------------------------------------------------------------ thread

    def _run(self) -> None:
        pending: _Append | _Call | None = None
        while True:
            job = pending if pending is not None else self._jobs.get()
            pending = None
            if job is None:
                return
            if isinstance(job, _Call):
                _settle(job.future, job.fn, self._trail)
                continue
            group, count = [job], len(job.envelopes)
            while count < MAX_GROUP:  # gather what is already waiting
                try:
                    nxt = self._jobs.get_nowait()
                except queue.Empty:
                    break
                if not isinstance(nxt, _Append):
                    pending = nxt
                    break
                group.append(nxt)
                count += len(nxt.envelopes)
            self._commit(group)

    def _presign(self, group: list[_Append]) -> list[list[list[VerifyingKey] | None]]:
        """Every envelope's signers, checked on the verifier threads against the keyring
        as it is now (None where none verified: admission then says why)."""
        keys = self._trail.keyring.trusted_keys()
        flat = [e for job in group for e in job.envelopes]
        found = list(self._verifiers.map(lambda e: _signers(e, keys), flat, chunksize=64))
        out, pos = [], 0
        for job in group:
            out.append(found[pos : pos + len(job.envelopes)])
            pos += len(job.envelopes)
        return out

    def _commit(self, group: list[_Append]) -> None:
        admitted: list[tuple[_Append, list[Admitted]]] = []
        try:
            presigned = self._presign(group)
        except BaseException:  # the keyring could not be read: admission will say why
            presigned = [[None] * len(job.envelopes) for job in group]
        fresh = True  # no keyring change in this group yet: presigned keys still hold
        for job, signers in zip(group, presigned, strict=True):
            try:
                self._check_token(job.token)
                checked = [
                    self._admit(e, job.token, s if fresh else None)
                    for e, s in zip(job.envelopes, signers, strict=True)
                ]
            except BaseException as exc:  # this request alone fails
                job.future.set_exception(exc)
                continue
            if any(a.changes_keyring for a in checked):
                fresh = False
                self._write(admitted)  # everything admitted before the change
                admitted = []
                if len(checked) > 1:
                    job.future.set_exception(
                        StatementError("an actor statement must be sent in a request of its own")
                    )
                    continue
                self._write([(job, checked)])
                continue
            admitted.append((job, checked))
        self._write(admitted)

    def _admit(
        self, envelope: Envelope, token: ApiToken, verified: Sequence[VerifyingKey] | None
    ) -> Admitted:
        """Admit one envelope of a request whose token `_check_token` accepted."""
        trail = self._trail
        admitted = trail.admit(envelope, verified=verified)
        signer = admitted.signer or trail.config.admin_name
        if signer != token.actor:
            raise AuthorizationError(
                f"the envelope is signed by {signer}, but token {token.id} is {token.actor}'s"
            )
        return admitted

    def _check_token(self, token: ApiToken) -> None:
        """The token's actor must hold the token's role now (a revoked role is refused
        from the next request on)."""
        actor = self._trail.keyring.get(token.actor)
        if actor is None or not actor.has(token.role):
            raise AuthorizationError(
                f"token {token.id} is for {token.actor} as {token.role.value}, which the "
                "keyring no longer grants"
            )

    def _write(self, admitted: list[tuple[_Append, list[Admitted]]]) -> None:
        if not admitted:
            return
        flat = [a for _, checked in admitted for a in checked]
        try:
            receipts = self._trail.append_admitted(flat)
        except BaseException as exc:
            for job, _ in admitted:
                job.future.set_exception(exc)
            return
        pos = 0
        for job, checked in admitted:
            job.future.set_result(receipts[pos : pos + len(checked)])
            pos += len(checked)


def _signers(envelope: Envelope, keys: list[VerifyingKey]) -> list[VerifyingKey] | None:
    try:
        return verify_envelope(envelope, keys)
    except Exception:
        return None


def _settle(future: Future[Any], fn: Callable[[Trail], Any], trail: Trail) -> None:
    try:
        future.set_result(fn(trail))
    except BaseException as exc:
        future.set_exception(exc)
