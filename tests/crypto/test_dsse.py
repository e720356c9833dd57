"""DSSE rules (RELIABILITY T7)."""

from __future__ import annotations

import base64

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fairtrail.crypto import Envelope, Signature, SigningKey, pae, sign_envelope, verify_envelope
from fairtrail.errors import SignatureError, StatementError

A, B, C = SigningKey.generate(), SigningKey.generate(), SigningKey.generate()


def test_pae_matches_the_spec_example() -> None:
    assert pae("http://example.com/HelloWorld", b"hello world") == (
        b"DSSEv1 29 http://example.com/HelloWorld 11 hello world"
    )


def test_sign_and_verify() -> None:
    env = sign_envelope("text/plain", b"hi", [A])
    assert verify_envelope(env, [A.public]) == [A.public]
    assert Envelope.from_json(env.to_json()) == env


def test_changed_payload_type_or_payload_is_rejected() -> None:
    env = sign_envelope("text/plain", b"hi", [A])
    with pytest.raises(SignatureError):
        verify_envelope(env.model_copy(update={"payload_type": "text/html"}), [A.public])
    with pytest.raises(SignatureError):
        other = base64.b64encode(b"ho").decode()
        verify_envelope(env.model_copy(update={"payload": other}), [A.public])


def test_keyid_is_never_the_decision() -> None:
    env = sign_envelope("text/plain", b"hi", [A])
    spoofed = env.model_copy(
        update={"signatures": [Signature(keyid=B.key_id, sig=env.signatures[0].sig)]}
    )
    assert verify_envelope(spoofed, [A.public, B.public]) == [A.public]  # still A's signature
    with pytest.raises(SignatureError):
        verify_envelope(spoofed, [B.public])  # B's keyid does not make it B's signature


def test_duplicate_signatures_by_one_key_count_once() -> None:
    env = sign_envelope("text/plain", b"hi", [A, A, A])
    with pytest.raises(SignatureError):
        verify_envelope(env, [A.public, B.public], threshold=2)
    env2 = sign_envelope("text/plain", b"hi", [A, B])
    assert len(verify_envelope(env2, [A.public, B.public, C.public], threshold=2)) == 2


def test_standard_and_url_safe_base64_both_accepted() -> None:
    env = sign_envelope("text/plain", b"\xfb\xff" * 40, [A])
    url = env.model_copy(
        update={
            "payload": env.payload.replace("+", "-").replace("/", "_").rstrip("="),
            "signatures": [
                Signature(keyid="", sig=env.signatures[0].sig.replace("+", "-").replace("/", "_"))
            ],
        }
    )
    assert verify_envelope(url, [A.public])


def test_garbage_envelopes() -> None:
    for bad in [
        b"[]",
        b'{"payload": "!!", "payloadType": "x", "signatures": []}',
        b'{"payload": "", "payloadType": "x", "signatures": [{"sig": "x"}], "extra": 1}',
    ]:
        with pytest.raises(StatementError):
            Envelope.from_json(bad)
    env = Envelope(payload="***", payloadType="x", signatures=[Signature(sig="AAAA")])
    with pytest.raises(StatementError):
        verify_envelope(env, [A.public])


@settings(max_examples=300)
@given(
    payload=st.text(max_size=40),
    ptype=st.text(min_size=1, max_size=20),
    sigs=st.lists(st.tuples(st.text(max_size=12), st.text(max_size=12)), min_size=1, max_size=3),
)
def test_envelope_bytes_are_rfc8785(payload: str, ptype: str, sigs: list[tuple[str, str]]) -> None:
    """The envelope's fast serialiser writes exactly what rfc8785 writes."""
    import rfc8785

    env = Envelope(payload=payload, payload_type=ptype,
                   signatures=[Signature(keyid=k, sig=s) for k, s in sigs])  # fmt: skip
    try:
        expected = rfc8785.dumps(env.to_dict())
    except Exception:
        return  # not representable (lone surrogates): both paths refuse, tested elsewhere
    assert env.to_json() == expected
