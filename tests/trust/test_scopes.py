from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from connector.errors import ConnectorError
from connector.trust.scopes import VC_ID_ALIAS, VC_TYPE_ALIAS, Scope, parse_scope, parse_scopes, type_scope


def test_type_scope_is_written_with_the_read_operation() -> None:
    assert type_scope("MembershipCredential") == "org.eclipse.dspace.dcp.vc.type:MembershipCredential:read"


def test_scope_without_operation_means_read() -> None:
    assert parse_scope("org.eclipse.dspace.dcp.vc.type:Member") == Scope(VC_TYPE_ALIAS, "Member", "read")


def test_id_scope_may_carry_colons_in_the_credential_id() -> None:
    scope = parse_scope("org.eclipse.dspace.dcp.vc.id:urn:uuid:1234:read")
    assert scope == Scope(VC_ID_ALIAS, "urn:uuid:1234", "read")
    assert scope.matches(["VerifiableCredential"], "urn:uuid:1234")
    assert not scope.matches(["VerifiableCredential"], "urn:uuid:9999")


def test_type_scope_matches_by_credential_type() -> None:
    scope = parse_scope(type_scope("MembershipCredential"))
    assert scope.matches(["VerifiableCredential", "MembershipCredential"], None)
    assert not scope.matches(["VerifiableCredential", "OrganizationCredential"], None)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "MembershipCredential",
        "com.example.other:MembershipCredential:read",
        "org.eclipse.dspace.dcp.vc.type:MembershipCredential:write",
        "org.eclipse.dspace.dcp.vc.type:MembershipCredential:all",
        "org.eclipse.dspace.dcp.vc.type::read",
        "org.eclipse.dspace.dcp.vc.type:Member Credential:read",
        "org.eclipse.dspace.dcp.vc.type:a:b:read",
    ],
)
def test_invalid_scope_is_refused(text: str) -> None:
    with pytest.raises(ConnectorError) as err:
        parse_scope(text)
    assert err.value.code == "scope.invalid"


def test_parse_scopes_deduplicates_in_order() -> None:
    a, b = type_scope("A"), type_scope("B")
    assert [str(s) for s in parse_scopes([b, a, b, "org.eclipse.dspace.dcp.vc.type:B"])] == [b, a]


@given(st.text(max_size=60))
def test_scope_parser_raises_only_connector_error(text: str) -> None:
    try:
        scope = parse_scope(text)
    except ConnectorError:
        return
    assert parse_scope(str(scope)) == scope
