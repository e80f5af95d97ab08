"""A participant enrols with its authority over the network: its signing requests go out, certificates come back.

The authority's service is reached over HTTPS checked against the authority's root certificate, which the
participant holds already (the anchor it pins for its federation, obtained out of band); the answer's root must
be that anchor, and each certificate must hold the key of this identity folder, before anything is written.
"""

from __future__ import annotations

import asyncio
import ssl
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from connector import keys
from connector.errors import ConnectorError
from connector.pki import requests as own_requests

ENROLMENT_PATH = "/enrolment"
TIMEOUT = 30.0  # seconds for one exchange with the authority


@dataclass(frozen=True)
class Enrolment:
    request_id: str
    participant_id: str
    status: str  # RECEIVED, ISSUED or REJECTED
    written: tuple[Path, ...] = ()
    reason: str | None = None


def _context(anchor: Path) -> ssl.SSLContext:
    try:
        return ssl.create_default_context(cafile=str(anchor))
    except (OSError, ssl.SSLError) as exc:
        raise ConnectorError(
            "pki.bad_anchor", f"cannot use {anchor} as the authority's root: {exc}", "--anchor"
        ) from None


async def _call(method: str, url: str, anchor: Path, body: Any = None) -> tuple[int, Any]:
    import aiohttp

    connector = aiohttp.TCPConnector(ssl=_context(anchor))  # (given per request, aiohttp's errors show its repr)
    try:
        async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=TIMEOUT)) as session:
            async with session.request(method, url, json=body, allow_redirects=False) as resp:
                try:
                    data = await resp.json(content_type=None)
                except ValueError:
                    data = None
                return resp.status, data
    except TimeoutError:
        raise ConnectorError(
            "pki.authority_unreachable", f"cannot reach the authority at {url}: no answer within {TIMEOUT:g} s"
        ) from None
    except (aiohttp.ClientError, OSError) as exc:
        reason = str(exc) or type(exc).__name__
        raise ConnectorError("pki.authority_unreachable", f"cannot reach the authority at {url}: {reason}") from None


def _settle(identity: Path, anchor: Path, entry: Any) -> Enrolment:
    if not isinstance(entry, dict) or not isinstance(entry.get("id"), str):
        raise ConnectorError("pki.enrol_answer", "the authority's answer is not an enrolment")
    status = str(entry.get("status"))
    result = Enrolment(entry["id"], str(entry.get("participantId")), status, reason=entry.get("reason"))
    if status != "ISSUED":
        return result
    certificates = entry.get("certificates")
    if not isinstance(certificates, dict) or not all(isinstance(v, str) for v in certificates.values()):
        raise ConnectorError("pki.enrol_answer", "the authority answered ISSUED without certificates")
    ca = certificates.get("ca.cert.pem", "")
    if keys.cert_pem(keys.load_certificate(anchor)).decode("ascii").strip() != ca.strip():
        raise ConnectorError("pki.enrol_mismatch", "the authority answered with a root other than the anchor given")
    own_requests.matches_own_keys(identity, certificates)
    written = []
    for name in ("tls.cert.pem", "signing.cert.pem", "ca.cert.pem"):
        keys.write_public_file(identity / name, certificates[name].encode("ascii"))
        written.append(identity / name)
    return Enrolment(result.request_id, result.participant_id, status, tuple(written))


async def enrol(
    authority_url: str, anchor: Path, identity: Path, wait: float = 0.0, request_id: str | None = None
) -> Enrolment:
    """Send the identity folder's signing requests (or look up `request_id` again) and write the certificates once
    issued; waits up to `wait` seconds for the operator's approval."""
    base = authority_url.rstrip("/")
    if not base.startswith("https://"):
        raise ConnectorError("pki.bad_url", "the authority's URL must be https", "--authority-url")
    identity = Path(identity)
    if request_id is None:
        csrs = [r.pem for r in own_requests.read_requests(identity)]
        status, entry = await _call("POST", base + ENROLMENT_PATH, anchor, {"csrs": csrs})
        if status not in (201, 202):
            raise _refused(status, entry)
    else:
        status, entry = await _call("GET", f"{base}{ENROLMENT_PATH}/{request_id}", anchor)
        if status != 200:
            raise _refused(status, entry)
    result = _settle(identity, anchor, entry)
    deadline = time.monotonic() + wait
    while result.status == "RECEIVED" and time.monotonic() < deadline:
        await asyncio.sleep(1.0)
        status, entry = await _call("GET", f"{base}{ENROLMENT_PATH}/{result.request_id}", anchor)
        if status != 200:
            raise _refused(status, entry)
        result = _settle(identity, anchor, entry)
    return result


def _refused(status: int, entry: Any) -> ConnectorError:
    problem = entry if isinstance(entry, dict) else {}
    code = str(problem.get("code") or f"http.{status}")
    reason = str(problem.get("reason") or f"the authority answered HTTP {status}")
    return ConnectorError(code, f"the authority refused the enrolment: {reason}")
