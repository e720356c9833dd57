"""Personal data never enters the log; disclosure proves one field; erasure shreds."""

from __future__ import annotations

import base64
import json
import secrets
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fairtrail import Role, Trail
from fairtrail.decisions import record_decisions
from fairtrail.errors import InputError, SignatureError, VerificationError
from fairtrail.lifecycle.models import record_model
from fairtrail.privacy.vault import Vault
from fairtrail.subjects import check_disclosure, disclose, erase_subject, record_personal
from tests.cli.test_cli import assert_user_error, ft

# personal-looking values: a random marker makes any accidental copy findable
values = st.builds(
    lambda prefix, marker: f"{prefix} {marker}",
    st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=0x2FF), max_size=20),
    st.builds(lambda: "pii-" + secrets.token_hex(6)),
)


def _forms(value: str) -> list[bytes]:
    raw = value.encode("utf-8")
    forms = [raw, json.dumps(value).encode()[1:-1]]
    marker = value.rsplit(" ", 1)[-1].encode()  # the random part alone
    forms += [marker, base64.b64encode(marker), base64.urlsafe_b64encode(marker)]
    return [f for f in forms if len(f) >= 8]


def _all_bytes(root: Path, skip: set[str]) -> bytes:
    return b"".join(
        p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file() and p.name not in skip
    )


@settings(
    max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.lists(st.tuples(values, values), min_size=1, max_size=4))
def test_no_personal_value_reaches_the_log_checkpoints_or_the_chain(
    tmp_path_factory: pytest.TempPathFactory, people: list[tuple[str, str]]
) -> None:
    root = tmp_path_factory.mktemp("pii") / "trail"
    with Trail.init(root) as trail:
        admin = trail.actor_key("admin")
        issued = []
        for i, (name, email) in enumerate(people):
            subject = f"customer-{i}"
            record_personal(trail, subject, {"name": name, "email": email}, admin, "redress")
            with Vault(trail.paths.secrets / "vault.db") as vault:
                rid = trail.statement(trail.log.size - 1)[1].predicate["record"]
                issued.append(vault.get(subject, rid).decode())
        # and as the inputs of decisions about them (subject ids included)
        model = root.parent / "m.safetensors"
        header = json.dumps({"w": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}})
        model.write_bytes(len(header).to_bytes(8, "little") + header.encode() + bytes(4))
        record_model(trail, model, admin)
        decisions = [
            {"id": f"dec-{i}", "model": str(model), "output": "deny",
             "time": "2026-11-25T10:00:00Z",
             "subject": email if email.isprintable() else f"person-{i}",
             "input": {"name": name, "email": email}}
            for i, (name, email) in enumerate(people)
        ]  # fmt: skip
        record_decisions(trail, decisions, admin)
        trail.checkpoint()
    assert ft(root, "anchor").returncode == 0  # checkpoint calldata on the in-process chain
    # everything fairtrail wrote outside the vault: log, index, checkpoints, anchors, chain
    public = _all_bytes(root, skip={"vault.db", "vault.db-wal", "vault.db-shm"})
    for name, email in people:
        for value in (name, email):
            for form in _forms(value):
                assert form not in public, (value, form)
    for issuance in issued:  # nor any SD-JWT disclosure (salt, name, value)
        for disclosure in issuance.split("~")[1:]:
            if disclosure:
                assert disclosure.encode() not in public


@pytest.fixture
def trail(tmp_path: Path) -> Trail:
    t = Trail.init(tmp_path / "trail")
    t.create_actor("cora", [Role.COMPLIANCE_OFFICER], t.actor_key("admin"))
    t.create_actor("mo", [Role.ML_ENGINEER], t.actor_key("admin"))
    return t


def test_disclose_one_field_then_erase(trail: Trail, tmp_path: Path) -> None:
    admin = trail.actor_key("admin")
    fields = {"name": "Rosa Parkes", "income": "41000", "email": "rosa@example.net"}
    receipt = record_personal(trail, "applicant-7", fields, admin, "credit decisions")
    assert receipt.statement.predicate["fields"] == 3
    trail.checkpoint()
    doc = disclose(trail, "applicant-7", ["income"])
    data = json.dumps(doc).encode()
    result = check_disclosure(data, trail.config.log_vkey)
    assert result["disclosed"] == {"income": "41000"} and result["entry"] == receipt.index
    assert "Rosa" not in json.dumps(doc)  # only the chosen field is revealed
    # a changed value, a swapped presentation, another log: refused
    forged = dict(doc, presentation=doc["presentation"].replace(
        doc["presentation"].split("~")[1], base64.urlsafe_b64encode(
            json.dumps(["c2FsdA", "income", "99999"]).encode()).decode().rstrip("=")))  # fmt: skip
    try:  # a disclosure whose digest is not in the signed JWT proves nothing
        result = check_disclosure(json.dumps(forged).encode())
    except (SignatureError, VerificationError):
        pass
    else:
        assert result["disclosed"].get("income") != "99999"
    other = Trail.init(tmp_path / "other")
    with pytest.raises(VerificationError, match="another log key"):
        check_disclosure(data, other.config.log_vkey)
    other.close()

    with Vault(trail.paths.secrets / "vault.db") as vault:
        key = vault._key("applicant-7")  # to look for it on disk afterwards
    with pytest.raises(InputError, match="may not erase"):
        erase_subject(trail, "applicant-7", trail.actor_key("mo"))
    erasure, handle = erase_subject(trail, "applicant-7", trail.actor_key("cora"))
    assert erasure is not None and erasure.statement.predicate["records"] == [receipt.index]
    trail.checkpoint()
    # every proof and the whole log still verify; the subject's holder copy still checks
    trail.verify()
    trail.prove_inclusion(receipt.index).verify()
    assert check_disclosure(data, trail.config.log_vkey)["disclosed"] == {"income": "41000"}
    # and nothing can be recovered: no key, no records, no mapping, no plaintext on disk
    with pytest.raises(InputError, match="no such data subject"):
        disclose(trail, "applicant-7", ["income"])
    with Vault(trail.paths.secrets / "vault.db") as vault:
        assert vault.erased(handle)
    on_disk = _all_bytes(trail.paths.root, skip=set())
    for value in ("Rosa Parkes", "rosa@example.net", "applicant-7"):
        assert value.encode() not in on_disk
    assert key not in on_disk  # the subject's key is gone from every file, WAL included
    trail.close()


def test_erase_is_idempotent_after_a_crash(trail: Trail) -> None:
    record_personal(trail, "s-1", {"name": "Ann"}, trail.actor_key("admin"))
    cora = trail.actor_key("cora")
    # the Erasure is recorded, then the process dies before the vault is shredded
    import fairtrail.subjects as subjects

    real = Vault.erase
    Vault.erase = lambda self, subject: (_ for _ in ()).throw(KeyboardInterrupt())  # type: ignore[method-assign]
    try:
        with pytest.raises(KeyboardInterrupt):
            erase_subject(trail, "s-1", cora)
    finally:
        Vault.erase = real  # type: ignore[method-assign]
    size = trail.log.size
    receipt, _ = subjects.erase_subject(trail, "s-1", cora)
    assert receipt is None and trail.log.size == size  # no second Erasure statement
    with pytest.raises(InputError):
        erase_subject(trail, "s-1", cora)
    trail.close()


def test_cli_subject_commands(tmp_path: Path) -> None:
    path = tmp_path / "trail"
    assert ft(path, "init").returncode == 0
    r = ft(path, "subject", "add", "c-9", "--field", "name=Bo Diddley", "--field", "zip=12345")
    assert r.returncode == 0, r.stderr
    assert "Bo Diddley" not in r.stdout
    assert_user_error(ft(path, "subject", "add", "c-9", "--field", "oops"), 2, "NAME=VALUE")
    assert ft(path, "checkpoint").returncode == 0
    out = tmp_path / "d.json"
    assert ft(path, "subject", "disclose", "c-9", "zip", "-o", str(out)).returncode == 0
    vkey = ft(path, "log", "vkey").stdout.strip()
    r = ft(tmp_path, "subject", "check", str(out), "--trusted-key", vkey, "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["disclosed"] == {"zip": "12345"}
    assert_user_error(ft(path, "subject", "disclose", "c-9", "age", "-o", str(out)), 2, "no field")
    assert ft(path, "erase", "c-9").returncode == 0
    assert_user_error(ft(path, "erase", "c-9"), 2, "no such data subject")
    assert ft(path, "verify").returncode == 0
