"""Reload without restart: a rotated identity is served to new connections (on SIGHUP, and when its files
change), connections and work in flight go on, a rotation that does not hold is refused, and SIGHUP also applies
the configuration's assets, policies and offers."""

from __future__ import annotations

import asyncio
import signal
import ssl
import time
from pathlib import Path

import aiohttp
from cryptography import x509
from nodekit import API_KEY, Management, NodeProcess, make_participant, running_node, wait_for, write_config

from connector import keys
from connector.pki.requests import make_requests, read_requests


async def served_serial(port: int, ca: Path) -> int:
    """The serial of the certificate a new TLS connection to `port` is served."""
    context = ssl.create_default_context(cafile=str(ca))
    reader, writer = await asyncio.open_connection("127.0.0.1", port, ssl=context, server_hostname="localhost")
    try:
        der = writer.get_extra_info("ssl_object").getpeercert(binary_form=True)
        return x509.load_der_x509_certificate(der).serial_number
    finally:
        writer.close()


def rotate(participant, authority) -> tuple[int, int]:
    """New keys and certificates for the participant, made the way a participant renews them: its own keys and
    signing requests, signed by its authority. Returns the new (TLS, signing) serials."""
    make_requests(participant.dir, participant.participant_id, ["localhost", "127.0.0.1"])
    issued = authority.sign_requests(read_requests(participant.dir))
    issued.write(participant.dir)
    return issued.certificates["tls"].serial_number, issued.certificates["signing"].serial_number


async def test_a_rotated_certificate_is_served_after_a_reload_and_open_connections_keep_theirs(authority, tmp_path):
    org = make_participant(authority, tmp_path, "org")
    config = write_config(org, tmp_path, extra="")
    config.write_text(config.read_text().replace("reload_interval = 0.2", "reload_interval = 3600"))
    async with running_node(config) as node:
        before = await served_serial(org.protocol_port, authority.ca_cert_path)
        assert before == keys.load_certificate(org.tls_cert).serial_number
        # A connection opened before the rotation, kept alive across it.
        context = ssl.create_default_context(cafile=str(authority.ca_cert_path))
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=context, limit=1)) as session:
            version = f"https://localhost:{org.protocol_port}/.well-known/dspace-version"
            async with session.get(version) as resp:
                assert resp.status == 200
            tls_serial, signing_serial = rotate(org, authority)
            assert await served_serial(org.protocol_port, authority.ca_cert_path) == before  # nothing reloaded yet
            await node.reload()
            assert await served_serial(org.protocol_port, authority.ca_cert_path) == tls_serial
            async with session.get(version) as resp:  # the kept-alive connection still works
                assert resp.status == 200
        assert node.identity is not None and node.identity.signing_cert.serial_number == signing_serial
        # The DID document names the new signing key.
        document_key = node.trust.holder.document_json()["verificationMethod"][0]["publicKeyJwk"]
        assert document_key["x"] == keys.public_jwk(keys.load_private_key(org.dir / "signing.key.pem"))["x"]


async def test_a_certificate_replaced_on_disk_is_served_without_any_signal(authority, tmp_path):
    org = make_participant(authority, tmp_path, "org")
    async with running_node(write_config(org, tmp_path)):  # reload_interval 0.2 s
        tls_serial, _ = rotate(org, authority)

        async def served() -> bool:
            return await served_serial(org.protocol_port, authority.ca_cert_path) == tls_serial

        await wait_for(served, timeout=5)


async def test_a_rotation_that_does_not_hold_is_refused_and_the_node_keeps_its_identity(authority, tmp_path, caplog):
    org = make_participant(authority, tmp_path, "org")
    config = write_config(org, tmp_path)
    config.write_text(config.read_text().replace("reload_interval = 0.2", "reload_interval = 3600"))
    async with running_node(config) as node:
        before = await served_serial(org.protocol_port, authority.ca_cert_path)
        stranger = make_participant(authority, tmp_path, "stranger")  # a certificate naming another participant
        (org.dir / "tls.cert.pem").write_bytes(stranger.tls_cert.read_bytes())
        (org.dir / "tls.key.pem").write_bytes(stranger.tls_key.read_bytes())
        await node.reload()
        assert await served_serial(org.protocol_port, authority.ca_cert_path) == before
        assert node.identity is not None and node.identity.tls_cert.serial_number == before
        assert any("cannot be used" in r.getMessage() for r in caplog.records)


SEEDED = """
[[assets]]
id = "weather"
title = "Hourly weather"
source = {type = "http", url = "http://127.0.0.1:9/weather"}
"""
MORE = """
[[assets]]
id = "tides"
title = "Tide tables"
source = {type = "http", url = "http://127.0.0.1:9/tides"}
"""


def _assets(port: int) -> list[str]:
    import json
    import urllib.request

    request = urllib.request.Request(f"http://127.0.0.1:{port}/v1/assets", headers={"X-Api-Key": API_KEY})
    with urllib.request.urlopen(request, timeout=5) as resp:
        return sorted(a["id"] for a in json.loads(resp.read())["items"])


async def test_sighup_to_connector_serve_reloads_its_certificate_and_its_definitions(authority, tmp_path):
    org = make_participant(authority, tmp_path, "org")
    config = write_config(org, tmp_path, extra=SEEDED)
    config.write_text(config.read_text().replace("reload_interval = 0.2", "reload_interval = 3600"))
    node = NodeProcess(config, org).start()
    try:
        before = await served_serial(org.protocol_port, authority.ca_cert_path)
        assert _assets(org.management_port) == ["weather"]
        tls_serial, _ = rotate(org, authority)
        config.write_text(config.read_text() + MORE)
        node.proc.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + 10
        while await served_serial(org.protocol_port, authority.ca_cert_path) == before:
            assert time.monotonic() < deadline, "the new certificate was not served after SIGHUP"
            await asyncio.sleep(0.1)
        assert await served_serial(org.protocol_port, authority.ca_cert_path) == tls_serial
        while _assets(org.management_port) != ["tides", "weather"]:
            assert time.monotonic() < deadline, "the configuration's assets were not reloaded"
            await asyncio.sleep(0.1)
        assert node.proc.poll() is None  # still running: a reload, not a restart
        await Management(org).call("GET", "/check/health", None, 200)
    finally:
        assert node.stop() == 0
