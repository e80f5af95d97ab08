"""Test vectors from the DCP 1.0.1 specification's own examples, and the schema oracle held against the core.

The examples and schemas are the vendored official files (connector/trust/spec/); the oracle is
tests/dcp_oracle.py, which reads them with jsonschema and knows nothing of the code under test."""

from __future__ import annotations

import copy
import json
from datetime import timedelta

import dcp_oracle
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from connector.errors import ConnectorError
from connector.trust import vocab
from connector.trust.presentations import (
    PresentationQueryMessage,
    PresentationResponseMessage,
    issue_presentations,
    parse_presentation_query,
    parse_presentation_response,
    presentation_query,
)
from connector.trust.scopes import EDC_VC_TYPE_ALIAS, VC_ID_ALIAS, VC_TYPE_ALIAS
from connector.trust.tokens import issue_access_token, issue_id_token

CONTEXT = "https://w3id.org/dspace-dcp/v1.0/dcp.jsonld"


def refused(code: str, fn, *args) -> ConnectorError:
    with pytest.raises(ConnectorError) as err:
        fn(*args)
    assert err.value.code == code, f"{err.value.code}: {err.value.reason}"
    return err.value


# --- the oracle itself ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(dcp_oracle.EXAMPLES))
def test_every_example_of_the_specification_is_valid_to_the_oracle(name) -> None:
    assert dcp_oracle.schema_problems(dcp_oracle.EXAMPLES[name], dcp_oracle.example(name)) == []


@pytest.mark.parametrize(
    "kind, mutate",
    [
        ("PresentationQueryMessage", lambda m: m.pop("@context")),
        ("PresentationQueryMessage", lambda m: m.update({"@context": ["https://www.w3.org/ns/did/v1"]})),
        ("PresentationQueryMessage", lambda m: m.update(type="PresentationResponseMessage")),
        ("PresentationQueryMessage", lambda m: m.update(scope=[])),
        ("PresentationQueryMessage", lambda m: m.update(scope=[1])),
        ("PresentationQueryMessage", lambda m: m.pop("scope")),
        ("PresentationResponseMessage", lambda m: m.pop("presentation")),
        ("PresentationResponseMessage", lambda m: m.update(presentation=[42])),
        ("PresentationResponseMessage", lambda m: m.update(presentation="jwt")),
        ("PresentationResponseMessage", lambda m: m.update({"@context": CONTEXT})),
    ],
)
def test_the_oracle_refuses_what_the_schemas_refuse(kind, mutate) -> None:
    name = (
        "presentation-query-message.json"
        if kind == "PresentationQueryMessage"
        else "presentation-response-message.json"
    )
    message = dcp_oracle.example(name)
    mutate(message)
    assert dcp_oracle.schema_problems(kind, message)


def test_the_context_this_package_names_is_the_one_the_schemas_require() -> None:
    schema = dcp_oracle.load("schemas/common/context-schema.json")
    assert schema["definitions"]["ContextSchema"]["contains"]["const"] == vocab.DCP_CONTEXT == CONTEXT


# --- the specification's examples through the core ------------------------------------------------------------


def test_the_scope_query_example_names_no_scope_of_the_form_the_scopes_section_defines() -> None:
    # verifiable.presentation.protocol.md, "Scopes": a scope is "[alias]:[descriminator]"; the example's
    # "presentation1" is not one, so it is answered 400 rather than guessed at.
    refused("dcp.malformed", parse_presentation_query, dcp_oracle.example("presentation-query-message.json"))
    example = dcp_oracle.example("presentation-query-message.json")
    example["scope"] = [f"{VC_TYPE_ALIAS}:presentation1", f"{VC_ID_ALIAS}:presentation2"]
    assert parse_presentation_query(json.dumps(example)).scope == (
        f"{VC_TYPE_ALIAS}:presentation1:read",
        f"{VC_ID_ALIAS}:presentation2:read",
    )


def test_the_presentation_definition_example_is_answered_not_implemented() -> None:
    # "An implementation MAY support the presentationDefinition parameter. If it does not, it MUST return 501."
    example = dcp_oracle.example("presentation-query-message-w-presentation-definition.json")
    refused("dcp.presentation_definition_unsupported", parse_presentation_query, example)
    both = {**example, "scope": [f"{VC_TYPE_ALIAS}:MembershipCredential"]}
    refused("dcp.malformed", parse_presentation_query, both)  # "If both parameters are present ... 400"


@pytest.mark.parametrize(
    "name", ["presentation-response-message.json", "presentation-response-message-w-presentation-submission.json"]
)
def test_the_response_examples_are_read(name) -> None:
    example = dcp_oracle.example(name)
    assert parse_presentation_response(json.dumps(example).encode()).presentation == tuple(example["presentation"])


def test_an_empty_presentation_array_is_a_valid_answer() -> None:
    # "the presentation array holding less entries than requested" - down to none.
    message = {"@context": [CONTEXT], "type": "PresentationResponseMessage", "presentation": []}
    assert dcp_oracle.schema_problems("PresentationResponseMessage", message) == []
    assert parse_presentation_response(message).presentation == ()


# --- what the core emits, by the oracle ---------------------------------------------------------------------------

_type_names = st.from_regex(r"[A-Z][A-Za-z0-9_.-]{0,30}", fullmatch=True)


@given(types=st.lists(_type_names, min_size=1, max_size=5), edc=st.booleans())
@settings(max_examples=60, deadline=None)
def test_every_query_the_core_builds_is_schema_valid_and_reads_back(types, edc) -> None:
    alias = EDC_VC_TYPE_ALIAS if edc else VC_TYPE_ALIAS
    query = presentation_query(f"{alias}:{t}:read" for t in types)
    body = query.to_json()
    assert dcp_oracle.schema_problems("PresentationQueryMessage", body) == []
    assert parse_presentation_query(query.body()) == query


@given(
    st.lists(
        st.from_regex(r"[A-Za-z0-9_-]{1,20}\.[A-Za-z0-9_-]{1,20}\.[A-Za-z0-9_-]{1,20}", fullmatch=True), max_size=5
    )
)
@settings(max_examples=60, deadline=None)
def test_every_response_the_core_builds_is_schema_valid_and_reads_back(presentations) -> None:
    message = PresentationResponseMessage(tuple(presentations))
    assert dcp_oracle.schema_problems("PresentationResponseMessage", message.to_json()) == []
    assert parse_presentation_response(message.body()) == message


def test_a_response_of_real_presentations_is_schema_valid(world, now) -> None:
    presentations = issue_presentations(
        world.a.key, world.a.kid, world.a.did, world.b.did, [world.membership(world.a.did)], now
    )
    assert (
        dcp_oracle.schema_problems("PresentationResponseMessage", PresentationResponseMessage(presentations).to_json())
        == []
    )


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=8,
)
_members = st.sampled_from(
    ["@context", "type", "scope", "presentation", "presentationDefinition", "presentationSubmission"]
)


@given(
    name=st.sampled_from(sorted(dcp_oracle.EXAMPLES)),
    drops=st.sets(_members, max_size=2),
    sets=st.dictionaries(_members, _json, max_size=2),
)
@settings(max_examples=250, suppress_health_check=[HealthCheck.too_slow], deadline=None)
def test_what_the_core_accepts_the_schemas_accept(name, drops, sets) -> None:
    """Soundness against the oracle: a message the parser takes is valid to the official schema."""
    message = copy.deepcopy(dcp_oracle.example(name))
    if "scope" in message:
        message["scope"] = [f"{VC_TYPE_ALIAS}:MembershipCredential"]
    for member in drops:
        message.pop(member, None)
    message.update(sets)
    for kind, parse in (
        ("PresentationQueryMessage", parse_presentation_query),
        ("PresentationResponseMessage", parse_presentation_response),
    ):
        try:
            parse(message)
        except ConnectorError:
            continue
        assert dcp_oracle.schema_problems(kind, message) == [], message


def test_the_members_the_core_writes_are_terms_of_the_dcp_context() -> None:
    """JSON-LD processors (EDC's) compact and expand the messages with the DCP context: every member this
    package writes must be a term the context defines for that message type."""
    context = dcp_oracle.load("context/dcp.jsonld")["@context"]
    for message in (
        PresentationQueryMessage((f"{VC_TYPE_ALIAS}:X:read",)).to_json(),
        PresentationResponseMessage(("a.b.c",)).to_json(),
    ):
        scoped = context[message["type"]]["@context"]
        for member in message:
            assert member == "@context" or member in scoped or context.get(member) == "@type", member


# --- self-issued ID tokens, by base.protocol.md ------------------------------------------------------------------


@pytest.mark.parametrize("with_access_token", [True, False])
def test_issued_id_tokens_carry_what_the_base_protocol_requires(world, now, with_access_token) -> None:
    access = (
        issue_access_token(world.a.key, world.a.kid, world.a.did, world.b.did, [f"{VC_TYPE_ALIAS}:X:read"], now)
        if with_access_token
        else None
    )
    token = issue_id_token(world.a.key, world.a.kid, world.a.did, world.b.did, access, now, timedelta(seconds=120))
    header, claims = (json.loads(dcp_oracle_b64(part)) for part in token.split(".")[:2])
    assert dcp_oracle.id_token_problems(header, claims) == []
    assert ("token" in claims) == with_access_token


def dcp_oracle_b64(part: str) -> bytes:
    import base64

    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


@pytest.mark.parametrize(
    "change",
    [
        {"sub": "did:web:other.example"},
        {"aud": ["did:web:a.example", "did:web:b.example"]},
        {"jti": ""},
        {"exp": "soon"},
    ],
)
def test_the_token_oracle_is_not_blind(change) -> None:
    claims = {
        "iss": "did:web:a.example",
        "sub": "did:web:a.example",
        "aud": "did:web:b.example",
        "jti": "x",
        "iat": 1,
        "exp": 2,
    }
    assert dcp_oracle.id_token_problems({"alg": "ES256"}, claims) == []
    assert dcp_oracle.id_token_problems({"alg": "ES256"}, {**claims, **change})
    assert dcp_oracle.id_token_problems({"alg": "none"}, claims)


def test_the_oracle_watched_the_messages_and_tokens_of_a_test(dcp_schema_oracle, world, now) -> None:
    presentation_query([f"{VC_TYPE_ALIAS}:X"]).body()
    issue_id_token(world.a.key, world.a.kid, world.a.did, world.b.did, None, now)
    assert dcp_schema_oracle == ["PresentationQueryMessage", "IdToken"]
