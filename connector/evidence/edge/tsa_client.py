"""Asking a time-stamp authority for a token over HTTP, and accepting it only once it verifies.

The request carries a fresh nonce and asks for the TSA's certificates, so the token verifies later with nothing
but the federation's root; the reply is checked against the anchors the node was configured with before it is
kept (a TSA answering for another digest or request, or not chaining to a trusted root, gives no evidence).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING

import aiohttp
from cryptography import x509

from connector.evidence.errors import EvidenceError

if TYPE_CHECKING:  # the ASN.1 library loads with the first time-stamp asked for, not with every node
    from connector.evidence.timestamp import TimeStamp

MAX_REPLY_BYTES = 64 * 1024


async def request_timestamp(
    session: aiohttp.ClientSession,
    url: str,
    digest: bytes,
    anchors: Sequence[x509.Certificate],
    now: datetime,
    timeout: float = 10.0,
) -> TimeStamp:
    """A verified time-stamp for a SHA-256 `digest` from the TSA at `url`; EvidenceError('timestamp.*') if not."""
    from connector.evidence.timestamp import CONTENT_TYPE_QUERY, make_request, new_nonce, verify_response

    nonce = new_nonce()
    body = make_request(digest, nonce, cert_req=True)
    try:
        async with session.post(
            url,
            data=body,
            headers={"Content-Type": CONTENT_TYPE_QUERY},
            timeout=aiohttp.ClientTimeout(total=timeout),
            allow_redirects=False,
        ) as resp:
            reply = await resp.content.read(MAX_REPLY_BYTES + 1)
            status = resp.status
    except (TimeoutError, aiohttp.ClientError, OSError) as exc:
        raise EvidenceError(
            "timestamp.unavailable",
            f"the time-stamp authority at {url} cannot be reached: {str(exc) or type(exc).__name__}",
            "evidence.tsa_url",
        ) from None
    if status != 200:
        raise EvidenceError(
            "timestamp.unavailable", f"the time-stamp authority at {url} answered HTTP {status}", "evidence.tsa_url"
        )
    if len(reply) > MAX_REPLY_BYTES:
        raise EvidenceError("timestamp.malformed", "the time-stamp reply is too large", "evidence.tsa_url")
    return verify_response(reply, digest, nonce, anchors, now)
