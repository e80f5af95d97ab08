"""Pull tokens, pure: what the provider issues, what it accepts, and that nothing else gets through."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from connector import jws
from connector.canonical import b64url, canonical_bytes
from connector.dataplane.pull_tokens import TOKEN_TYPE, TokenClaims, TokenError, check_holder, issue_token, verify_token
from connector.keys import generate_key

KEY = generate_key()
OTHER = generate_key()
NOW = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
PROVIDER = "did:web:localhost%3A8443:provider"
CONSUMER = "did:web:localhost%3A9443:consumer"
THUMB = b64url(bytes(32))


def claims(**changes) -> TokenClaims:
    base = dict(
        issuer=PROVIDER,
        subject=CONSUMER,
        transfer_id="urn:uuid:t1",
        agreement_id="urn:uuid:a1",
        token_id="j1",
        issued_at=int(NOW.timestamp()),
        expires_at=int(NOW.timestamp()) + 300,
        cert_sha256=None,
    )
    base.update(changes)
    return TokenClaims(**base)


def test_a_token_round_trips_and_binds_transfer_holder_and_certificate() -> None:
    token = issue_token(KEY, f"{PROVIDER}#k", claims(cert_sha256=THUMB))
    got = verify_token(KEY.public_key(), token, issuer=PROVIDER, now=NOW)
    assert got == claims(cert_sha256=THUMB)
    check_holder(got, transfer_id="urn:uuid:t1", participant_id=CONSUMER, cert_sha256=THUMB)
    for kwargs, code in (
        (dict(transfer_id="urn:uuid:t2"), "token.wrong_transfer"),
        (dict(participant_id="did:web:x"), "token.wrong_holder"),
        (dict(cert_sha256=b64url(b"\x01" * 32)), "token.wrong_holder"),
    ):
        args = dict(transfer_id="urn:uuid:t1", participant_id=CONSUMER, cert_sha256=THUMB) | kwargs
        with pytest.raises(TokenError) as caught:
            check_holder(got, **args)
        assert caught.value.code == code


def test_a_token_without_cnf_is_held_to_the_certificate_pinned_at_first_use() -> None:
    got = verify_token(KEY.public_key(), issue_token(KEY, "k", claims()), issuer=PROVIDER, now=NOW)
    check_holder(got, transfer_id="urn:uuid:t1", participant_id=CONSUMER, cert_sha256=THUMB, pinned_sha256=None)
    with pytest.raises(TokenError):
        check_holder(
            got,
            transfer_id="urn:uuid:t1",
            participant_id=CONSUMER,
            cert_sha256=THUMB,
            pinned_sha256=b64url(b"\x02" * 32),
        )


def test_expiry_issuer_type_and_key_are_all_checked() -> None:
    token = issue_token(KEY, "k", claims())
    with pytest.raises(TokenError, match="expired"):
        verify_token(KEY.public_key(), token, issuer=PROVIDER, now=NOW + timedelta(seconds=300))
    with pytest.raises(TokenError) as caught:
        verify_token(OTHER.public_key(), token, issuer=PROVIDER, now=NOW)
    assert caught.value.code == "token.signature"
    with pytest.raises(TokenError):
        verify_token(KEY.public_key(), token, issuer="did:web:someone-else", now=NOW)
    untyped = jws.sign_compact(KEY, canonical_bytes(claims().to_json()), {"kid": "k"})
    with pytest.raises(TokenError, match="not a data-plane pull token"):
        verify_token(KEY.public_key(), untyped, issuer=PROVIDER, now=NOW)
    extra = jws.sign_compact(KEY, canonical_bytes({**claims().to_json(), "admin": True}), {"typ": TOKEN_TYPE})
    with pytest.raises(TokenError, match="unknown claims"):
        verify_token(KEY.public_key(), extra, issuer=PROVIDER, now=NOW)
    with pytest.raises(ValueError):
        issue_token(KEY, "k", claims(expires_at=int(NOW.timestamp())))


@settings(max_examples=200, deadline=None)
@given(st.data())
def test_any_change_to_a_token_is_refused(data) -> None:
    token = issue_token(KEY, "k", claims(cert_sha256=THUMB))
    position = data.draw(st.integers(0, len(token) - 1))
    replacement = data.draw(st.sampled_from("ABCDEFabcdef0123456789-_.=+/ "))
    tampered = token[:position] + replacement + token[position + 1 :]
    if tampered == token:
        return
    try:
        got = verify_token(KEY.public_key(), tampered, issuer=PROVIDER, now=NOW)
    except TokenError:
        return
    # Base64url has a few spare bits in its last character: only an identical payload may survive.
    assert got == claims(cert_sha256=THUMB)


@settings(max_examples=200, deadline=None)
@given(st.one_of(st.text(max_size=300), st.binary(max_size=300).map(lambda b: b.decode("latin-1"))))
def test_arbitrary_text_is_never_accepted_as_a_token(text) -> None:
    with pytest.raises(TokenError):
        verify_token(KEY.public_key(), text, issuer=PROVIDER, now=NOW)


@settings(max_examples=200, deadline=None)
@given(
    st.dictionaries(
        st.sampled_from(["iss", "sub", "tid", "agr", "jti", "iat", "exp", "cnf", "x"]),
        st.one_of(
            st.none(),
            st.integers(-5, 10**10),
            st.text(max_size=50),
            st.booleans(),
            st.dictionaries(st.text(max_size=10), st.text(max_size=50), max_size=2),
        ),
    )
)
def test_claims_parsing_accepts_only_well_formed_claims(value) -> None:
    try:
        got = TokenClaims.from_json(value)
    except TokenError:
        return
    assert got.to_json() == value
