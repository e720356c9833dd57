"""`Trail`: the one object users touch. It wires a store, the log, the keyring and keys.

    trail = Trail.init("audit-trail")                      # new trail, root admin "admin"
    admin = trail.actor_key("admin")
    trail.record(statement, admin)                         # sign + append, returns a Receipt
    trail.checkpoint()                                     # self-audited, signed C2SP checkpoint
    trail.prove_inclusion(0)                               # RFC 9162 proof against it
    trail.verify()                                         # full fsck + signature replay

Every statement goes in as a DSSE envelope whose signature must verify against an
actor known to the keyring at that moment; anything else is refused before a byte is
written.
"""

from __future__ import annotations

import base64
import os
import re
import secrets
import shutil
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fairtrail._config import TrailConfig, TrailPaths
from fairtrail._index import IndexedStatement, StatementIndex
from fairtrail.anchor.config import ChainConfig, WitnessConfig
from fairtrail.crypto.canonical import canonical_json
from fairtrail.crypto.dsse import Envelope, sign_envelope, verify_envelope
from fairtrail.crypto.keys import SigningKey, VerifyingKey
from fairtrail.errors import (
    ConfigError,
    FairtrailError,
    InputError,
    IntegrityError,
    KeyFileError,
    SignatureError,
    StatementError,
    UnknownSignerError,
)
from fairtrail.log import merkle
from fairtrail.log.checkpoint import (
    Checkpoint,
    Ed25519NoteVerifier,
    SignedNote,
    format_vkey,
    parse_vkey,
)
from fairtrail.log.fsck import FsckReport, fsck
from fairtrail.log.sqlite import SqliteStore
from fairtrail.log.store import MAX_ENTRY_BYTES, Store
from fairtrail.log.tlog import ConsistencyProof, InclusionProof, TransparencyLog
from fairtrail.statements.actors import (
    ACTOR_PREDICATE,
    Actor,
    ActorChange,
    Keyring,
    Role,
    actor_statement,
    check_actor_name,
)
from fairtrail.statements.statement import PAYLOAD_TYPE, Statement

if TYPE_CHECKING:
    from fairtrail.lifecycle.runs import Run

__all__ = ["Admitted", "Receipt", "Trail", "VerifyReport"]


@dataclass(frozen=True)
class Receipt:
    """What `record` returns: where the statement landed and what was stored."""

    index: int
    leaf_hash: bytes
    envelope: Envelope
    statement: Statement
    signer: str


@dataclass(frozen=True)
class VerifyReport:
    log: FsckReport
    statements: int
    actors: int


@dataclass(frozen=True)
class _Accepted:
    statement: Statement
    signer: Actor | None
    signer_keys: list[VerifyingKey]
    change: ActorChange | None


@dataclass(frozen=True)
class Admitted:
    """An envelope that passed `Trail.admit`: ready to append, not yet appended."""

    envelope: Envelope
    leaf: bytes
    accepted: _Accepted

    @property
    def statement(self) -> Statement:
        return self.accepted.statement

    @property
    def signer(self) -> str | None:
        """The name of the actor who signed it (None: the trail's root admin key)."""
        return self.accepted.signer.name if self.accepted.signer else None

    @property
    def changes_keyring(self) -> bool:
        return self.accepted.change is not None


class Trail:
    """A fairtrail audit trail in one folder."""

    def __init__(
        self,
        paths: TrailPaths,
        config: TrailConfig,
        store: Store,
        log_signer: SigningKey | None,
    ) -> None:
        self.paths = paths
        self.config = config
        self.store = store
        self.log = TransparencyLog(store, parse_vkey(config.log_vkey), log_signer)
        self._index: StatementIndex | None = None
        self._keyring: Keyring | None = None

    # ---------------------------------------------------------------- lifecycle

    @classmethod
    def init(
        cls,
        path: str | os.PathLike[str],
        *,
        origin: str | None = None,
        admin: str = "admin",
        log_db: str | None = None,
    ) -> Trail:
        """Create a new trail at `path` (which must not exist or be empty).

        Built in a temporary sibling folder and renamed into place at the end, so an
        interrupted init leaves nothing half-made behind. `log_db` puts the log in a
        PostgreSQL database (which must hold no log yet) instead of `log.db`.
        """
        root = Path(path)
        check_actor_name(admin)
        if root.exists() and (not root.is_dir() or any(root.iterdir())):
            raise ConfigError(f"{root} already exists and is not an empty folder")
        origin = origin or f"fairtrail.local/{secrets.token_hex(8)}"
        parent = root.resolve().parent
        parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{root.name}.init-", dir=parent))
        try:
            paths = TrailPaths(staging)
            staging.chmod(0o700)
            log_key = SigningKey.generate()
            log_key.save(paths.log_key)
            admin_key = SigningKey.generate()
            admin_key.save(paths.actor_key(admin))
            paths.actor_pub(admin).write_bytes(admin_key.public.to_pem())
            try:
                verifier = Ed25519NoteVerifier(origin, log_key.public)
            except FairtrailError as exc:
                raise ConfigError(f"invalid origin {origin!r}: {exc}") from None
            config = TrailConfig(
                origin=origin,
                log_vkey=format_vkey(verifier.name, log_key.public),
                admin_name=admin,
                admin_key=base64.b64encode(admin_key.public.raw).decode("ascii"),
                log_db=_check_log_url(log_db),
            )
            config.save(paths)
            store = _open_store(paths, config, writer=True, create=True)
            if store.size:
                store.close()
                raise ConfigError(f"{store.name} already holds a log; use an empty database")
            trail = cls(paths, config, store, log_key)
            try:
                trail.record(
                    actor_statement("register", admin, admin_key.public, [Role.ADMIN]), admin_key
                )
                trail.checkpoint()
            finally:
                trail.close()
            if root.exists():
                root.rmdir()
            os.replace(staging, root)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        return cls.open(root)

    @classmethod
    def open(
        cls, path: str | os.PathLike[str], *, writable: bool = True, lock_timeout: float = 0.0
    ) -> Trail:
        """Open an existing trail. A writable trail holds the single-writer lock."""
        paths = TrailPaths(Path(path))
        config = TrailConfig.load(paths)
        try:
            parse_vkey(config.log_vkey)
        except FairtrailError as exc:
            raise ConfigError(f"{paths.config}: log_vkey is invalid: {exc}") from None
        store = _open_store(paths, config, writer=writable, lock_timeout=lock_timeout)
        try:
            signer = SigningKey.load(paths.log_key) if writable and paths.log_key.exists() else None
            return cls(paths, config, store, signer)
        except BaseException:
            store.close()
            raise

    def reader_store(self) -> Store:
        """A new read-only handle on this trail's log (its own connection and lock), for
        readers that must not queue behind the writer: the server's proof endpoints."""
        return _open_store(self.paths, self.config, writer=False)

    def close(self) -> None:
        if self._index is not None:
            self._index.close()
            self._index = None
        self.store.close()

    def __enter__(self) -> Trail:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------- keys

    @property
    def root_key(self) -> VerifyingKey:
        return VerifyingKey(base64.b64decode(self.config.admin_key))

    def actor_key(self, name: str) -> SigningKey:
        """Load the private key of actor `name` kept in this trail's keys folder."""
        check_actor_name(name)
        path = self.paths.actor_key(name)
        if not path.exists():
            raise KeyFileError(f"no private key for actor {name!r} in {self.paths.keys}")
        return SigningKey.load(path)

    def create_actor(
        self,
        name: str,
        roles: Sequence[Role],
        admin: SigningKey,
        public_key: VerifyingKey | None = None,
    ) -> Receipt:
        """Register an actor. Without `public_key`, a key pair is made in the keys folder."""
        check_actor_name(name)
        if self.keyring.get(name) is not None:
            raise StatementError(f"actor {name!r} already exists")
        created: SigningKey | None = None
        if public_key is None:
            created = SigningKey.generate()
            created.save(self.paths.actor_key(name))
            public_key = created.public
        try:
            receipt = self.record(actor_statement("register", name, public_key, list(roles)), admin)
        except BaseException:
            if created is not None:
                self.paths.actor_key(name).unlink(missing_ok=True)
            raise
        self.paths.actor_pub(name).write_bytes(public_key.to_pem())
        return receipt

    def grant_role(self, name: str, roles: Sequence[Role], admin: SigningKey) -> Receipt:
        actor = self.keyring.get(check_actor_name(name))
        if actor is None:
            raise StatementError(f"no actor named {name!r}")
        return self.record(actor_statement("grant-role", name, actor.key, list(roles)), admin)

    def revoke_role(self, name: str, roles: Sequence[Role], admin: SigningKey) -> Receipt:
        actor = self.keyring.get(check_actor_name(name))
        if actor is None:
            raise StatementError(f"no actor named {name!r}")
        return self.record(actor_statement("revoke-role", name, actor.key, list(roles)), admin)

    @property
    def keyring(self) -> Keyring:
        self._sync()
        assert self._keyring is not None
        return self._keyring

    # ---------------------------------------------------------------- records

    def record(self, statement: Statement | dict[str, Any], signer: SigningKey) -> Receipt:
        """Sign `statement` with `signer` and append it. Returns where it landed."""
        if not isinstance(statement, Statement):
            statement = Statement.from_dict(statement)
        envelope = sign_envelope(PAYLOAD_TYPE, statement.to_json(), [signer])
        return self.record_envelope(envelope)

    def record_envelope(self, envelope: Envelope) -> Receipt:
        """Append an already-signed envelope, if a known actor signed it."""
        return self.append_admitted([self.admit(envelope)])[0]

    def record_envelopes(self, envelopes: Sequence[Envelope]) -> list[Receipt]:
        """Append signed envelopes in one durable batch: every one lands, at contiguous
        indices, or (if any is refused) none does. An actor statement, which changes
        who may sign what follows, must be recorded on its own."""
        if not envelopes:
            raise InputError("nothing to record")
        return self.append_admitted([self.admit(e) for e in envelopes])

    def admit(
        self, envelope: Envelope, *, verified: Sequence[VerifyingKey] | None = None
    ) -> Admitted:
        """Check `envelope` against the log's admission rule and the keyring as it is
        now, without appending anything (the server's sequencer admits each request
        before it joins a group commit). `verified` may carry the keys that
        `verify_envelope` found signing it (checked on other threads, in parallel);
        keys the keyring no longer trusts are dropped from it."""
        self._sync()
        assert self._keyring is not None
        accepted = _accept(envelope, self._keyring, verified)
        leaf = envelope.to_json()
        if len(leaf) > MAX_ENTRY_BYTES:
            raise StatementError(
                f"signed statement is {len(leaf)} bytes; the limit is {MAX_ENTRY_BYTES}"
            )
        return Admitted(envelope, leaf, accepted)

    def append_admitted(self, admitted: Sequence[Admitted]) -> list[Receipt]:
        """Append envelopes admitted by `admit` in one durable batch.

        A keyring change can only be appended alone: envelopes admitted before it was
        applied were checked against the keyring it replaces.
        """
        if len(admitted) > 1 and any(a.accepted.change is not None for a in admitted):
            raise StatementError("an actor statement must be appended in a batch of its own")
        self._sync()
        assert self._keyring is not None and self._index is not None
        first = self.log.append([a.leaf for a in admitted])
        receipts, indexed = [], []
        for index, a in enumerate(admitted, first):
            accepted = a.accepted
            if accepted.change is not None:
                self._keyring.apply(accepted.change, index)
            signer = self._keyring.by_key(accepted.signer_keys[0])
            signer_name = signer.name if signer else "?"
            indexed.append(_indexed(index, accepted.statement, signer_name))
            name = a.signer or self.config.admin_name
            receipts.append(
                Receipt(index, merkle.leaf_hash(a.leaf), a.envelope, accepted.statement, name)
            )
        self._index.add(indexed)
        return receipts

    def statement(self, index: int) -> tuple[Envelope, Statement]:
        data = self.store.entries(index, index + 1)[0]
        envelope = Envelope.from_json(data)
        return envelope, Statement.from_json(envelope.payload_bytes)

    def run(
        self,
        name: str,
        *,
        datasets: Sequence[Any] = (),
        params: dict[str, Any] | None = None,
        seed: int | dict[str, int] | None = None,
        signer: SigningKey | None = None,
        code_dir: str | os.PathLike[str] | None = None,
        artifact_dir: str | os.PathLike[str] | None = None,
        code_license: str | None = None,
    ) -> Run:
        """A training run to use as `with trail.run(...) as run:` (see lifecycle/runs.py).

        `datasets` are names (latest version), `NAME@VERSION`, `#INDEX` or records;
        `signer` defaults to the root admin's key in this trail.
        """
        from fairtrail.lifecycle.runs import start_run

        return start_run(
            self,
            name,
            signer=signer or self.actor_key(self.config.admin_name),
            datasets=datasets,
            params=params,
            seed=seed,
            code_dir=Path(code_dir) if code_dir is not None else None,
            artifact_dir=Path(artifact_dir) if artifact_dir is not None else None,
            code_license=code_license,
        )

    def indices_of_type(self, predicate_type: str) -> list[int]:
        """Log indices of every statement with this predicate type, oldest first."""
        self._sync()
        assert self._index is not None
        return self._index.indices_of_type(predicate_type)

    def indices_of_subject(self, algorithm: str, value: str) -> list[int]:
        """Log indices of every statement with a subject of this digest, oldest first."""
        self._sync()
        assert self._index is not None
        return self._index.by_subject(algorithm, value)

    def indices_about(self, digest: Mapping[str, str], predicate_type: str) -> list[int]:
        """Log indices of statements of `predicate_type` with a subject having any of the
        digests in `digest`, oldest first."""
        self._sync()
        assert self._index is not None
        return self._index.about([f"{a}:{v}" for a, v in digest.items()], predicate_type)

    def signer_of(self, index: int) -> str | None:
        """The actor whose key signed entry `index` (checked when it was appended)."""
        self._sync()
        assert self._index is not None
        return self._index.signer(index)

    def tail(self, count: int) -> list[IndexedStatement]:
        self._sync()
        assert self._index is not None
        return self._index.tail(count)

    # ---------------------------------------------------------------- config

    def set_chain(self, chain: ChainConfig) -> None:
        """Add `chain` to the configuration, or replace the chain of the same name."""
        chains = [c for c in self.config.chains if c.name != chain.name]
        self._save_config(self.config.model_copy(update={"chains": (*chains, chain)}))

    def set_witness(self, witness: WitnessConfig) -> None:
        """Add `witness`, or replace the witness of the same name."""
        kept = [w for w in self.config.witnesses if w.name != witness.name]
        self._save_config(self.config.model_copy(update={"witnesses": (*kept, witness)}))

    def _save_config(self, config: TrailConfig) -> None:
        if not self.store.writable:
            raise ConfigError("the trail was opened read-only; cannot change its configuration")
        TrailConfig.model_validate(config.model_dump())  # re-check the whole document
        config.save(self.paths)
        self.config = config

    # ---------------------------------------------------------- checkpoints

    def checkpoint(self) -> tuple[Checkpoint, SignedNote]:
        """Sign a checkpoint over every committed entry (see `TransparencyLog.checkpoint`).

        Refused when outsiders have already seen a larger checkpoint of this log than
        the trail holds (RELIABILITY F9): a witness cosigned it, or it was queued for a
        chain. That means the log was restored from an older backup, and signing now
        would give two histories for the same sizes.
        """
        self._check_not_rolled_back()
        return self.log.checkpoint()

    def _check_not_rolled_back(self) -> None:
        if not self.paths.anchors_db.exists():
            return
        from fairtrail.anchor.queue import AnchorQueue

        with AnchorQueue(self.paths.anchors_db) as queue:
            seen = queue.largest_published_size(self.config.origin)
        stored = self.store.latest_checkpoint()
        have = stored.size if stored is not None else 0
        if seen is not None and seen[0] > have:
            raise IntegrityError(
                f"{seen[1]} has seen checkpoint size {seen[0]} of this log, but the trail's "
                f"latest checkpoint is {have}: the log was rolled back (restored from an "
                "older backup?); refusing to sign",
                expected=seen[0],
                actual=have,
            )

    def latest_checkpoint(self) -> tuple[Checkpoint, SignedNote] | None:
        return self.log.latest_checkpoint()

    def prove_inclusion(self, index: int, size: int | None = None) -> InclusionProof:
        return self.log.prove_inclusion(index, size)

    def prove_consistency(self, old: int, new: int) -> ConsistencyProof:
        return self.log.prove_consistency(old, new)

    def entry_proof(self, index: int, what: str = "the entry") -> tuple[bytes, bytes]:
        """(entry `index`'s bytes, its C2SP tlog-proof against the latest checkpoint with
        every cosignature): what disclosures, receipts and challenge responses carry."""
        from fairtrail.log.tlog_proof import format_tlog_proof

        latest = self.latest_checkpoint()
        if latest is None or index >= latest[0].size:
            raise InputError(f"{what} is not under a checkpoint yet; run `fairtrail checkpoint`")
        size = latest[0].size
        proof = self.prove_inclusion(index, size)
        note = self.cosigned_note(size)
        leaf = self.store.entries(index, index + 1)[0]
        return leaf, format_tlog_proof(index, proof.hashes, note.to_bytes())

    def cosigned_note(self, size: int) -> SignedNote:
        """The checkpoint of `size` with every witness cosignature kept for it."""
        note = self.checkpoint_note(size)
        if note is None:
            raise InputError(f"there is no checkpoint of size {size}")
        lines = self.store.cosignatures(size)
        return SignedNote.parse(note.to_bytes() + b"".join(lines)) if lines else note

    def checkpoint_note(self, size: int) -> SignedNote | None:
        for stored in self.store.checkpoints():
            if stored.size == size:
                return self.log.open_stored(stored)[1]
        return None

    # ---------------------------------------------------------- verification

    def verify(self, progress: Callable[[int, int], None] | None = None) -> VerifyReport:
        """Check everything: the Merkle log (fsck), then every statement's signature,
        replaying the keyring from entry 0 so each signer is checked as of its time."""
        with self.store.snapshot():  # one state of the log for both passes
            return self._verify(progress)

    def _verify(self, progress: Callable[[int, int], None] | None) -> VerifyReport:
        report = fsck(self.log, progress)
        keyring = Keyring(self.config.admin_name, self.root_key)
        count = 0
        for index, data in self.store.iter_entries():
            if index >= report.size:
                break
            try:
                envelope = Envelope.from_json(data)
                accepted = _accept(envelope, keyring)
            except (InputError, SignatureError) as exc:
                raise IntegrityError(
                    f"entry {index} is not a statement signed by a known actor: {exc}", index=index
                ) from None
            if canonical_json(envelope.to_dict()) != bytes(data):
                raise IntegrityError(f"entry {index} is not in canonical form", index=index)
            if accepted.change is not None:
                keyring.apply(accepted.change, index)
            count += 1
        return VerifyReport(report, count, len(keyring))

    # ------------------------------------------------------------- internals

    def _sync(self) -> None:
        """Bring the derived index and the keyring up to date with the log."""
        if self._index is None:
            try:
                self._index = StatementIndex(self.paths.index_db)
            except Exception as exc:
                raise ConfigError(f"cannot open the index {self.paths.index_db}: {exc}") from None
        size = self.store.size
        if self._index.high_water > size:
            self._index.truncate(size)
        if self._keyring is None:
            keyring = Keyring(self.config.admin_name, self.root_key)
            for index in self._index.indices_of_type(ACTOR_PREDICATE):
                self._replay(index, keyring)
            self._keyring = keyring
        start = self._index.high_water
        if start < size:
            batch: list[IndexedStatement] = []
            for index, data in self.store.iter_entries(start):
                if index >= size:
                    break
                accepted = self._replay(index, self._keyring, data)
                signer = self._keyring.by_key(accepted.signer_keys[0])
                batch.append(_indexed(index, accepted.statement, signer.name if signer else "?"))
            self._index.add(batch)

    def _replay(self, index: int, keyring: Keyring, data: bytes | None = None) -> _Accepted:
        if data is None:
            data = self.store.entries(index, index + 1)[0]
        try:
            accepted = _accept(Envelope.from_json(data), keyring)
        except (InputError, SignatureError) as exc:
            raise IntegrityError(
                f"entry {index} in the log is not valid ({exc}); run `fairtrail verify`",
                index=index,
            ) from None
        if accepted.change is not None:
            keyring.apply(accepted.change, index)
        return accepted


def _check_log_url(url: str | None) -> str | None:
    if url is None:
        return None
    if not url.startswith("postgresql://"):
        raise ConfigError(f"the log database must be a postgresql:// URL, not {url!r}")
    if "password" in url.lower() or re.match(r"^postgresql://[^/@]*:[^/@]*@", url):
        raise ConfigError(
            "the log database URL must not hold a password (it is saved in fairtrail.json); "
            "put it in ~/.pgpass or PGPASSWORD"
        )
    return url


def _open_store(
    paths: TrailPaths,
    config: TrailConfig,
    *,
    writer: bool,
    create: bool = False,
    lock_timeout: float = 0.0,
) -> Store:
    """The trail's log store: `log.db`, or the PostgreSQL database its config names."""
    if config.log_db is not None:
        from fairtrail.log.postgres import PostgresStore

        return PostgresStore.open(
            config.log_db, writer=writer, create=create, lock_timeout=lock_timeout
        )
    return SqliteStore.open(paths.log_db, writer=writer, create=create, lock_timeout=lock_timeout)


def _accept(
    envelope: Envelope, keyring: Keyring, verified: Sequence[VerifyingKey] | None = None
) -> _Accepted:
    """The log's admission rule for one envelope, against the keyring as it stands.

    `verified`: keys `verify_envelope` already found to sign this envelope. Only those
    the keyring still trusts count; with none left, the signatures are checked here.
    """
    if envelope.payload_type != PAYLOAD_TYPE:
        raise StatementError(
            f"envelope payloadType must be {PAYLOAD_TYPE!r}, got {envelope.payload_type!r}"
        )
    statement = Statement.from_json(envelope.payload_bytes)
    signers = [k for k in verified or () if keyring.by_key(k) is not None]
    try:
        if not signers:
            signers = verify_envelope(envelope, keyring.trusted_keys())
    except SignatureError:
        raise UnknownSignerError(
            "the envelope is not signed by any actor known to this trail"
        ) from None
    change = None
    if statement.predicate_type == ACTOR_PREDICATE:
        change = keyring.check_change(statement, signers)
    actor = next((a for k in signers if (a := keyring.by_key(k)) is not None), None)
    return _Accepted(statement, actor, signers, change)


def _indexed(index: int, statement: Statement, signer: str) -> IndexedStatement:
    return IndexedStatement(
        index,
        statement.predicate_type,
        signer,
        [s.model_dump(mode="json") for s in statement.subject],
    )
