"""The Trail facade: admission rules, keyring, records, verification (statement level)."""

from __future__ import annotations

from pathlib import Path

import pytest

from fairtrail import Role, Statement, Trail
from fairtrail.crypto import SigningKey, sign_envelope
from fairtrail.errors import (
    ConfigError,
    IntegrityError,
    StatementError,
    StoreLockedError,
    UnknownSignerError,
)
from fairtrail.statements import PAYLOAD_TYPE
from tests.log.helpers import rewrite_entry

STATEMENT = {
    "_type": "https://in-toto.io/Statement/v1",
    "subject": [{"name": "model.bin", "digest": {"sha256": "ab" * 32}}],
    "predicateType": "https://fairtrail.dev/note/v1",
    "predicate": {"text": "hello"},
}


@pytest.fixture
def trail(trail_dir: Path) -> Trail:
    t = Trail.init(trail_dir, origin="test.example/trail")
    yield t
    t.close()


def test_init_layout_and_genesis(trail: Trail, trail_dir: Path) -> None:
    assert (trail_dir / "fairtrail.json").is_file()
    assert (trail_dir / "log.key").stat().st_mode & 0o777 == 0o600
    assert (trail_dir / "keys" / "admin.key").stat().st_mode & 0o777 == 0o600
    assert trail.log.size == 1
    assert [a.name for a in trail.keyring.actors] == ["admin"]
    assert trail.latest_checkpoint() is not None
    with pytest.raises(ConfigError):
        Trail.init(trail_dir)


def test_record_by_known_actor(trail: Trail) -> None:
    receipt = trail.record(STATEMENT, trail.actor_key("admin"))
    assert receipt.index == 1 and receipt.signer == "admin"
    env, statement = trail.statement(1)
    assert statement == Statement.from_dict(STATEMENT)
    trail.checkpoint()
    trail.prove_inclusion(1).verify()


def test_unknown_signer_refused_nothing_written(trail: Trail) -> None:
    with pytest.raises(UnknownSignerError):
        trail.record(STATEMENT, SigningKey.generate())
    assert trail.log.size == 1


def test_bad_statements_refused(trail: Trail) -> None:
    admin = trail.actor_key("admin")
    for bad in [
        {},
        {**STATEMENT, "subject": []},
        {**STATEMENT, "_type": "x"},
        {**STATEMENT, "predicateType": "not a uri"},
        {**STATEMENT, "subject": [{"digest": {"sha256": "xyz"}}]},
    ]:
        with pytest.raises(StatementError):
            trail.record(bad, admin)
    env = sign_envelope("text/plain", Statement.from_dict(STATEMENT).to_json(), [admin])
    with pytest.raises(StatementError, match="payloadType"):
        trail.record_envelope(env)
    assert trail.log.size == 1


def test_actors_and_roles(trail: Trail) -> None:
    admin = trail.actor_key("admin")
    trail.create_actor("alice", [Role.ML_ENGINEER], admin)
    alice = trail.actor_key("alice")
    trail.record(STATEMENT, alice)
    with pytest.raises(UnknownSignerError, match="only an admin"):
        trail.create_actor("mallory", [Role.ADMIN], alice)
    assert not trail.paths.actor_key("mallory").exists()  # key removed when refused
    with pytest.raises(StatementError, match="already exists"):
        trail.create_actor("alice", [Role.AUDITOR], admin)
    trail.grant_role("alice", [Role.AUDITOR], admin)
    actor = trail.keyring.get("alice")
    assert actor is not None and actor.roles == {Role.ML_ENGINEER, Role.AUDITOR}
    with pytest.raises(StatementError, match="last admin"):
        trail.revoke_role("admin", [Role.ADMIN], admin)
    trail.revoke_role("alice", [Role.AUDITOR], admin)
    # the keyring is replayed from the log, identically, by a fresh reader
    path = trail.paths.root
    trail.close()
    with Trail.open(path, writable=False) as again:
        actor = again.keyring.get("alice")
        assert actor is not None and actor.roles == {Role.ML_ENGINEER}
        report = again.verify()
        assert report.statements == 5 and report.actors == 2


def test_index_is_rebuilt_when_deleted(trail: Trail) -> None:
    trail.record(STATEMENT, trail.actor_key("admin"))
    path = trail.paths.root
    trail.close()
    (path / "index.db").unlink()
    with Trail.open(path) as again:
        assert [r.index for r in again.tail(5)] == [0, 1]


def test_second_writer_refused(trail: Trail) -> None:
    with pytest.raises(StoreLockedError):
        Trail.open(trail.paths.root)


def test_verify_catches_a_forged_statement_appended_behind_our_back(trail: Trail) -> None:
    """An entry appended with a valid tree but no valid actor signature is found by verify."""
    stranger = SigningKey.generate()
    env = sign_envelope(PAYLOAD_TYPE, Statement.from_dict(STATEMENT).to_json(), [stranger])
    trail.log.append([env.to_json()])  # bypass the admission rule, as a rogue operator could
    with pytest.raises(IntegrityError) as info:
        trail.verify()
    assert info.value.index == 1


def test_verify_reports_tampered_entry(trail: Trail) -> None:
    trail.record(STATEMENT, trail.actor_key("admin"))
    trail.checkpoint()
    path = trail.paths.root
    trail.close()
    rewrite_entry(path / "log.db", 1, lambda data: data + b" ")
    with Trail.open(path, writable=False) as again, pytest.raises(IntegrityError) as info:
        again.verify()
    assert info.value.index == 1


def test_record_envelopes_is_one_batch_all_or_nothing(tmp_path: Path) -> None:
    from fairtrail.crypto.dsse import Envelope
    from fairtrail.statements.actors import actor_statement

    trail = Trail.init(tmp_path / "t")
    admin = trail.actor_key("admin")
    trail.create_actor("mo", [Role.ML_ENGINEER], admin)
    mo = trail.actor_key("mo")

    def env(n: int, key: SigningKey = mo) -> Envelope:
        st = Statement.from_dict({**STATEMENT, "predicate": {"text": f"n{n}"}})
        return sign_envelope(PAYLOAD_TYPE, st.to_json(), [key])

    size = trail.store.size
    receipts = trail.record_envelopes([env(i) for i in range(5)])
    assert [r.index for r in receipts] == list(range(size, size + 5))
    assert {r.signer for r in receipts} == {"mo"}
    with pytest.raises(UnknownSignerError):  # one stranger's envelope: nothing lands
        trail.record_envelopes([env(10), env(11, SigningKey.generate())])
    assert trail.store.size == size + 5
    actor = actor_statement("register", "al", SigningKey.generate().public, [Role.AUDITOR])
    mixed = [sign_envelope(PAYLOAD_TYPE, actor.to_json(), [admin]), env(12)]
    with pytest.raises(StatementError, match="on its own|batch of its own"):
        trail.record_envelopes(mixed)
    assert trail.store.size == size + 5
    assert trail.verify().statements == size + 5
    trail.close()
