"""A peer that behaves on the wire as an Eclipse EDC connector does, to test a node against.

Written from the specifications and EDC's documented wire format, not from this project's code (it uses PyJWT,
cryptography and aiohttp directly; of the project it only borrows the vendored official schemas, as oracles):

- DCP 1.0 (base.protocol.md, verifiable.presentation.protocol.md, dcp.profiles.md): a did:web DID whose document
  lists JsonWebKey2020 methods (without relationships and without x5c, as IdentityHub publishes them) and a
  CredentialService; self-issued ID tokens (iss = sub = the DID, aud = the verifier's DID, jti, iat, exp, and
  in ``token`` an access token for its own credential service, as EDC's STS issues it); a credential service
  answering PresentationQueryMessages for the scopes that access token grants, in either credential profile
  (vc20-bssl/jwt: a VC 2.0 presentation enveloped as IdentityHub sends it; vc11-sl2021/jwt: a ``vp`` claim
  JWT); and the verifier side: another participant's ID token checked against its DID document, a presentation
  fetched from its credential service with that participant's access token, every credential checked with its
  issuer's key (from the issuer's DID document, the issuer being one of `trusted_issuers`), validity dates,
  subject and Bitstring Status List.
- DSP 2025-1 (HTTPS binding): catalogue, contract negotiation and transfer process in both roles, compact JSON-LD
  with the 2025-1 context. EDC authenticates every request with ``Authorization: Bearer <ID token>``, presents
  no client certificate and serves a web server certificate.
- EDC's HttpData-PULL: the provider's TransferStartMessage carries the endpoint data reference as endpoint
  properties named in EDC's namespace (endpoint, endpointType, authorization, authType bearer), and its data
  plane takes the token, bare, in the Authorization header; it never seals what it serves. A consumer reads the
  reference from the properties only.

Every DCP message and ID token it receives or sends, and every DSP message, is checked against the official
schemas (`dcp_oracle`, the DSP schemas); violations are collected in `violations`.
"""

from __future__ import annotations

import asyncio
import base64
import gzip
import json
import ssl
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote

import aiohttp
import dcp_oracle
import jwt
from aiohttp import web
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.x509.oid import NameOID

from connector.dsp.schemas import validate as dsp_validate  # the vendored official DSP 2025-1 schemas

DSP_CONTEXT = "https://w3id.org/dspace/2025/1/context.jsonld"
DCP_CONTEXT = "https://w3id.org/dspace-dcp/v1.0/dcp.jsonld"
DID_CONTEXT = "https://www.w3.org/ns/did/v1"
VC1 = "https://www.w3.org/2018/credentials/v1"
VC2 = "https://www.w3.org/ns/credentials/v2"
EDC = "https://w3id.org/edc/v0.0.1/ns/"
HTTP_ENDPOINT = "https://w3id.org/idsa/v4.1/HTTP"
EDC_SCOPE = "org.eclipse.edc.vc.type"  # EDC's default scope alias
DSP_PATH = "/api/dsp/2025-1"
VC20, VC11 = "vc20-bssl/jwt", "vc11-sl2021/jwt"


class Refused(Exception):
    def __init__(self, code: str, reason: str) -> None:
        super().__init__(f"{code}: {reason}")
        self.code = code
        self.reason = reason


# --- keys -----------------------------------------------------------------------------------------------------


@dataclass
class Key:
    """A signing key of one of the kinds DCP implementations handle, with its JOSE algorithm."""

    kind: str  # p256 | p384 | ed25519 | rsa
    private: Any
    alg: str

    @classmethod
    def new(cls, kind: str) -> Key:
        if kind == "p256":
            return cls(kind, ec.generate_private_key(ec.SECP256R1()), "ES256")
        if kind == "p384":
            return cls(kind, ec.generate_private_key(ec.SECP384R1()), "ES384")
        if kind == "ed25519":
            return cls(kind, ed25519.Ed25519PrivateKey.generate(), "EdDSA")
        if kind == "rsa":
            return cls(kind, rsa.generate_private_key(public_exponent=65537, key_size=2048), "RS256")
        raise ValueError(kind)

    def public_jwk(self) -> dict[str, Any]:
        algorithm = jwt.get_algorithm_by_name(self.alg)
        return json.loads(algorithm.to_jwk(self.private.public_key()))

    def sign(self, claims: dict[str, Any], kid: str, typ: str | None = "JWT") -> str:
        headers: dict[str, Any] = {"kid": kid}
        if typ is not None:
            headers["typ"] = typ
        return jwt.encode(claims, self.private, algorithm=self.alg, headers=headers)


def _alg_for(jwk: dict[str, Any]) -> str:
    if jwk.get("kty") == "EC":
        return {"P-256": "ES256", "P-384": "ES384", "P-521": "ES512"}[jwk["crv"]]
    if jwk.get("kty") == "OKP":
        return "EdDSA"
    if jwk.get("kty") == "RSA":
        return "RS256"
    raise Refused("key.unsupported", f"a {jwk.get('kty')} key")


def _verify(token: str, jwk: dict[str, Any], **options: Any) -> dict[str, Any]:
    public = {k: v for k, v in jwk.items() if k in ("kty", "crv", "x", "y", "n", "e")}
    key = jwt.PyJWK(public, algorithm=_alg_for(public))
    try:
        claims: dict[str, Any] = jwt.decode(
            token, key.key, algorithms=[_alg_for(public)], options={"verify_aud": False, **options}, leeway=30
        )
    except jwt.ExpiredSignatureError:
        raise Refused("token.expired", "the JWT has expired") from None
    except jwt.ImmatureSignatureError:
        raise Refused("token.not_yet_valid", "the JWT is not valid yet") from None
    except jwt.InvalidTokenError as exc:
        raise Refused("token.invalid", str(exc)) from None
    return claims


# --- a web PKI: the peer's server certificate, from an authority that is not a federation's ---------------------


@dataclass
class WebPki:
    """A certificate authority for web servers, its CRL, and the peer's server certificate (for localhost)."""

    dir: Path
    ca_cert: Path = field(init=False)
    crl: Path = field(init=False)
    server_cert: Path = field(init=False)
    server_key: Path = field(init=False)

    def __post_init__(self) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        now = datetime.now(UTC)
        ca_key = ec.generate_private_key(ec.SECP256R1())
        ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Web Test Root CA")])
        ca = (
            x509.CertificateBuilder()
            .subject_name(ca_name)
            .issuer_name(ca_name)
            .public_key(ca_key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(minutes=5))
            .not_valid_after(now + timedelta(days=30))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(_key_usage(cert_sign=True), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
            .sign(ca_key, hashes.SHA256())
        )
        key = ec.generate_private_key(ec.SECP256R1())
        server = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
            .issuer_name(ca_name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(minutes=5))
            .not_valid_after(now + timedelta(days=30))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(_key_usage(cert_sign=False), critical=True)
            .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(
                x509.SubjectAlternativeName([x509.DNSName("localhost")]),
                critical=False,
            )
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
            .sign(ca_key, hashes.SHA256())
        )
        crl = (
            x509.CertificateRevocationListBuilder()
            .issuer_name(ca_name)
            .last_update(now - timedelta(minutes=5))
            .next_update(now + timedelta(days=7))
            .sign(ca_key, hashes.SHA256())
        )
        pem = serialization.Encoding.PEM
        self.ca_cert, self.crl = self.dir / "web-ca.pem", self.dir / "web-ca.crl.pem"
        self.server_cert, self.server_key = self.dir / "server.pem", self.dir / "server.key"
        self.ca_cert.write_bytes(ca.public_bytes(pem))
        self.crl.write_bytes(crl.public_bytes(pem))
        self.server_cert.write_bytes(server.public_bytes(pem))
        self.server_key.write_bytes(
            key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
        )

    def server_context(self) -> ssl.SSLContext:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(self.server_cert, self.server_key)
        ctx.verify_mode = ssl.CERT_NONE  # EDC asks for no client certificate
        return ctx


def _key_usage(cert_sign: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=True,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=cert_sign,
        crl_sign=cert_sign,
        encipher_only=False,
        decipher_only=False,
    )


# --- did:web ----------------------------------------------------------------------------------------------------


def did_url(did: str) -> str:
    """Where a did:web DID document lives (W3C did:web, "Read")."""
    parts = did.split(":")[2:]
    host = unquote(parts[0])
    path = "/".join(unquote(p) for p in parts[1:])
    return f"https://{host}/{path}/did.json" if path else f"https://{host}/.well-known/did.json"


def _now() -> int:
    return int(datetime.now(UTC).timestamp())


# --- the peer ---------------------------------------------------------------------------------------------------


@dataclass
class Negotiation:
    provider_pid: str
    consumer_pid: str
    state: str
    peer: str
    callback: str
    offer: dict[str, Any]
    agreement: dict[str, Any] | None = None
    changed: asyncio.Event = field(default_factory=asyncio.Event)


@dataclass
class Transfer:
    provider_pid: str
    consumer_pid: str
    state: str
    peer: str
    callback: str
    agreement_id: str
    address: dict[str, Any] | None = None
    changed: asyncio.Event = field(default_factory=asyncio.Event)


class EdcPeer:
    """One EDC connector with its identity hub: DID document, credential service, DSP in both roles, data plane."""

    def __init__(
        self,
        root: Path,
        port: int,
        web: WebPki,
        trust_roots: list[Path],
        *,
        key_kind: str = "p256",
        profile: str = VC20,
        credentials: list[str] | None = None,
        trusted_issuers: set[str] | None = None,
        participant_id: str | None = None,
        name: str = "edc",
        key: Key | None = None,
    ) -> None:
        self.root = root
        self.port = port
        self.web = web
        self.trust_roots = trust_roots  # CAs of the servers this peer calls (the federation's, for nodes)
        self.key = key or Key.new(key_kind)  # a DID keeps its key from one run of the peer to the next
        self.profile = profile
        self.credentials = list(credentials or [])
        self.trusted_issuers = set(trusted_issuers or ())
        self.did = f"did:web:localhost%3A{port}:{name}"
        self.name = name
        self.kid = f"{self.did}#key-1"
        self.participant_id = participant_id or self.did  # what it writes as assigner/assignee (a BPN in Catena-X)
        self.base = f"https://localhost:{port}"
        self.dsp = self.base + DSP_PATH
        self.datasets: dict[str, bytes] = {}
        self.negotiations: dict[str, Negotiation] = {}
        self.transfers: dict[str, Transfer] = {}
        self.data_tokens: dict[str, str] = {}  # token -> transfer provider pid
        self.violations: list[str] = []
        self.seen_dcp: list[str] = []
        self.seen_dsp: list[str] = []
        self.pulls: list[dict[str, Any]] = []  # Authorization headers the data plane got
        self.replayed: set[str] = set()
        self.answer_with: Any = None  # a test may replace the presentation this peer gives
        self.consumer_names: dict[str, str] = {}  # DID -> the name it writes as assignee (a BPN in Catena-X)
        self._runner: web.AppRunner | None = None
        self._tasks: set[asyncio.Task[Any]] = set()

    # -- lifetime -------------------------------------------------------------------------------------------

    async def __aenter__(self) -> EdcPeer:
        app = web.Application()
        app.add_routes(
            [
                web.get(f"/{self.name}/did.json", self._did_document),
                web.post(f"/{self.name}/cs/presentations/query", self._presentation_query),
                web.post(DSP_PATH + "/catalog/request", self._catalog),
                web.get(DSP_PATH + "/catalog/datasets/{id}", self._dataset_request),
                web.post(DSP_PATH + "/negotiations/request", self._contract_request),
                web.get(DSP_PATH + "/negotiations/{pid}", self._negotiation),
                web.post(DSP_PATH + "/negotiations/{pid}/agreement/verification", self._verification),
                web.post(DSP_PATH + "/negotiations/{pid}/agreement", self._agreement),
                web.post(DSP_PATH + "/negotiations/{pid}/events", self._negotiation_event),
                web.post(DSP_PATH + "/negotiations/{pid}/termination", self._negotiation_termination),
                web.post(DSP_PATH + "/transfers/request", self._transfer_request),
                web.get(DSP_PATH + "/transfers/{pid}", self._transfer),
                web.post(DSP_PATH + "/transfers/{pid}/start", self._transfer_start),
                web.post(DSP_PATH + "/transfers/{pid}/completion", self._transfer_end),
                web.post(DSP_PATH + "/transfers/{pid}/termination", self._transfer_end),
                web.get("/public/{pid}", self._public),
            ]
        )
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port, ssl_context=self.web.server_context()).start()
        return self

    async def __aexit__(self, *exc: Any) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._runner is not None:
            await self._runner.cleanup()

    def _soon(self, coro: Any) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def client_context(self) -> ssl.SSLContext:
        """Outgoing TLS as EDC's: the system's and the configured authorities, no client certificate."""
        ctx = ssl.create_default_context()
        for root in self.trust_roots:
            ctx.load_verify_locations(cafile=str(root))
        return ctx

    # -- the oracles ----------------------------------------------------------------------------------------

    def _check_dcp(self, kind: str, message: Any, where: str) -> None:
        self.seen_dcp.append(kind)
        for problem in dcp_oracle.schema_problems(kind, message):
            self.violations.append(f"{where}: {kind}: {problem}")

    def _check_id_token(self, token: str, where: str) -> None:
        self.seen_dcp.append("IdToken")
        header = jwt.get_unverified_header(token)
        claims = jwt.decode(token, options={"verify_signature": False})
        for problem in dcp_oracle.id_token_problems(header, claims):
            self.violations.append(f"{where}: ID token: {problem}")

    def _check_dsp(self, message: Any, where: str) -> None:
        kind = message.get("@type") if isinstance(message, dict) else None
        if not isinstance(kind, str):
            self.violations.append(f"{where}: no DSP @type")
            return
        self.seen_dsp.append(kind)
        for problem in dsp_validate(kind, message):
            self.violations.append(f"{where}: {kind}: {problem.reason} at {problem.where}")

    # -- DID document and STS -------------------------------------------------------------------------------

    def did_document(self) -> dict[str, Any]:
        return {
            "@context": [DID_CONTEXT],
            "id": self.did,
            "verificationMethod": [
                {
                    "id": self.kid,
                    "type": "JsonWebKey2020",
                    "controller": self.did,
                    "publicKeyJwk": self.key.public_jwk(),
                }
            ],
            "service": [
                {
                    "id": f"{self.did}#credential-service",
                    "type": "CredentialService",
                    "serviceEndpoint": f"{self.base}/{self.name}/cs",
                },
                {"id": f"{self.did}#dsp", "type": "DataService", "serviceEndpoint": self.dsp},
            ],
        }

    async def _did_document(self, request: web.Request) -> web.Response:
        return web.json_response(self.did_document(), content_type="application/did+json")

    def access_token(self, verifier: str, scopes: list[str]) -> str:
        """What EDC's STS puts in the ``token`` claim: a JWT for this participant's own credential service."""
        now = _now()
        claims = {
            "iss": self.did,
            "sub": verifier,
            "aud": self.did,
            "scope": " ".join(scopes),
            "jti": str(uuid.uuid4()),
            "iat": now,
            "exp": now + 300,
        }
        return self.key.sign(claims, self.kid, typ="at+jwt")

    def id_token(self, audience: str, access_token: str | None = None, **changes: Any) -> str:
        now = _now()
        claims: dict[str, Any] = {
            "iss": self.did,
            "sub": self.did,
            "aud": audience,
            "jti": str(uuid.uuid4()),
            "iat": now,
            "exp": now + 300,
        }
        if access_token is not None:
            claims["token"] = access_token
        claims.update(changes)
        token = self.key.sign(claims, self.kid)
        self._check_id_token(token, "sent")
        return token

    def authorization(self, audience: str, scopes: list[str] | None = None) -> str:
        scopes = scopes if scopes is not None else [f"{EDC_SCOPE}:MembershipCredential:read"]
        return "Bearer " + self.id_token(audience, self.access_token(audience, scopes))

    # -- the credential service -----------------------------------------------------------------------------

    async def _presentation_query(self, request: web.Request) -> web.Response:
        header = request.headers.get("Authorization", "")
        if not header.startswith("Bearer "):
            return web.json_response({"error": "a Bearer ID token is required"}, status=401)
        token = header[len("Bearer ") :]
        self._check_id_token(token, "received at the credential service")
        try:
            unverified = jwt.decode(token, options={"verify_signature": False})
            verifier = unverified.get("iss")
            if not isinstance(verifier, str) or unverified.get("sub") != verifier:
                raise Refused("token.subject", "iss and sub differ")
            document = await self._resolve(verifier)
            claims = _verify(token, self._method(document, jwt.get_unverified_header(token).get("kid")))
            if claims.get("aud") != self.did:
                raise Refused("token.audience", "the ID token is not for this participant")
            if claims["jti"] in self.replayed:
                raise Refused("token.replayed", "the ID token was used before")
            self.replayed.add(claims["jti"])
            access = claims.get("token")
            if not isinstance(access, str):
                raise Refused("access_token.missing", "no access token")
            granted = _verify(access, self.key.public_jwk())
            if granted.get("sub") != verifier or granted.get("iss") != self.did:
                raise Refused("access_token.subject", "the access token was issued to another verifier")
        except Refused as exc:
            return web.json_response({"error": exc.code, "reason": exc.reason}, status=401)
        query = await request.json()
        self._check_dcp("PresentationQueryMessage", query, "received")
        allowed = {_scope_type(s) for s in str(granted.get("scope", "")).split()}
        wanted = {_scope_type(s) for s in query.get("scope", [])} & allowed
        chosen = [c for c in self.credentials if _credential_types(c) & wanted]
        if self.answer_with is not None:
            presentations = self.answer_with(verifier, chosen)
        else:
            presentations = [self.presentation(verifier, chosen)] if chosen else []
        body = {"@context": [DCP_CONTEXT], "type": "PresentationResponseMessage", "presentation": presentations}
        self._check_dcp("PresentationResponseMessage", body, "sent")
        return web.json_response(body)

    def presentation(self, verifier: str, credentials: list[str]) -> str:
        now = _now()
        if self.profile == VC11:
            claims = {
                "iss": self.did,
                "sub": self.did,
                "aud": verifier,
                "jti": f"urn:uuid:{uuid.uuid4()}",
                "iat": now,
                "nbf": now,
                "exp": now + 60,
                "vp": {
                    "@context": [VC1],
                    "type": ["VerifiablePresentation"],
                    "holder": self.did,
                    "verifiableCredential": credentials,
                },
            }
            return self.key.sign(claims, self.kid)
        # VC 2.0, enveloped as IdentityHub sends it: the presentation JWT inside an EnvelopedVerifiablePresentation.
        inner = {
            "@context": [VC2],
            "type": ["VerifiablePresentation"],
            "holder": self.did,
            "verifiableCredential": [
                {"@context": [VC2], "type": "EnvelopedVerifiableCredential", "id": f"data:application/vc+jwt,{c}"}
                for c in credentials
            ],
            "iss": self.did,
            "aud": verifier,
            "jti": f"urn:uuid:{uuid.uuid4()}",
            "iat": now,
            "exp": now + 60,
        }
        inner_jwt = self.key.sign(inner, self.kid, typ="vp+jwt")
        outer = {
            "@context": [VC2],
            "type": "EnvelopedVerifiablePresentation",
            "id": f"data:application/vp+jwt,{inner_jwt}",
            "iss": self.did,
            "aud": verifier,
            "iat": now,
            "exp": now + 60,
        }
        return self.key.sign(outer, self.kid, typ="vp+jwt")

    # -- the verifier ---------------------------------------------------------------------------------------

    async def _get_json(self, url: str) -> Any:
        async with aiohttp.ClientSession() as session:
            async with session.get(url, ssl=self.client_context(), allow_redirects=False) as resp:
                if resp.status != 200:
                    raise Refused("fetch.failed", f"{url} answered {resp.status}")
                return json.loads(await resp.read())

    async def _resolve(self, did: str) -> dict[str, Any]:
        document: dict[str, Any] = await self._get_json(did_url(did))
        if document.get("id") != did:
            raise Refused("did.mismatch", "the DID document is another's")
        return document

    @staticmethod
    def _method(document: dict[str, Any], kid: str | None) -> dict[str, Any]:
        methods = document.get("verificationMethod", [])
        for method in methods:
            if kid is None and len(methods) == 1 or method.get("id") == kid:
                jwk: dict[str, Any] = method["publicKeyJwk"]
                return jwk
        raise Refused("did.key_unknown", f"no verification method {kid}")

    async def authenticate(self, request: web.Request, scope_types: tuple[str, ...] = ("MembershipCredential",)) -> str:
        """The DCP verifier of an incoming DSP request: the caller's DID, or Refused."""
        header = request.headers.get("Authorization", "")
        if not header.startswith("Bearer "):
            raise Refused("token.missing", "a Bearer token is required")
        token = header[len("Bearer ") :]
        self._check_id_token(token, "received with a DSP request")
        unverified = jwt.decode(token, options={"verify_signature": False})
        caller = unverified.get("iss")
        if not isinstance(caller, str) or unverified.get("sub") != caller:
            raise Refused("token.subject", "iss and sub differ")
        document = await self._resolve(caller)
        claims = _verify(token, self._method(document, jwt.get_unverified_header(token).get("kid")))
        if claims.get("aud") != self.did:
            raise Refused("token.audience", "the ID token is not for this participant")
        if claims["jti"] in self.replayed:
            raise Refused("token.replayed", "the ID token was used before")
        self.replayed.add(claims["jti"])
        access = claims.get("token")
        if not isinstance(access, str):
            raise Refused("token.no_access_token", "no access token for the caller's credential service")
        service = next(s for s in document["service"] if s["type"] == "CredentialService")["serviceEndpoint"]
        query = {
            "@context": [DCP_CONTEXT],
            "type": "PresentationQueryMessage",
            "scope": [f"{EDC_SCOPE}:{t}:read" for t in scope_types],
        }
        self._check_dcp("PresentationQueryMessage", query, "sent")
        headers = {"Authorization": "Bearer " + self.id_token(caller, access)}
        async with aiohttp.ClientSession() as session:
            async with session.post(
                service.rstrip("/") + "/presentations/query", json=query, headers=headers, ssl=self.client_context()
            ) as resp:
                if resp.status != 200:
                    raise Refused("presentation.unavailable", f"the credential service answered {resp.status}")
                answer = await resp.json()
        self._check_dcp("PresentationResponseMessage", answer, "received")
        found: set[str] = set()
        for vp in answer.get("presentation", []):
            for credential in self._presented(vp, caller, document):
                found |= await self._check_credential(credential, caller)
        missing = set(scope_types) - found
        if missing:
            raise Refused("credential.missing", f"no verified {', '.join(sorted(missing))}")
        return caller

    def _presented(self, vp: str, holder: str, document: dict[str, Any]) -> list[str]:
        header = jwt.get_unverified_header(vp)
        claims = _verify(vp, self._method(document, header.get("kid")))
        if claims.get("type") == "EnvelopedVerifiablePresentation":
            claims = _verify(claims["id"].removeprefix("data:application/vp+jwt,"), self._method(document, None))
            if claims.get("holder") != holder:
                raise Refused("presentation.holder", "the presentation is another holder's")
            return [
                entry["id"].removeprefix("data:application/vc+jwt,") for entry in claims.get("verifiableCredential", [])
            ]
        if claims.get("iss") != holder or claims.get("aud") != self.did:
            raise Refused("presentation.holder", "the presentation is not the holder's, for this verifier")
        if "vp" in claims:
            return list(claims["vp"].get("verifiableCredential", []))
        return [
            entry["id"].removeprefix("data:application/vc+jwt,") for entry in claims.get("verifiableCredential", [])
        ]

    async def _check_credential(self, token: str, holder: str) -> set[str]:
        unverified = jwt.decode(token, options={"verify_signature": False})
        body = unverified.get("vc", unverified)
        issuer = body.get("issuer", unverified.get("iss"))
        issuer = issuer.get("id") if isinstance(issuer, dict) else issuer
        if issuer not in self.trusted_issuers:
            raise Refused("credential.issuer", f"{issuer} is not a trusted issuer")
        document = await self._resolve(issuer)
        claims = _verify(token, self._method(document, jwt.get_unverified_header(token).get("kid")))
        body = claims.get("vc", claims)
        now = datetime.now(UTC)
        until = body.get("validUntil") or body.get("expirationDate")
        since = body.get("validFrom") or body.get("issuanceDate")
        if until and datetime.fromisoformat(until.replace("Z", "+00:00")) <= now:
            raise Refused("credential.expired", "expired")
        if since and datetime.fromisoformat(since.replace("Z", "+00:00")) > now + timedelta(seconds=30):
            raise Refused("credential.not_yet_valid", "not yet valid")
        subject = body["credentialSubject"]
        if (subject.get("id") if isinstance(subject, dict) else None) != holder:
            raise Refused("credential.subject", "the credential is about someone else")
        status = body.get("credentialStatus")
        if isinstance(status, dict):
            await self._check_status(status, issuer, document)
        return {t for t in body.get("type", []) if t != "VerifiableCredential"}

    async def _check_status(self, status: dict[str, Any], issuer: str, document: dict[str, Any]) -> None:
        async with aiohttp.ClientSession() as session:
            url = status["statusListCredential"]
            async with session.get(url, ssl=self.client_context()) as resp:
                token = (await resp.text()).strip()
        claims = _verify(token, self._method(document, jwt.get_unverified_header(token).get("kid")))
        body = claims.get("vc", claims)
        encoded = body["credentialSubject"]["encodedList"].removeprefix("u")
        bits = gzip.decompress(base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4)))
        index = int(status["statusListIndex"])
        if bits[index // 8] >> (7 - index % 8) & 1:
            raise Refused("credential.revoked", "the credential has been revoked")

    # -- DSP: sending ---------------------------------------------------------------------------------------

    async def send(self, peer: str, url: str, message: dict[str, Any]) -> tuple[int, Any]:
        self._check_dsp(message, f"sent to {url}")
        headers = {"Authorization": self.authorization(peer), "Content-Type": "application/json"}
        async with aiohttp.ClientSession() as session:
            async with session.post(url, data=json.dumps(message), headers=headers, ssl=self.client_context()) as resp:
                text = await resp.text()
                body = json.loads(text) if text else None
        if isinstance(body, dict) and body.get("@type"):
            self._check_dsp(body, f"answer from {url}")
        return resp.status, body

    # -- DSP: consumer ------------------------------------------------------------------------------------------

    async def catalog(self, node_did: str, node_dsp: str) -> dict[str, Any]:
        message = {"@context": [DSP_CONTEXT], "@type": "CatalogRequestMessage"}
        status, body = await self.send(node_did, node_dsp + "/catalog/request", message)
        if status != 200:
            raise Refused(str(body.get("code") if isinstance(body, dict) else status), json.dumps(body))
        return body

    async def negotiate(self, node_did: str, node_dsp: str, offer: dict[str, Any], dataset: str) -> Negotiation:
        """Ask for a contract on a catalogue offer, verify the agreement, wait for FINALIZED."""
        pid = f"urn:uuid:{uuid.uuid4()}"
        requested = {**offer, "@type": "Offer", "target": dataset}
        message = {
            "@context": [DSP_CONTEXT],
            "@type": "ContractRequestMessage",
            "consumerPid": pid,
            "offer": requested,
            "callbackAddress": self.dsp,
        }
        neg = Negotiation("", pid, "REQUESTED", node_did, node_dsp, requested)
        self.negotiations[pid] = neg
        status, body = await self.send(node_did, node_dsp + "/negotiations/request", message)
        if status != 201:
            raise Refused("negotiation.refused", json.dumps(body))
        neg.provider_pid = body["providerPid"]
        await self._until(neg, "FINALIZED", "TERMINATED")
        return neg

    async def transfer(self, node_did: str, node_dsp: str, agreement_id: str) -> Transfer:
        """Ask for an HttpData-PULL transfer and wait for the provider's start message."""
        pid = f"urn:uuid:{uuid.uuid4()}"
        message = {
            "@context": [DSP_CONTEXT],
            "@type": "TransferRequestMessage",
            "consumerPid": pid,
            "agreementId": agreement_id,
            "format": "HttpData-PULL",
            "callbackAddress": self.dsp,
        }
        tp = Transfer("", pid, "REQUESTED", node_did, node_dsp, agreement_id)
        self.transfers[pid] = tp
        status, body = await self.send(node_did, node_dsp + "/transfers/request", message)
        if status != 201:
            raise Refused("transfer.refused", json.dumps(body))
        tp.provider_pid = body["providerPid"]
        await self._until(tp, "STARTED", "TERMINATED")
        return tp

    async def pull(self, tp: Transfer) -> tuple[int, bytes]:
        """Pull as an EDC consumer: the endpoint data reference is the endpoint properties, the Authorization
        header the bare token, and no client certificate."""
        assert tp.address is not None
        edr = {p["name"]: p["value"] for p in tp.address.get("endpointProperties", [])}
        headers = {"Authorization": edr[EDC + "authorization"]}
        async with aiohttp.ClientSession() as session:
            async with session.get(edr[EDC + "endpoint"], headers=headers, ssl=self.client_context()) as resp:
                return resp.status, await resp.read()

    async def complete(self, tp: Transfer) -> int:
        message = {
            "@context": [DSP_CONTEXT],
            "@type": "TransferCompletionMessage",
            "providerPid": tp.provider_pid,
            "consumerPid": tp.consumer_pid,
        }
        status, _ = await self.send(tp.peer, f"{tp.callback}/transfers/{tp.provider_pid}/completion", message)
        return status

    @staticmethod
    async def _until(process: Negotiation | Transfer, *states: str, timeout: float = 20) -> None:
        async with asyncio.timeout(timeout):
            while process.state not in states:
                process.changed.clear()
                await process.changed.wait()

    # -- DSP: handlers (both roles) ---------------------------------------------------------------------------------

    async def _message(self, request: web.Request, expected: str) -> tuple[str, dict[str, Any]] | web.Response:
        try:
            caller = await self.authenticate(request)
        except Refused as exc:
            return web.json_response({"@context": [DSP_CONTEXT], "code": exc.code, "reason": [exc.reason]}, status=401)
        body = await request.json()
        self._check_dsp(body, f"received at {request.path}")
        if body.get("@type") != expected:
            return web.json_response({"error": f"expected {expected}"}, status=400)
        return caller, body

    async def _catalog(self, request: web.Request) -> web.Response:
        got = await self._message(request, "CatalogRequestMessage")
        if isinstance(got, web.Response):
            return got
        catalog = {
            "@context": [DSP_CONTEXT],
            "@id": f"urn:uuid:{uuid.uuid4()}",
            "@type": "Catalog",
            "participantId": self.participant_id,
            "service": [{"@id": "edc-data-service", "@type": "DataService", "endpointURL": self.dsp}],
            "dataset": [self._dataset(asset) for asset in self.datasets],
        }
        self._check_dsp(catalog, "sent")
        return web.json_response(catalog)

    async def _dataset_request(self, request: web.Request) -> web.Response:
        try:
            await self.authenticate(request)
        except Refused as exc:
            return web.json_response({"@context": [DSP_CONTEXT], "code": exc.code, "reason": [exc.reason]}, status=401)
        asset = request.match_info["id"]
        if asset not in self.datasets:
            error = {"@context": [DSP_CONTEXT], "@type": "CatalogError", "code": "404", "reason": ["no such dataset"]}
            return web.json_response(error, status=404)
        dataset = {
            "@context": [DSP_CONTEXT],
            **self._dataset(asset),
            "distribution": [
                {
                    "@type": "Distribution",
                    "format": "HttpData-PULL",
                    "accessService": {"@id": "edc-data-service", "@type": "DataService", "endpointURL": self.dsp},
                }
            ],
        }
        self._check_dsp(dataset, "sent")
        return web.json_response(dataset)

    def offer_id(self, asset: str) -> str:
        """EDC's ContractOfferId: definition, asset and a random part, each base64."""
        parts = ("contract-definition-1", asset, str(uuid.uuid4()))
        return ":".join(base64.b64encode(p.encode()).decode() for p in parts)

    def _dataset(self, asset: str) -> dict[str, Any]:
        return {
            "@id": asset,
            "@type": "Dataset",
            "hasPolicy": [
                {
                    "@id": self.offer_id(asset),
                    "@type": "Offer",
                    "assigner": self.participant_id,
                    "permission": [{"action": "use"}],
                }
            ],
            "distribution": [{"@type": "Distribution", "format": "HttpData-PULL", "accessService": "edc-data-service"}],
        }

    async def _contract_request(self, request: web.Request) -> web.Response:
        got = await self._message(request, "ContractRequestMessage")
        if isinstance(got, web.Response):
            return got
        caller, body = got
        pid = f"urn:uuid:{uuid.uuid4()}"
        neg = Negotiation(pid, body["consumerPid"], "REQUESTED", caller, body["callbackAddress"], body["offer"])
        self.negotiations[pid] = neg
        self._soon(self._agree(neg))
        return web.json_response(self._process_body("ContractNegotiation", neg), status=201)

    def _process_body(self, kind: str, process: Negotiation | Transfer) -> dict[str, Any]:
        """A ContractNegotiation or TransferProcess answer: the two process ids and the state."""
        body = {
            "@context": [DSP_CONTEXT],
            "@type": kind,
            "providerPid": process.provider_pid,
            "consumerPid": process.consumer_pid,
            "state": process.state,
        }
        self._check_dsp(body, "sent")
        return body

    async def _agree(self, neg: Negotiation) -> None:
        await asyncio.sleep(0.05)  # EDC's state machine runs after the answer
        offer = neg.offer
        neg.agreement = {
            "@id": f"urn:uuid:{uuid.uuid4()}",
            "@type": "Agreement",
            "target": offer["target"],
            "assigner": self.participant_id,
            "assignee": self.consumer_names.get(neg.peer, neg.peer),
            "timestamp": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "permission": offer.get("permission", [{"action": "use"}]),
        }
        message = {
            "@context": [DSP_CONTEXT],
            "@type": "ContractAgreementMessage",
            "providerPid": neg.provider_pid,
            "consumerPid": neg.consumer_pid,
            "agreement": neg.agreement,
        }
        neg.state = "AGREED"
        await self.send(neg.peer, f"{neg.callback}/negotiations/{quote(neg.consumer_pid)}/agreement", message)

    async def _verification(self, request: web.Request) -> web.Response:
        got = await self._message(request, "ContractAgreementVerificationMessage")
        if isinstance(got, web.Response):
            return got
        neg = self.negotiations[request.match_info["pid"]]
        neg.state = "VERIFIED"
        self._soon(self._finalize(neg))
        return web.Response(status=200)

    async def _finalize(self, neg: Negotiation) -> None:
        await asyncio.sleep(0.05)
        message = {
            "@context": [DSP_CONTEXT],
            "@type": "ContractNegotiationEventMessage",
            "providerPid": neg.provider_pid,
            "consumerPid": neg.consumer_pid,
            "eventType": "FINALIZED",
        }
        neg.state = "FINALIZED"
        await self.send(neg.peer, f"{neg.callback}/negotiations/{quote(neg.consumer_pid)}/events", message)
        neg.changed.set()

    async def _negotiation(self, request: web.Request) -> web.Response:
        try:
            await self.authenticate(request)
        except Refused:
            return web.json_response({"error": "unauthorised"}, status=404)
        neg = self.negotiations.get(request.match_info["pid"])
        return web.json_response(self._process_body("ContractNegotiation", neg)) if neg else web.Response(status=404)

    async def _agreement(self, request: web.Request) -> web.Response:
        got = await self._message(request, "ContractAgreementMessage")
        if isinstance(got, web.Response):
            return got
        caller, body = got
        neg = self.negotiations[request.match_info["pid"]]
        if caller != neg.peer:
            return web.json_response({"error": "another participant"}, status=404)
        neg.agreement = body["agreement"]
        neg.state = "AGREED"
        neg.changed.set()
        self._soon(self._verify_agreement(neg))
        return web.Response(status=200)

    async def _verify_agreement(self, neg: Negotiation) -> None:
        await asyncio.sleep(0.05)
        message = {
            "@context": [DSP_CONTEXT],
            "@type": "ContractAgreementVerificationMessage",
            "providerPid": neg.provider_pid,
            "consumerPid": neg.consumer_pid,
        }
        status, _ = await self.send(
            neg.peer, f"{neg.callback}/negotiations/{quote(neg.provider_pid)}/agreement/verification", message
        )
        neg.state = "VERIFIED" if status == 200 else "TERMINATED"
        neg.changed.set()

    async def _negotiation_event(self, request: web.Request) -> web.Response:
        got = await self._message(request, "ContractNegotiationEventMessage")
        if isinstance(got, web.Response):
            return got
        _, body = got
        neg = self.negotiations[request.match_info["pid"]]
        neg.state = body["eventType"]
        neg.changed.set()
        return web.Response(status=200)

    async def _negotiation_termination(self, request: web.Request) -> web.Response:
        got = await self._message(request, "ContractNegotiationTerminationMessage")
        if isinstance(got, web.Response):
            return got
        neg = self.negotiations[request.match_info["pid"]]
        neg.state = "TERMINATED"
        neg.changed.set()
        return web.Response(status=200)

    async def _transfer_request(self, request: web.Request) -> web.Response:
        got = await self._message(request, "TransferRequestMessage")
        if isinstance(got, web.Response):
            return got
        caller, body = got
        pid = f"urn:uuid:{uuid.uuid4()}"
        tp = Transfer(pid, body["consumerPid"], "REQUESTED", caller, body["callbackAddress"], body["agreementId"])
        self.transfers[pid] = tp
        self._soon(self._start(tp))
        return web.json_response(self._process_body("TransferProcess", tp), status=201)

    async def _start(self, tp: Transfer) -> None:
        await asyncio.sleep(0.05)
        now = _now()
        token = self.key.sign(
            {"iss": self.did, "sub": self.did, "aud": tp.peer, "jti": str(uuid.uuid4()), "iat": now},
            self.kid,
        )
        self.data_tokens[token] = tp.provider_pid
        endpoint = f"{self.base}/public/{quote(tp.provider_pid)}"
        properties = {
            EDC + "endpoint": endpoint,
            EDC + "endpointType": HTTP_ENDPOINT,
            EDC + "authorization": token,
            EDC + "authType": "bearer",
        }
        tp.address = {
            "@type": "DataAddress",
            "endpointType": HTTP_ENDPOINT,
            "endpointProperties": [{"@type": "EndpointProperty", "name": k, "value": v} for k, v in properties.items()],
            "endpoint": endpoint,
        }
        message = {
            "@context": [DSP_CONTEXT],
            "@type": "TransferStartMessage",
            "providerPid": tp.provider_pid,
            "consumerPid": tp.consumer_pid,
            "dataAddress": tp.address,
        }
        tp.state = "STARTED"
        await self.send(tp.peer, f"{tp.callback}/transfers/{quote(tp.consumer_pid)}/start", message)
        tp.changed.set()

    async def _transfer(self, request: web.Request) -> web.Response:
        try:
            await self.authenticate(request)
        except Refused:
            return web.json_response({"error": "unauthorised"}, status=404)
        tp = self.transfers.get(request.match_info["pid"])
        return web.json_response(self._process_body("TransferProcess", tp)) if tp else web.Response(status=404)

    async def _transfer_start(self, request: web.Request) -> web.Response:
        got = await self._message(request, "TransferStartMessage")
        if isinstance(got, web.Response):
            return got
        caller, body = got
        tp = self.transfers[request.match_info["pid"]]
        if caller != tp.peer:
            return web.json_response({"error": "another participant"}, status=404)
        tp.address = body.get("dataAddress")
        tp.state = "STARTED"
        tp.changed.set()
        return web.Response(status=200)

    async def _transfer_end(self, request: web.Request) -> web.Response:
        expected = "TransferCompletionMessage" if request.path.endswith("/completion") else "TransferTerminationMessage"
        got = await self._message(request, expected)
        if isinstance(got, web.Response):
            return got
        tp = self.transfers[request.match_info["pid"]]
        tp.state = "COMPLETED" if expected == "TransferCompletionMessage" else "TERMINATED"
        tp.changed.set()
        return web.Response(status=200)

    # -- the data plane: EDC's public API ------------------------------------------------------------------------

    async def _public(self, request: web.Request) -> web.StreamResponse:
        token = request.headers.get("Authorization")
        self.pulls.append({"authorization": token, "tls_client_cert": _has_client_cert(request)})
        if token is None:
            return web.json_response({"errors": ["Missing Authorization Header"]}, status=401)
        pid = self.data_tokens.get(token)  # the bare token, as EDC's data plane takes it
        if pid is None or pid != request.match_info["pid"]:
            return web.json_response({"errors": ["the token is not valid"]}, status=403)
        tp = self.transfers[pid]
        asset = tp.agreement_id and self.agreement_assets.get(tp.agreement_id)
        if not asset:
            return web.json_response({"errors": ["no such agreement"]}, status=403)
        return web.Response(body=self.datasets[asset], content_type="application/octet-stream")

    @property
    def agreement_assets(self) -> dict[str, str]:
        return {n.agreement["@id"]: n.agreement["target"] for n in self.negotiations.values() if n.agreement}


def _has_client_cert(request: web.Request) -> bool:
    sslobj = request.transport.get_extra_info("ssl_object") if request.transport else None
    return bool(sslobj and sslobj.getpeercert(binary_form=True))


def _scope_type(scope: str) -> str:
    parts = scope.split(":")
    return parts[1] if len(parts) == 3 else ""


def _credential_types(token: str) -> set[str]:
    claims = jwt.decode(token, options={"verify_signature": False})
    body = claims.get("vc", claims)
    return set(body.get("type", []))


# --- an issuer's credentials, as EDC IssuerService writes them --------------------------------------------------


def vc11_credential(
    key: Any,
    alg: str,
    kid: str,
    issuer: str,
    holder: str,
    types: list[str],
    subject: dict[str, Any],
    status: dict[str, Any] | None,
    valid_from: datetime,
    valid_until: datetime,
    credential_id: str | None = None,
) -> str:
    """A VC Data Model 1.1 credential as a JWT (section 6.3.1): the credential in ``vc``, iss/sub/jti/nbf/exp."""
    cid = credential_id or f"urn:uuid:{uuid.uuid4()}"
    vc: dict[str, Any] = {
        "@context": [VC1],
        "id": cid,
        "type": ["VerifiableCredential", *types],
        "issuer": issuer,
        "issuanceDate": valid_from.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "expirationDate": valid_until.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "credentialSubject": {"id": holder, **subject},
    }
    if status is not None:
        vc["credentialStatus"] = status
    claims = {
        "iss": issuer,
        "sub": holder,
        "jti": cid,
        "nbf": int(valid_from.timestamp()),
        "iat": int(valid_from.timestamp()),
        "exp": int(valid_until.timestamp()),
        "vc": vc,
    }
    return jwt.encode(claims, key, algorithm=alg, headers={"kid": kid, "typ": "JWT"})


def vc20_credential(
    key: Any,
    alg: str,
    kid: str,
    issuer: str,
    holder: str,
    types: list[str],
    subject: dict[str, Any],
    status: dict[str, Any] | None,
    valid_from: datetime,
    valid_until: datetime,
    credential_id: str | None = None,
) -> str:
    """A VC Data Model 2.0 credential secured with JOSE (``vc+jwt``): the payload is the credential."""
    cid = credential_id or f"urn:uuid:{uuid.uuid4()}"
    claims: dict[str, Any] = {
        "@context": [VC2],
        "id": cid,
        "type": ["VerifiableCredential", *types],
        "issuer": issuer,
        "validFrom": valid_from.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "validUntil": valid_until.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "credentialSubject": {"id": holder, **subject},
        "iss": issuer,
        "sub": holder,
        "jti": cid,
    }
    if status is not None:
        claims["credentialStatus"] = status
    return jwt.encode(claims, key, algorithm=alg, headers={"kid": kid, "typ": "vc+jwt"})
