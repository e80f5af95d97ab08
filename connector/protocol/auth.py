"""The verifier seam as the protocol listener sees it: (TLS peer, Authorization header) -> verified claims.

DSP handlers never parse tokens: they call `authenticate(request)` and get the caller's verified claims, or a
ConnectorError naming the failed check (which they answer as DSP prescribes for an unauthorised peer).
"""

from __future__ import annotations

import hmac
import logging
from datetime import UTC, datetime
from typing import Protocol

from aiohttp import web

from connector.errors import ConnectorError, Problem
from connector.trust.claims import VerifiedClaims
from connector.web.middleware import PEER, PEER_PROBLEM

log = logging.getLogger("connector.auth")


class Authenticator(Protocol):
    async def authenticate(self, request: web.Request) -> VerifiedClaims: ...


class RefusalLog(Protocol):
    """Where refusals at the protocol edge are recorded (the evidence log), at a bounded rate per peer."""

    async def record_refusal(self, problem: Problem, peer: str | None, path: str | None) -> None: ...


class NoRefusalLog:
    async def record_refusal(self, problem: Problem, peer: str | None, path: str | None) -> None:
        return None


class CertificateAuthenticator:
    """The peer is who its (verified, unrevoked) client certificate names; no credentials are checked."""

    async def authenticate(self, request: web.Request) -> VerifiedClaims:
        peer = request.get(PEER)
        if peer is None:
            problem = request.get(PEER_PROBLEM) or Problem("auth.no_peer", "no authenticated peer on this connection")
            raise ConnectorError(problem.code, problem.reason)
        return VerifiedClaims(participant_id=peer.participant_id, verified_at=datetime.now(UTC))


class StaticTokenAuthenticator:
    """Conformance-test profile: one fixed Authorization value stands for one participant."""

    def __init__(self, token: str, participant: str) -> None:
        self._token = token.encode()
        self._participant = participant

    async def authenticate(self, request: web.Request) -> VerifiedClaims:
        presented = request.headers.get("Authorization", "").encode()
        if not self._token or not hmac.compare_digest(presented, self._token):
            raise ConnectorError("auth.token", "the Authorization header is not the configured test token")
        return VerifiedClaims(participant_id=self._participant, verified_at=datetime.now(UTC))
