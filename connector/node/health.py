"""What the node's probes check, each by exercising what it names (management.app.Probes renders them).

- store: a write committed (a heartbeat row in the settings): a full, read-only, damaged or unreachable store fails
  it, named with its file or URL; so does a write of the node's refused in the last UNWRITABLE_WINDOW seconds
  because the store could not keep it (a full disk lets a heartbeat that rewrites its row commit while the node's
  work, which needs room, is refused);
- certificate: this node's TLS and signing certificates are within their validity;
- crl: every CRL in force is no further past its next update than `trust.freshness_grace`;
- trust_lists: every recognised trust list is in force, and its URL (if any) has not failed to answer for longer
  than the grace;
- peers: not every verification of a peer's request in the last PEER_WINDOW seconds was refused (when every one
  is, the node is usually the cause: it cannot fetch status lists, its CRL is stale, ...). It degrades health but
  not readiness: one peer in bad standing must not take a node out of rotation.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Callable
from datetime import datetime, timedelta

from cryptography import x509

from connector.config import TrustSection
from connector.errors import ConnectorError
from connector.identity import NodeIdentity
from connector.management.app import HealthCheck
from connector.store.errors import StoreError
from connector.store.interface import Store
from connector.store.sql.settings import put_setting
from connector.trust.edge.service import VerificationLog
from connector.trust.edge.trust_lists import TrustListKeeper
from connector.web.tls import PeerTls

HEARTBEAT = "health.heartbeat"
STORE_TIMEOUT = 5.0
PEER_WINDOW = 300.0
PEER_MINIMUM = 3  # refusals in the window before "every peer refused" is said
UNWRITABLE_WINDOW = 60.0


class NodeHealth:
    def __init__(
        self,
        *,
        store: Store,
        settings: TrustSection,
        keeper: TrustListKeeper,
        records: VerificationLog,
        clock: Callable[[], datetime],
        tls: PeerTls | None = None,
        identity: NodeIdentity | None = None,
        unwritable: Callable[[], tuple[float, str] | None] = lambda: None,
    ) -> None:
        self.store = store
        self.unwritable = unwritable  # the last write refused for want of room (monotonic time, reason), or None
        self.grace = timedelta(seconds=settings.freshness_grace)
        self.keeper = keeper
        self.records = records
        self.clock = clock
        self.tls = tls
        self.identity = identity

    async def checks(self) -> list[HealthCheck]:
        now = self.clock()
        found = [await self._store(now)]
        if self.identity is not None:
            found.append(self._certificates(now, self.identity))
        if self.tls is not None:
            found.append(self._crls(now, self.tls.material.crls))
        if self.keeper.states:
            found.append(self._trust_lists(now))
        found.append(self._peers())
        return found

    async def _store(self, now: datetime) -> HealthCheck:
        try:
            answered = await asyncio.wait_for(self.store.healthy(), STORE_TIMEOUT)
            if not answered:
                return HealthCheck("store", False, "the store does not answer")
            await asyncio.wait_for(self.store.run(put_setting, HEARTBEAT, now.isoformat()), STORE_TIMEOUT)
        except (StoreError, ConnectorError) as exc:
            return HealthCheck("store", False, f"a write to the store failed: {exc}")
        except TimeoutError:
            return HealthCheck("store", False, f"a write to the store took more than {STORE_TIMEOUT:g} s")
        refused = self.unwritable()
        if refused is not None and (ago := time.monotonic() - refused[0]) < UNWRITABLE_WINDOW:
            return HealthCheck(
                "store",
                False,
                f"the store refused the node's writes {ago:.0f} s ago (small writes still commit): {refused[1]}",
            )
        return HealthCheck("store", True, "a write committed")

    @staticmethod
    def _certificates(now: datetime, identity: NodeIdentity) -> HealthCheck:
        ends = []
        for what, cert in (("TLS", identity.tls_cert), ("signing", identity.signing_cert)):
            until = cert.not_valid_after_utc
            if until <= now:
                return HealthCheck(
                    "certificate", False, f"this node's {what} certificate expired at {until:%Y-%m-%d %H:%M}Z"
                )
            ends.append(until)
        return HealthCheck("certificate", True, f"valid until {min(ends):%Y-%m-%d %H:%M}Z")

    def _crls(self, now: datetime, crls: list[x509.CertificateRevocationList]) -> HealthCheck:
        late = []
        for crl in crls:
            due = crl.next_update_utc
            if due is not None and now > due + self.grace:
                late.append(f"the CRL of {_name(crl.issuer)} was due for renewal at {due:%Y-%m-%d %H:%M}Z")
        if late:
            return HealthCheck("crl", False, "; ".join(late) + " (revocations since are not seen)")
        return HealthCheck("crl", True, f"{len(crls)} in force")

    def _trust_lists(self, now: datetime) -> HealthCheck:
        problems = []
        for state in self.keeper.states:
            current = state.current
            name = current.federation_name if current is not None else state.key
            if current is None or not state.usable(now):
                until = f" at {current.valid_until:%Y-%m-%d %H:%M}Z" if current is not None else ""
                problems.append(f"the trust list of {name} expired{until}")
            elif state.unreachable_since is not None and now - state.unreachable_since > self.grace:
                problems.append(
                    f"the trust list of {name} could not be fetched from {state.entry.url} since "
                    f"{state.unreachable_since:%Y-%m-%d %H:%M}Z"
                )
        if problems:
            return HealthCheck("trust_lists", False, "; ".join(problems))
        return HealthCheck("trust_lists", True, f"{len(self.keeper.states)} in force")

    def _peers(self) -> HealthCheck:
        outcomes = self.records.since(PEER_WINDOW)
        refused = Counter(code or "refused" for code in outcomes if code is not None)
        total = len(outcomes)
        if total >= PEER_MINIMUM and sum(refused.values()) == total:
            codes = ", ".join(f"{code} x{count}" for code, count in refused.most_common())
            detail = f"every peer request of the last {PEER_WINDOW:g} s was refused ({codes})"
            return HealthCheck("peers", False, detail, readiness=False)
        return HealthCheck(
            "peers",
            True,
            f"{total - sum(refused.values())} of {total} verified in the last {PEER_WINDOW:g} s",
            readiness=False,
        )


def _name(name: x509.Name) -> str:
    common = name.get_attributes_for_oid(x509.NameOID.COMMON_NAME)
    return str(common[0].value) if common else name.rfc4514_string()


__all__ = ["NodeHealth"]
