"""Fixtures shared by the whole suite: authorities and participants made with the project's own PKI tool, and a
real PostgreSQL server (started once per session, when a test first asks for a database)."""

from __future__ import annotations

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
        _check_dsp(body, f"sent to {url}")
        response = await original(self, method, url, body, expected_peer, **kw)
        _check_dsp(response.body, f"answer from {url}")
        return response

    monkeypatch.setattr(peer_client.PeerClient, "request", checked)
    DSP_VIOLATIONS.clear()
    DSP_SEEN.clear()
    yield DSP_SEEN
    assert not DSP_VIOLATIONS, "DSP messages violating the official schemas:\n" + "\n".join(DSP_VIOLATIONS)
