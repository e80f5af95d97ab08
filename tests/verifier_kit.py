"""Driving the verifier plan the way the node's edge does, against an in-test credential service (the trust tests
share it)."""

from __future__ import annotations

import json

from connector.trust.claims import MEMBERSHIP_CREDENTIAL
from connector.trust.presentations import (
    PresentationResponseMessage,
    issue_presentation,
    parse_presentation_query,
    select_credentials,
)
from connector.trust.scopes import type_scope
from connector.trust.tokens import MemoryReplayCache, check_access_token, issue_access_token, issue_id_token
from connector.trust.verifier import (
    NeedDidDocument,
    NeedPresentation,
    NeedStatusLists,
    Refusal,
    Verification,
    Verified,
)

MEMBERSHIP_SCOPE = type_scope(MEMBERSHIP_CREDENTIAL)


class Peer:
    """org-a as the verifier meets it: its ID tokens and its credential service."""

    def __init__(self, world, now, credentials=None, present=None) -> None:
        self.world = world
        self.credentials = credentials if credentials is not None else [world.membership(world.a.did)]
        self.present = present  # optional override: (query, grant) -> list of VP strings
        self.queries = 0

    def id_token(self, now, scopes=(MEMBERSHIP_SCOPE,)) -> str:
        w = self.world
        access = issue_access_token(w.a.key, w.a.kid, w.a.did, w.b.did, scopes, now) if scopes else None
        return issue_id_token(w.a.key, w.a.kid, w.a.did, w.b.did, access, now)

    def answer(self, step: NeedPresentation, now) -> bytes:
        """The credential service side of DCP: check the verifier's token, then present what is granted."""
        w = self.world
        self.queries += 1
        own = issue_id_token(w.b.key, w.b.kid, w.b.did, step.holder, step.access_token, now)
        bearer = step.headers(own)["Authorization"].removeprefix("Bearer ")
        grant = check_access_token(bearer, w.b.document, w.a.document, w.b.did, now)
        query = parse_presentation_query(step.body())
        if self.present is not None:
            vps = self.present(query, grant)
        else:
            chosen = select_credentials(self.credentials, grant.allowed(query.scope))
            vps = [issue_presentation(w.a.key, w.a.kid, w.a.did, grant.verifier, chosen, now)]
        return PresentationResponseMessage(tuple(vps)).body()


def new_plan(
    world, now, cache=None, settings=None, replay=None, scopes=(MEMBERSHIP_SCOPE,), store=None, recognitions=None
) -> Verification:
    return Verification(
        world.b.did,
        store or world.store,
        scopes,
        replay if replay is not None else MemoryReplayCache(),
        settings,
        cache,
        recognitions=recognitions,
    )


def drive(plan, world, peer, now, token=None, status_lists=None, fetched_at=None, document=None):
    """Play the edge until the plan is done; status_lists maps URL -> JWT (missing URL = unreachable)."""
    lists = {world.status_url: world.status_list()} if status_lists is None else status_lists
    step = plan.check_token(token or peer.id_token(now), world.a.did, now)
    while not isinstance(step, (Verified, Refusal)):
        if isinstance(step, NeedDidDocument):
            step = plan.with_did_document(json.dumps(document or world.a.document_json).encode(), now)
        elif isinstance(step, NeedPresentation):
            step = plan.with_presentation(peer.answer(step, now), now)
        elif isinstance(step, NeedStatusLists):
            url = step.urls[0]
            if url not in lists:
                step = plan.unavailable("connection refused", url)
            else:
                when = now if url in step.refetch or fetched_at is None else fetched_at
                step = plan.with_status_list(url, lists[url], when, now)
    return step
