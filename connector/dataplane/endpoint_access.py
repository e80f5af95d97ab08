"""Who may use a data endpoint, decided from plain values: the token's claims, the records, the TLS peer.

Pure: the node loads the transfer and its flow in one store transaction and asks here. A refusal carries the
HTTP status the endpoint answers with: 401 for a token that is not (or no longer) valid, 403 for the wrong
holder, 404 for an unknown transfer, 409 while the transfer is not running, 410 once it has ended or its data
was delivered in full.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from connector.dataplane.pull_tokens import TokenClaims, TokenError, check_holder
from connector.dsp.vocabulary import Role, TransferState
from connector.errors import ConnectorError, Problem
from connector.records.columns import iso

if TYPE_CHECKING:
    from connector.records.flows import Flow
    from connector.records.processes import Transfer

PULL = "pull"
PUSH = "push"


@dataclass(frozen=True)
class AccessRefusal:
    status: int
    problem: Problem


class Refused(ConnectorError):
    """A refusal with its HTTP status, raised through the handlers to the listener's error middleware."""

    def __init__(self, refusal: AccessRefusal) -> None:
        p = refusal.problem
        super().__init__(p.code, p.reason, p.where, **p.details)
        self.status = refusal.status


_TOKEN_STATUS = {"token.wrong_holder": 403, "token.wrong_transfer": 403}


def token_refusal(error: TokenError) -> AccessRefusal:
    return AccessRefusal(_TOKEN_STATUS.get(error.code, 401), error.problem)


def token_digest(token: str) -> str:
    """How a push destination token is kept: its SHA-256, so the store never holds a usable token."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def kind_of(format_name: str) -> str:
    """``HttpData-PUSH`` -> push; anything else is pulled."""
    return PUSH if format_name.upper().endswith("-PUSH") else PULL


def _not_found(transfer_id: str) -> AccessRefusal:
    return AccessRefusal(404, Problem("dataplane.not_found", f"no transfer '{transfer_id}' is known here"))


def state_refusal(transfer: Transfer) -> AccessRefusal | None:
    """None while the transfer is STARTED; otherwise why its data cannot flow now."""
    state = transfer.state
    if state == TransferState.STARTED:
        return None
    if state.is_terminal:
        return AccessRefusal(
            410, Problem("dataplane.ended", f"the transfer is {state}; its data can no longer be fetched")
        )
    if state == TransferState.SUSPENDED:
        return AccessRefusal(
            409, Problem("dataplane.suspended", "the transfer is SUSPENDED; data flows again once it is resumed")
        )
    return AccessRefusal(409, Problem("dataplane.not_started", f"the transfer is {state}, not STARTED yet"))


def check_pull(
    transfer_id: str,
    transfer: Transfer | None,
    flow: Flow | None,
    claims: TokenClaims,
    participant_id: str,
    cert_sha256: str | None,
) -> AccessRefusal | None:
    """May the TLS peer `participant_id` (certificate `cert_sha256`; None: no certificate, the token's subject)
    pull transfer `transfer_id` with a token whose signature and expiry have been checked and whose claims are
    `claims`?"""
    if transfer is None or transfer.role != Role.PROVIDER:
        return _not_found(transfer_id)
    if transfer.peer_id != participant_id:
        return AccessRefusal(
            403, Problem("token.wrong_holder", f"{participant_id} is not the consumer of transfer '{transfer_id}'")
        )
    try:
        check_holder(
            claims,
            transfer_id=transfer_id,
            participant_id=participant_id,
            cert_sha256=cert_sha256,
            pinned_sha256=flow.token_cert if flow is not None else None,
        )
    except TokenError as exc:
        return token_refusal(exc)
    if claims.agreement_id != transfer.agreement_id:
        return AccessRefusal(403, Problem("token.wrong_transfer", "the bearer token names another agreement"))
    if kind_of(transfer.format) != PULL:
        return AccessRefusal(409, Problem("dataplane.not_pull", "this transfer pushes its data; it cannot be pulled"))
    refused = state_refusal(transfer)
    if refused is not None:
        return refused
    if flow is None or flow.token_id != claims.token_id:
        return AccessRefusal(
            401, Problem("token.revoked", "the bearer token has been replaced or revoked; ask for a fresh one")
        )
    return None


def delivered_refusal(delivered_at: datetime | None) -> AccessRefusal | None:
    """A transfer is one use of its agreement: once its data was delivered in full, it serves no further pull and
    issues no fresh token (its seal stays available). None while it was not."""
    if delivered_at is None:
        return None
    return AccessRefusal(
        410,
        Problem(
            "dataplane.delivered",
            f"the data of this transfer was delivered in full at {iso(delivered_at)}; a transfer is one use of "
            "its agreement: request a new transfer to get the data again",
        ),
    )


def check_refresh(
    transfer_id: str, transfer: Transfer | None, participant_id: str, flow: Flow | None = None
) -> AccessRefusal | None:
    """May the TLS peer have a fresh pull token for the transfer? Only its consumer, only while STARTED, only
    until the data was delivered in full."""
    if transfer is None or transfer.role != Role.PROVIDER:
        return _not_found(transfer_id)
    if transfer.peer_id != participant_id:
        return AccessRefusal(
            403, Problem("token.wrong_holder", f"{participant_id} is not the consumer of transfer '{transfer_id}'")
        )
    if kind_of(transfer.format) != PULL:
        return AccessRefusal(409, Problem("dataplane.not_pull", "this transfer pushes its data; it has no pull token"))
    return state_refusal(transfer) or delivered_refusal(flow.delivered_at if flow is not None else None)


def check_push_receipt(
    transfer_id: str, transfer: Transfer | None, flow: Flow | None, token: str | None, participant_id: str
) -> AccessRefusal | None:
    """May the TLS peer push into our transfer `transfer_id` with `token`? Only our provider, with the token we put
    in our request. The provider pushes right after its own STARTED is committed, possibly before its start
    message reached us, so REQUESTED is accepted too."""
    if transfer is None or transfer.role != Role.CONSUMER or kind_of(transfer.format) != PUSH:
        return _not_found(transfer_id)
    if transfer.peer_id != participant_id:
        return AccessRefusal(
            403, Problem("token.wrong_holder", f"{participant_id} is not the provider of transfer '{transfer_id}'")
        )
    if token is None or flow is None or flow.token_id is None:
        return AccessRefusal(401, Problem("token.missing", "a push needs the bearer token of the destination"))
    if not hmac.compare_digest(flow.token_id, token_digest(token)):
        return AccessRefusal(401, Problem("token.revoked", "the bearer token is not this destination's token"))
    if transfer.state in (TransferState.REQUESTED, TransferState.STARTED):
        return None
    return state_refusal(transfer)
