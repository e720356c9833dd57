"""C2SP signed-note and tlog-checkpoint MUSTs (RELIABILITY T6)."""

from __future__ import annotations

import base64

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fairtrail.crypto import SigningKey
from fairtrail.errors import NoteError
from fairtrail.log.checkpoint import (
    Checkpoint,
    CosignatureVerifier,
    Ed25519NoteVerifier,
    NoteSignature,
    SignedNote,
    cosign_note,
    format_vkey,
    note_key_id,
    open_checkpoint,
    parse_vkey,
    sign_note,
    verify_note,
)

ORIGIN = "example.com/log"
KEY = SigningKey.generate()
VERIFIER = Ed25519NoteVerifier(ORIGIN, KEY.public)
ROOT = bytes(range(32))


def _signed(body: Checkpoint | None = None, key: SigningKey = KEY, name: str = ORIGIN) -> bytes:
    text = (body or Checkpoint(ORIGIN, 42, ROOT)).text()
    return SignedNote(text, (sign_note(text, name, key),)).to_bytes()


def test_round_trip_and_format() -> None:
    data = _signed()
    text = data.decode()
    assert text.startswith(f"{ORIGIN}\n42\n{base64.b64encode(ROOT).decode()}\n\n\u2014 {ORIGIN} ")
    body, note = open_checkpoint(data, [VERIFIER], origin=ORIGIN)
    assert (body.origin, body.size, body.root) == (ORIGIN, 42, ROOT)
    assert note.to_bytes() == data


def test_key_id_is_the_c2sp_one() -> None:
    import hashlib

    want = hashlib.sha256(ORIGIN.encode() + b"\n\x01" + KEY.public.raw).digest()[:4]
    assert VERIFIER.key_id == want == note_key_id(ORIGIN, 1, KEY.public.raw)


def test_vkey_round_trip() -> None:
    vkey = format_vkey(ORIGIN, KEY.public)
    assert parse_vkey(vkey) == VERIFIER
    name, key_id, _ = vkey.split("+", 2)
    with pytest.raises(NoteError):
        parse_vkey(vkey.replace(key_id, "00000000"))


def test_unknown_key_same_name_is_ignored_but_known_needed() -> None:
    other = SigningKey.generate()
    data = _signed(key=other)  # same name, different key: different key ID -> unknown
    with pytest.raises(NoteError, match="not signed by any known key"):
        open_checkpoint(data, [VERIFIER])


def test_unknown_signatures_are_ignored_next_to_a_known_one() -> None:
    text = Checkpoint(ORIGIN, 1, ROOT).text()
    stranger = SigningKey.generate()
    note = SignedNote(
        text, (sign_note(text, "other.example/x", stranger), sign_note(text, ORIGIN, KEY))
    )
    open_checkpoint(note.to_bytes(), [VERIFIER])


def test_same_key_id_different_name_is_unknown() -> None:
    text = Checkpoint(ORIGIN, 1, ROOT).text()
    good = sign_note(text, ORIGIN, KEY)
    forged = NoteSignature("evil.example/log", good.key_id, good.signature)
    with pytest.raises(NoteError, match="not signed by any known key"):
        verify_note(SignedNote(text, (forged,)), [VERIFIER])


def test_known_key_bad_signature_rejects_the_note() -> None:
    text = Checkpoint(ORIGIN, 1, ROOT).text()
    good = sign_note(text, ORIGIN, KEY)
    bad = NoteSignature(ORIGIN, good.key_id, bytes(64))
    with pytest.raises(NoteError, match="does not verify"):
        verify_note(SignedNote(text, (good, bad)), [VERIFIER])


def test_signature_over_other_text_fails() -> None:
    data = _signed().replace(b"\n42\n", b"\n43\n")
    with pytest.raises(NoteError):
        open_checkpoint(data, [VERIFIER])


@pytest.mark.parametrize(
    "mutate",
    [
        lambda d: d.replace(b"\n\n", b"\n"),  # no blank line
        lambda d: d[:-1],  # signature line without newline
        lambda d: d + b"\xff",  # not UTF-8
        lambda d: d.replace(b"42", b"4\x072"),  # control character
        lambda d: d.replace(b"\xe2\x80\x94 ", b"- "),  # not an em dash
        lambda d: d.replace(b"\n\n", b"\n\n\n"),
        lambda d: d + d.split(b"\n\n")[1] * 70,  # too many signatures
        lambda d: b"x" * (300 * 1024),  # too big
    ],
)
def test_malformed_notes_are_rejected(mutate: object) -> None:
    with pytest.raises(NoteError):
        open_checkpoint(mutate(_signed()), [VERIFIER])  # type: ignore[operator]


@pytest.mark.parametrize(
    "text",
    [
        "",
        "\n",
        f"{ORIGIN}\n42\n",  # missing root
        f"\n42\n{base64.b64encode(ROOT).decode()}\n",  # empty origin
        f"{ORIGIN}\n042\n{base64.b64encode(ROOT).decode()}\n",  # leading zero
        f"{ORIGIN}\n-1\n{base64.b64encode(ROOT).decode()}\n",
        f"{ORIGIN}\n{2**63}\n{base64.b64encode(ROOT).decode()}\n",
        f"{ORIGIN}\n42\n{base64.b64encode(ROOT[:31]).decode()}\n",  # short root
        f"{ORIGIN}\n42\n{base64.b64encode(ROOT).decode()}\n\nextra\n",  # empty extension
        f"{ORIGIN}\n42\n{base64.b64encode(ROOT).decode()}",  # no final newline
        f"42\n{ORIGIN}\n{base64.b64encode(ROOT).decode()}\n",  # origin not first
        f"{ORIGIN}\n\u0664\u0662\n{base64.b64encode(ROOT).decode()}\n",  # non-ASCII digits
    ],
)
def test_bad_checkpoint_bodies(text: str) -> None:
    with pytest.raises(NoteError):
        Checkpoint.parse_text(text)


def test_zero_size_and_extensions_parse() -> None:
    cp = Checkpoint.parse_text(f"{ORIGIN}\n0\n{base64.b64encode(ROOT).decode()}\next one\n")
    assert cp.size == 0 and cp.extensions == ("ext one",)


def test_origin_pinning() -> None:
    other = Checkpoint("other.example/log", 1, ROOT)
    data = _signed(other)
    with pytest.raises(NoteError):
        open_checkpoint(data, [VERIFIER], origin=ORIGIN)


def test_witness_cosignature_travels_and_verifies() -> None:
    witness = SigningKey.generate()
    wv = CosignatureVerifier("witness.example/w1", witness.public)
    body = Checkpoint(ORIGIN, 7, ROOT)
    note = SignedNote.parse(_signed(body))
    cosigned = note.with_signature(cosign_note(note.text, wv.name, witness, 1_700_000_000))
    reparsed = SignedNote.parse(cosigned.to_bytes())
    assert verify_note(reparsed, [VERIFIER, wv]) == [VERIFIER, wv]
    # a log verifier alone still accepts it: the cosignature is an unknown key to it
    open_checkpoint(cosigned.to_bytes(), [VERIFIER])
    # the log key used as a cosigner gets another key ID (type 0x04): no confusion
    assert CosignatureVerifier(ORIGIN, KEY.public).key_id != VERIFIER.key_id


@given(st.binary(max_size=600))
def test_parser_never_crashes(data: bytes) -> None:
    try:
        open_checkpoint(data, [VERIFIER])
    except NoteError:
        pass


@given(st.text(max_size=300))
def test_text_parser_never_crashes(text: str) -> None:
    try:
        Checkpoint.parse_text(text)
    except NoteError:
        pass
