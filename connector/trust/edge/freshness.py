"""How fresh is what the node depends on: when each piece of its trust material expires, and whether it still can
be used. One small value (`Freshness`) that the health probe reads and the node's log reports.

What is followed: the node's own TLS and signing certificates, the credentials it presents, the trust lists in
force, and the CRLs (configured files and those fetched from distribution points). Each item is:

- ``ok``: valid for longer than ``trust.expiry_warning``;
- ``expiring``: valid, but for less than that: someone must renew it (a warning, once a day per item); for a
  CRL fetched from a distribution point, when the authority's CRL itself (its nextUpdate) is that close;
- ``stale``: a fetched CRL past ``trust.crl_max_age`` whose distribution point cannot be reached, still in force
  within its grace period;
- ``expired``: no longer usable (an error, once an hour per item): what depends on it is refused.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from connector.trust.times import format_datetime, parse_datetime

if TYPE_CHECKING:
    from connector.identity import NodeIdentity
    from connector.records.trust import OwnCredential
    from connector.trust.edge.crls import CrlKeeper
    from connector.trust.edge.trust_lists import TrustListKeeper
    from connector.web.tls import TrustMaterial

log = logging.getLogger("connector.trust")

OK, EXPIRING, STALE, EXPIRED = "ok", "expiring", "stale", "expired"
WARN_EVERY = 24 * 3600.0
ERROR_EVERY = 3600.0


@dataclass(frozen=True)
class Material:
    kind: str  # certificate | credential | trust_list | crl
    name: str
    expires_at: datetime | None
    state: str
    detail: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "name": self.name,
            "expiresAt": format_datetime(self.expires_at) if self.expires_at else None,
            "state": self.state,
            "detail": self.detail,
        }


@dataclass(frozen=True)
class Freshness:
    at: datetime
    items: tuple[Material, ...]

    @property
    def ok(self) -> bool:
        """Nothing the node depends on has lapsed."""
        return all(m.state != EXPIRED for m in self.items)

    @property
    def attention(self) -> tuple[Material, ...]:
        """What someone should look at (expiring, stale or expired), soonest first."""
        pending = [m for m in self.items if m.state != OK]
        return tuple(sorted(pending, key=lambda m: (m.state != EXPIRED, m.expires_at or self.at)))

    def to_json(self) -> dict[str, Any]:
        return {"ok": self.ok, "attention": [m.to_json() for m in self.attention]}


def _state(expires_at: datetime | None, now: datetime, warn: timedelta) -> str:
    if expires_at is None:
        return OK
    if expires_at <= now:
        return EXPIRED
    return EXPIRING if expires_at - now <= warn else OK


def assess(
    now: datetime,
    warn: timedelta,
    identity: NodeIdentity | None = None,
    credentials: Iterable[OwnCredential] = (),
    lists: TrustListKeeper | None = None,
    material: TrustMaterial | None = None,
    crls: CrlKeeper | None = None,
) -> Freshness:
    items: list[Material] = []
    if identity is not None:
        for name, cert in (("TLS certificate", identity.tls_cert), ("signing certificate", identity.signing_cert)):
            until = cert.not_valid_after_utc
            items.append(
                Material("certificate", name, until, _state(until, now, warn), f"serial {cert.serial_number:x}")
            )
    for credential in credentials:
        valid_until = (
            parse_datetime(credential.valid_until, "credential.malformed", "validUntil")
            if credential.valid_until
            else None
        )
        kinds = ", ".join(t for t in credential.types if t != "VerifiableCredential")
        items.append(
            Material(
                "credential", kinds or credential.id, valid_until, _state(valid_until, now, warn), credential.issuer
            )
        )
    if lists is not None:
        for kept in lists.states:
            current = kept.current
            list_until = current.valid_until if current is not None else None
            name = current.federation_name if current is not None else kept.key
            state = _state(list_until, now, warn) if list_until else EXPIRED
            items.append(Material("trust_list", name, list_until, state, kept.source))
    fetched = set()
    if crls is not None:
        for source in crls.sources.values():
            fetched.add(source.ca.subject.public_bytes())
            lapses = source.expires_at(crls.max_age, crls.grace)
            # Fetched again and again: what must be renewed is the authority's own CRL (its nextUpdate).
            next_update = source.crl.next_update_utc if source.crl is not None else None
            if not source.in_force:
                state = EXPIRED
            elif source.stale(now, crls.max_age):
                state = STALE
            else:
                state = _state(next_update, now, warn)
            items.append(Material("crl", source.name, lapses, state, source.last_error or source.url))
    if material is not None:
        for crl in material.crls:
            if crl.issuer.public_bytes() in fetched:
                continue
            next_update = crl.next_update_utc
            items.append(
                Material("crl", crl.issuer.rfc4514_string(), next_update, _state(next_update, now, warn), "file")
            )
    return Freshness(now, tuple(items))


class FreshnessWatch:
    """Logs what needs attention: a warning well before something expires, an error once it has."""

    def __init__(self, assess_now: Callable[[], Freshness], interval: float = 60.0) -> None:
        self.assess_now = assess_now
        self.interval = interval
        self._told: dict[tuple[str, str, str], float] = {}

    def report(self) -> Freshness:
        freshness = self.assess_now()
        now = time.monotonic()
        for m in freshness.attention:
            key = (m.kind, m.name, m.state)
            every = ERROR_EVERY if m.state == EXPIRED else WARN_EVERY
            if now - self._told.get(key, -every) < every:
                continue
            self._told[key] = now
            until = format_datetime(m.expires_at) if m.expires_at else "unknown"
            if m.state == EXPIRED:
                log.error("%s %s has expired (%s): what depends on it is refused", m.kind, m.name, until)
            elif m.state == STALE:
                log.warning("%s %s could not be refreshed; in force until %s", m.kind, m.name, until)
            else:
                log.warning("%s %s expires at %s: renew it before then", m.kind, m.name, until)
        return freshness

    async def run(self) -> None:
        while True:
            self.report()
            await asyncio.sleep(self.interval)
