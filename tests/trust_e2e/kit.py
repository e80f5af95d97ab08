"""Test kit for credentialed nodes: federations with a running authority service, credentialed participants,
node configurations that recognise chosen federations, and a raw mutual-TLS client for crafted requests."""

from __future__ import annotations

import contextlib
import json
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
from nodekit import Management, Participant, free_port, make_participant, write_config

from connector import keys
from connector.authority.service import AuthorityService
from connector.config import Listen
from connector.dsp.catalog_messages import CatalogRequestMessage
from connector.dsp.negotiation_messages import ContractRequestMessage
from connector.pki.authority import Authority, slug
from connector.pki.credentials import issue_participant_credential
from connector.pki.trust_list import issue_trust_list
from connector.trust.edge.service import TrustService
from connector.trust.scopes import type_scope
from connector.trust.tokens import issue_access_token, issue_id_token

TERMINAL = {"FINALIZED", "TERMINATED", "COMPLETED"}
DSP = "/dsp/2025-1"


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass
class Federation:
    """An authority with its signed trust list and (once started) its publication service."""

    authority: Authority
    port: int
    trust_list: Path
    service: AuthorityService | None = None

    @property
    def name(self) -> str:
        return self.authority.name

    async def start(self, status_validity: timedelta = timedelta(seconds=60)) -> Federation:
        self.service = AuthorityService(self.authority.dir, status_validity)
        await self.service.start(Listen("127.0.0.1", self.port))
        return self

    async def stop(self) -> None:
        if self.service is not None:
            await self.service.stop()
            self.service = None


def make_federation(root: Path, name: str, valid_days: float = 30, distribution_point: bool = True) -> Federation:
    port = free_port()
    authority = Authority.init(
        root / slug(name), name, public_url=f"https://localhost:{port}", distribution_point=distribution_point
    )
    path = root / f"{slug(name)}.trust-list.jws"
    issue_trust_list(authority, path, valid_days)
    return Federation(authority, port, path)


def credentialed(
    federation: Federation,
    root: Path,
    name: str,
    country: str = "DE",
    kinds: tuple[str, ...] = ("membership", "organization"),
) -> Participant:
    """A participant with TLS and signing identity and the credentials of its federation, written to its folder."""
    p = make_participant(federation.authority, root, name, country)
    for kind in kinds:
        if kind == "membership":
            issue_participant_credential(federation.authority, p.participant_id, kind, out=p.dir)
        else:
            issue_participant_credential(
                federation.authority, p.participant_id, kind, country=country, name=f"{name.title()} Ltd", out=p.dir
            )
    return p


@contextlib.asynccontextmanager
async def two_federations(
    root: Path,
    names: tuple[str, str] = ("Alpha Data Space", "Beta Data Space"),
    members: tuple[str, str] = ("org-a", "org-b"),
    countries: tuple[str, str] = ("JP", "FR"),
) -> AsyncIterator[tuple[Federation, Federation, Participant, Participant]]:
    """Two federations with their services started, and a member of each (`members[0]` of the first, `members[1]`
    of the second, in `countries`); the services stop at the end, whatever happened."""
    alpha = await make_federation(root, names[0]).start()
    try:
        beta = await make_federation(root, names[1]).start()
        try:
            a = credentialed(alpha, root, members[0], country=countries[0])
            b = credentialed(beta, root, members[1], country=countries[1])
            yield alpha, beta, a, b
        finally:
            await beta.stop()
    finally:
        await alpha.stop()


def credential_files(p: Participant) -> list[Path]:
    return sorted(p.dir.glob("*.credential.jwt"))


@dataclass
class NodeSpec:
    participant: Participant
    recognises: list[Federation]
    extra_cas: list[Path] = field(default_factory=list)
    extra_crls: list[Path] = field(default_factory=list)
    trust: dict[str, Any] = field(default_factory=dict)
    credentials: list[Path] | None = None
    trust_list_files: dict[str, Path] = field(default_factory=dict)  # federation name -> list file to use
    crl_override: Path | None = None  # a copy of the own authority's CRL (a CRL that lags behind)


def _toml(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    return json.dumps(str(value))


def dcp_config(spec: NodeSpec, root: Path) -> Path:
    """A node configuration recognising `spec.recognises` (trust lists, their CAs' CRLs) with its credentials."""
    p = spec.participant
    own = p.authority
    cas = [own.ca_cert_path] + spec.extra_cas
    own_crl = spec.crl_override or own.crl_path
    crls = [own_crl] + [f.authority.crl_path for f in spec.recognises if f.authority.dir != own.dir] + spec.extra_crls
    path = write_config(p, root, cas=cas, crls=list(dict.fromkeys(crls)))
    text = path.read_text()
    creds = credential_files(p) if spec.credentials is None else spec.credentials
    text = text.replace("[identity]\n", f"[identity]\ncredentials = {_toml([str(c) for c in creds])}\n", 1)
    trust_lines = "".join(f"{k} = {_toml(v)}\n" for k, v in spec.trust.items())
    text = text.replace("[trust]\n", "[trust]\n" + trust_lines, 1)
    for f in spec.recognises:
        file = spec.trust_list_files.get(f.name, f.trust_list)
        text += f"\n[[trust.lists]]\nfile = {_toml(str(file))}\nanchor = {_toml(str(f.authority.ca_cert_path))}\n"
    path.write_text(text)
    return path


def edge(node: Any) -> TrustService:
    return node.trust


# --- tokens crafted by hand -------------------------------------------------------------------------------------


@dataclass
class Signer:
    """A participant's signing key and DID, for tokens made outside any node."""

    did: str
    key: keys.PrivateKey

    @classmethod
    def of(cls, p: Participant) -> Signer:
        return cls(p.participant_id, keys.load_private_key(p.dir / "signing.key.pem"))

    @property
    def kid(self) -> str:
        return f"{self.did}#{keys.jwk_thumbprint(keys.public_jwk(self.key))}"

    def access_token(self, verifier: str, now: datetime | None = None) -> str:
        scopes = [type_scope("MembershipCredential"), type_scope("OrganizationCredential")]
        return issue_access_token(self.key, self.kid, self.did, verifier, scopes, now or utcnow())

    def id_token(self, audience: str, now: datetime | None = None, **kw: Any) -> str:
        now = now or utcnow()
        access = kw.pop("access_token", None) or self.access_token(audience, now)
        return issue_id_token(kw.pop("key", self.key), kw.pop("kid", self.kid), self.did, audience, access, now, **kw)


# --- a raw peer: mutual TLS with a participant's certificate, any Authorization header -----------------------------


class RawPeer:
    def __init__(self, p: Participant) -> None:
        self.p = p
        self.ssl = p.client_ssl()

    async def post(self, target: Participant, path: str, body: Any, authorization: str | None) -> tuple[int, Any]:
        headers = {"Content-Type": "application/json"}
        if authorization is not None:
            headers["Authorization"] = authorization
        async with aiohttp.ClientSession() as session:
            async with session.post(
                f"https://localhost:{target.protocol_port}{path}", data=json.dumps(body), headers=headers, ssl=self.ssl
            ) as resp:
                text = await resp.text()
                return resp.status, json.loads(text) if text else None

    async def catalogue(self, target: Participant, authorization: str | None) -> tuple[int, Any]:
        return await self.post(target, f"{DSP}/catalog/request", CatalogRequestMessage().to_json(), authorization)

    async def request_contract(
        self, target: Participant, authorization: str | None, offer_id: str = "weather-offer", dataset: str = "weather"
    ) -> tuple[int, Any]:
        msg = ContractRequestMessage(
            consumer_pid=f"urn:uuid:{uuid.uuid4()}",
            offer={
                "@id": offer_id,
                "target": dataset,
                "assigner": target.participant_id,
                "permission": [{"action": "use"}],
            },
            callback_address=f"https://localhost:{self.p.protocol_port}{DSP}",
        )
        return await self.post(target, f"{DSP}/negotiations/request", msg.to_json(), authorization)


async def negotiate_offer(
    m: Management, provider: Participant, offer_id: str, dataset: str, wait: str = "FINALIZED,TERMINATED"
) -> dict[str, Any]:
    """Start a negotiation with the offer spelled out (no catalogue lookup first) and wait for its outcome."""
    offer = {"@id": offer_id, "target": dataset, "assigner": provider.participant_id, "permission": [{"action": "use"}]}
    neg = await m.call(
        "POST",
        "/v1/negotiations",
        {
            "counterPartyAddress": f"https://localhost:{provider.protocol_port}{DSP}",
            "counterPartyId": provider.participant_id,
            "offer": offer,
            "datasetId": dataset,
        },
        201,
    )
    return await m.call("GET", f"/v1/negotiations/{neg['id']}?wait={wait}&timeout=20", None, 200)


# --- reading a node's state -------------------------------------------------------------------------------------


async def refusals(m: Management, since: int = 0) -> list[dict[str, Any]]:
    page = await m.call("GET", "/v1/verifications?outcome=refused&limit=500", None, 200)
    return [r for r in page["items"] if r["id"] > since]


async def last_record_id(m: Management) -> int:
    page = await m.call("GET", "/v1/verifications?limit=1", None, 200)
    return page["items"][0]["id"] if page["items"] else 0


async def open_processes(m: Management) -> list[dict[str, Any]]:
    """Negotiations and transfers not in a terminal state."""
    found = []
    for kind in ("negotiations", "transfers"):
        page = await m.call("GET", f"/v1/{kind}?limit=500", None, 200)
        found += [p for p in page["items"] if p["state"] not in TERMINAL]
    return found
