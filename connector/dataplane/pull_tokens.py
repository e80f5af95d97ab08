"""Pull tokens: short-lived bearer tokens a provider issues for one transfer, bound to one consumer.

A token is a compact JWS (ES256, the provider's participant signing key) whose claims name the provider (`iss`),
the consumer (`sub`), the transfer (`tid`, the provider's process id) and the agreement (`agr`), with its validity
(`iat`, `exp`) and id (`jti`). When the consumer's TLS certificate is known at issuance (a refresh over mutual
TLS), `cnf` carries its SHA-256 thumbprint (``x5t#S256``, RFC 8705); otherwise the token names the consumer's DID
and the provider pins the certificate at first use. Either way a token is worthless without the consumer's TLS
key. The signature makes a token self-describing; the provider's store decides whether it is still the current
one for its transfer (a fresh token, a suspension or an end retires it).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes

from connector import jws
from connector.canonical import b64url, canonical_bytes
from connector.errors import ConnectorError
from connector.keys import PrivateKey, PublicKey
from connector.trust.times import to_numeric_date

TOKEN_TYPE = "dataplane-pull+jwt"
_FIELDS = frozenset({"iss", "sub", "tid", "agr", "jti", "iat", "exp", "cnf"})
_THUMBPRINT = re.compile(r"[A-Za-z0-9_-]{43}")
MAX_TOKEN_LENGTH = 8192


class TokenError(ConnectorError):
    """A token that cannot be accepted; the code says which check failed (``token.*``)."""


def cert_thumbprint(cert: x509.Certificate) -> str:
    """``x5t#S256``: base64url of the SHA-256 of the certificate's DER."""
    return b64url(cert.fingerprint(hashes.SHA256()))


@dataclass(frozen=True)
class TokenClaims:
    issuer: str  # the provider's DID
    subject: str  # the consumer's DID
    transfer_id: str  # the provider's transfer process id
    agreement_id: str
    token_id: str
    issued_at: int  # seconds since the epoch
    expires_at: int
    cert_sha256: str | None = None  # x5t#S256 of the consumer certificate the token is bound to

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "iss": self.issuer,
            "sub": self.subject,
            "tid": self.transfer_id,
            "agr": self.agreement_id,
            "jti": self.token_id,
            "iat": self.issued_at,
            "exp": self.expires_at,
        }
        if self.cert_sha256 is not None:
            out["cnf"] = {"x5t#S256": self.cert_sha256}
        return out

    @classmethod
    def from_json(cls, value: Any) -> TokenClaims:
        """Strict: every claim present with its type, nothing unknown."""
        if not isinstance(value, Mapping):
            raise TokenError("token.malformed", "the token's claims are not a JSON object")
        unknown = sorted(str(k) for k in value if k not in _FIELDS)
        if unknown:
            raise TokenError("token.malformed", f"the token carries unknown claims: {', '.join(unknown)}")
        strings = {}
        for key in ("iss", "sub", "tid", "agr", "jti"):
            text = value.get(key)
            if not isinstance(text, str) or not text:
                raise TokenError("token.malformed", f"the token's '{key}' claim must be a non-empty string")
            strings[key] = text
        times = {}
        for key in ("iat", "exp"):
            number = value.get(key)
            if isinstance(number, bool) or not isinstance(number, int) or number < 0:
                raise TokenError("token.malformed", f"the token's '{key}' claim must be a time in epoch seconds")
            times[key] = number
        thumbprint = None
        if "cnf" in value:
            cnf = value["cnf"]
            if not isinstance(cnf, Mapping) or set(cnf) != {"x5t#S256"}:
                raise TokenError("token.malformed", "the token's 'cnf' claim must hold exactly x5t#S256")
            thumbprint = cnf["x5t#S256"]
            if not isinstance(thumbprint, str) or _THUMBPRINT.fullmatch(thumbprint) is None:
                raise TokenError("token.malformed", "the token's x5t#S256 is not a base64url SHA-256")
        return cls(
            strings["iss"],
            strings["sub"],
            strings["tid"],
            strings["agr"],
            strings["jti"],
            times["iat"],
            times["exp"],
            thumbprint,
        )


def issue_token(key: PrivateKey, kid: str, claims: TokenClaims) -> str:
    if claims.expires_at <= claims.issued_at:
        raise ValueError("a token must expire after it is issued")
    return jws.sign_compact(key, canonical_bytes(claims.to_json()), {"kid": kid, "typ": TOKEN_TYPE})


def verify_token(key: PublicKey, token: str, *, issuer: str, now: datetime, expired_ok: bool = False) -> TokenClaims:
    """Check the signature (our own key: we only accept tokens we issued), the type, the issuer and the expiry
    (unless `expired_ok`: the caller then decides what an expired token may still do). Raises TokenError; the
    binding to a transfer and a holder is `check_holder`'s business."""
    if not isinstance(token, str) or not token or len(token) > MAX_TOKEN_LENGTH:
        raise TokenError("token.malformed", "the bearer token is empty or too long")
    try:
        header, payload = jws.verify_compact(key, token)
    except jws.JwsError as exc:
        code = "token.signature" if exc.code == "jws.signature" else "token.malformed"
        raise TokenError(code, f"the bearer token is not one this provider issued ({exc.reason})") from None
    if header.get("typ") != TOKEN_TYPE:
        raise TokenError("token.malformed", "the bearer token is not a data-plane pull token")
    try:
        value = json.loads(payload)
    except ValueError:
        raise TokenError("token.malformed", "the token's payload is not JSON") from None
    claims = TokenClaims.from_json(value)
    if claims.issuer != issuer:
        raise TokenError("token.signature", "the bearer token was issued by another participant")
    if not expired_ok and to_numeric_date(now) >= claims.expires_at:
        raise TokenError("token.expired", "the bearer token has expired; ask for a fresh one")
    return claims


def check_holder(
    claims: TokenClaims,
    *,
    transfer_id: str,
    participant_id: str,
    cert_sha256: str | None,
    pinned_sha256: str | None = None,
) -> None:
    """The token must be for this transfer and presented by its consumer, with the certificate it is bound to
    (its `cnf`, or the one pinned at first use; `cert_sha256` None: none was presented). Raises TokenError."""
    if claims.transfer_id != transfer_id:
        raise TokenError("token.wrong_transfer", "the bearer token was issued for another transfer")
    if claims.subject != participant_id:
        raise TokenError(
            "token.wrong_holder", f"the bearer token was issued to {claims.subject}, not to {participant_id}"
        )
    for bound in (claims.cert_sha256, pinned_sha256):
        if bound is not None and bound != cert_sha256:
            raise TokenError(
                "token.wrong_holder", "the bearer token is bound to another TLS certificate than the one presented"
            )
