"""Fixtures shared by the whole suite: authorities and participants made with the project's own PKI tool, and a
real PostgreSQL server (started once per session, when a test first asks for a database)."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from pgserver import PostgresServer

from connector.pki.authority import Authority


@pytest.fixture
def authority(tmp_path: Path) -> Authority:
    return Authority.init(tmp_path / "authority", "Test Federation")


@pytest.fixture
def other_authority(tmp_path: Path) -> Authority:
    return Authority.init(tmp_path / "other-authority", "Other Federation")


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    server = PostgresServer.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def postgres_url(postgres_server: PostgresServer) -> Iterator[str]:
    """The URL of a new, empty database of the session's PostgreSQL server, dropped after the test."""
    url = postgres_server.create_database()
    try:
        yield url
    finally:
        postgres_server.drop_database(url)


@pytest.fixture
def postgres_migrated_url(postgres_server: PostgresServer) -> Iterator[str]:
    """As postgres_url, with the node's migrations already applied (faster to open)."""
    url = postgres_server.create_database(migrated=True)
    try:
        yield url
    finally:
        postgres_server.drop_database(url)


# --- the DSP schemas as oracle --------------------------------------------------------------------------------
# Every DSP message a node sends to a peer, and every DSP answer it gets back, in every test that runs real
# nodes, is validated against the official 2025-1 schemas; a violation fails the test that caused it.

DSP_VIOLATIONS: list[str] = []
DSP_SEEN: list[str] = []  # types validated in the current test


def _check_dsp(body, where: str) -> None:
    from connector.dsp.messages import MESSAGE_CLASSES
    from connector.dsp.schemas import validate

    if isinstance(body, dict) and isinstance(body.get("@type"), str) and body["@type"] in MESSAGE_CLASSES:
        DSP_SEEN.append(body["@type"])
        problems = validate(body["@type"], body)
        if problems:
            DSP_VIOLATIONS.append(f"{where}: {body['@type']}: {problems[0].reason} at {problems[0].where}")


@pytest.fixture(autouse=True)
def dsp_schema_oracle(monkeypatch):
    from connector.web import peer_client

    original = peer_client.PeerClient.request

    async def checked(self, method, url, body=None, expected_peer=None, **kw):
        sent = json.loads(kw["body_json"]) if body is None and kw.get("body_json") is not None else body
        _check_dsp(sent, f"sent to {url}")
        response = await original(self, method, url, body, expected_peer, **kw)
        _check_dsp(response.body, f"answer from {url}")
        return response

    monkeypatch.setattr(peer_client.PeerClient, "request", checked)
    DSP_VIOLATIONS.clear()
    DSP_SEEN.clear()
    yield DSP_SEEN
    assert not DSP_VIOLATIONS, "DSP messages violating the official schemas:\n" + "\n".join(DSP_VIOLATIONS)


# --- the DCP schemas as oracle --------------------------------------------------------------------------------
# Every DCP presentation query and response the trust core builds, and every self-issued ID token it signs, in
# every test (unit or real nodes), is checked against the official DCP 1.0.1 schemas and the base protocol's
# claim rules (tests/dcp_oracle.py); a violation fails the test that caused it.

DCP_VIOLATIONS: list[str] = []
DCP_SEEN: list[str] = []  # what was checked in the current test ("PresentationQueryMessage", "IdToken", ...)


@pytest.fixture(autouse=True)
def dcp_schema_oracle(monkeypatch):
    import dcp_oracle

    from connector.trust import presentations, tokens

    def watch(cls) -> None:
        original = cls.to_json

        def checked(self):
            body = original(self)
            DCP_SEEN.append(body.get("type", "?"))
            for problem in dcp_oracle.schema_problems(body.get("type"), body):
                DCP_VIOLATIONS.append(f"{body.get('type')}: {problem}")
            return body

        monkeypatch.setattr(cls, "to_json", checked)

    watch(presentations.PresentationQueryMessage)
    watch(presentations.PresentationResponseMessage)
    sign_jwt = tokens.sign_jwt

    def signed(key, claims, header):
        token = sign_jwt(key, claims, header)
        if header.get("typ") == tokens.ID_TOKEN_TYP:  # an ID token, not an access token
            DCP_SEEN.append("IdToken")
            as_sent = [json.loads(base64.urlsafe_b64decode(part + "==")) for part in token.split(".")[:2]]
            for problem in dcp_oracle.id_token_problems(*as_sent):
                DCP_VIOLATIONS.append(f"ID token: {problem}")
        return token

    monkeypatch.setattr(tokens, "sign_jwt", signed)
    DCP_VIOLATIONS.clear()
    DCP_SEEN.clear()
    yield DCP_SEEN
    assert not DCP_VIOLATIONS, "DCP messages or tokens violating the specification:\n" + "\n".join(DCP_VIOLATIONS)


# --- the e2e marker ------------------------------------------------------------------------------------------
# Tests that run real nodes (in-process or as processes, over mutual TLS on loopback) are marked e2e, so that
# `pytest -m "not e2e"` runs the unit tests alone, in seconds.

# A module starts nodes when it holds one of these names: the kit's in-process node and node process, the TCK
# profile, `connector serve` as its own process (tests/node), and the fixtures that start pairs of nodes. A module
# whose nodes are started elsewhere (the flood test runs a benchmark) marks itself.
_REAL_NODES = ("running_node", "NodeProcess", "running_profile", "serving", "both", "_pair", "arena")


def pytest_collection_modifyitems(config, items):
    for item in items:
        folder = item.path.parent.name
        module = getattr(item, "module", None)
        starts_nodes = module is not None and any(hasattr(module, name) for name in _REAL_NODES)
        if folder.endswith("_e2e") or folder in ("tck", "demo") or starts_nodes:
            item.add_marker(pytest.mark.e2e)
