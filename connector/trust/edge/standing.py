"""A peer's standing when data is about to flow, or while it flows: its certificate and the credentials verified
when the transfer was requested, re-checked now.

The data plane asks at every pull token it issues, every pull it serves and, for each stream in progress, every
``data.standing_interval`` seconds. The certificate is checked against the CRLs in force (`PeerTls`); the
credentials stored with the transfer are re-checked by the core's `Standing` (validity, issuer on a trust list in
force for each type, status bits), with status lists fetched through the verifier's `Fetcher` and cache, so that a
revocation is seen within ``trust.status_max_age`` as it is on the DSP side. Nothing is asked of the peer.

Refusals are recorded among the verifications (``GET /v1/verifications``) with the exact check, and logged; a
standing that holds is not recorded (it is asked every few seconds of every stream).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any

from cryptography import x509

from connector.errors import Problem
from connector.log import request_id
from connector.records.trust import VerificationRecord
from connector.trust.claims import VerifiedClaims
from connector.trust.edge.fetching import FetchFailed
from connector.trust.outcomes import NeedStatusLists, Refusal
from connector.trust.times import format_datetime

if TYPE_CHECKING:
    from connector.trust.edge.authenticator import DcpAuthenticator
    from connector.trust.edge.service import VerificationLog
    from connector.web.tls import PeerTls

log = logging.getLogger("connector.trust")

Clock = Callable[[], datetime]
# Stored claims (as the control plane keeps them with a process) -> VerifiedClaims.
Decode = Callable[[Mapping[str, Any], str, datetime], VerifiedClaims]


class StandingService:
    """The data plane's `PeerStanding` port: the certificate always; the credentials when this node verifies them."""

    def __init__(
        self,
        *,
        tls: PeerTls,
        records: VerificationLog,
        clock: Clock,
        decode: Decode,
        verifier: DcpAuthenticator | None = None,
    ) -> None:
        self.tls = tls
        self.records = records
        self.clock = clock
        self.decode = decode
        self.verifier = verifier

    async def standing(
        self,
        peer_id: str,
        claims: Mapping[str, Any] | None,
        certificate: x509.Certificate | None,
        *,
        method: str,
        path: str,
    ) -> Problem | None:
        """None while the peer stands as it did when the transfer was requested; otherwise why not (a code ending
        in ``.unavailable``: it could not be decided now). A refusal is recorded."""
        refusal: Refusal | None = None
        if certificate is not None and self.tls.is_revoked(certificate):
            problem = Problem("certificate.revoked", "the peer's certificate has been revoked")
            refusal = Refusal(problem, peer_id, "certificate")
        elif certificate is not None and self.tls.revocation_unknown(certificate):
            problem = Problem(
                "revocation.unavailable",
                "the revocation list of the peer's authority could not be fetched: nothing flows until it is",
            )
            refusal = Refusal(problem, peer_id, "certificate")
        elif self.verifier is not None and claims:
            refusal = await self._credentials(peer_id, claims)
        if refusal is None:
            return None
        await self._record(refusal, peer_id, method, path)
        return refusal.problem

    async def _credentials(self, peer_id: str, stored: Mapping[str, Any]) -> Refusal | None:
        from connector.trust.edge.authenticator import SETTLED  # loaded with the verifier
        from connector.trust.standing import InStanding, Standing, StandingSettings

        verifier = self.verifier
        assert verifier is not None
        now = self.clock()
        try:
            claims = self.decode(stored, peer_id, now)
        except (KeyError, TypeError, ValueError):
            problem = Problem("credential.claims_unreadable", "the claims stored with the transfer cannot be read")
            return Refusal(problem, peer_id, "credentials")
        if not claims.credentials:
            return None
        settings = StandingSettings(verifier.settings.leeway, verifier.settings.status_cache)
        check = Standing(claims, verifier.keeper.trust_store(), settings, verifier.status_lists)
        step = check.begin(now)
        url = None
        while isinstance(step, NeedStatusLists):
            url = step.urls[0]
            try:
                token, fetched_at = await verifier.fetcher.status_list(url, url in step.refetch)
                step = check.with_status_list(url, token, fetched_at, self.clock())
            except FetchFailed as exc:
                step = check.unavailable(str(exc), url)
        if isinstance(step, InStanding):
            return None
        if step.step == "status" and url is not None and step.code not in SETTLED:
            verifier.fetcher.forget_status(url)  # a copy that could not be used is not offered again
        return step

    async def _record(self, refusal: Refusal, peer_id: str, method: str, path: str) -> None:
        problem = refusal.problem
        detail: dict[str, Any] = {"standing": True}
        if problem.where:
            detail["where"] = problem.where
        record = VerificationRecord(
            format_datetime(self.clock()),
            peer_id,
            "refused",
            problem.code,
            problem.reason,
            refusal.step,
            method,
            path,
            request_id.get(),
            detail,
        )
        log.warning(
            "peer no longer in standing at %s: %s",
            refusal.step,
            problem.reason,
            extra={"peer": peer_id, "path": path, "code": problem.code, "step": refusal.step},
        )
        await self.records.record(record)
