"""`data.client_certificate = "optional"`: a pull without a client certificate is authenticated by its token alone,
as EDC's data plane serves; a token bound to a certificate still needs it; the default refuses such a pull at the
handshake. And a provider that offers no seal does not fail the consumer's transfer, unless seals are required."""

from __future__ import annotations

import ssl

import aiohttp
import pytest
from dataplane_e2e.kit import access, agree, both, data_section, fetch, make_pair, sha, started, wait_state
from nodekit import write_config

from connector.dataplane.address import EDC_NAMESPACE, EndpointAccess
from connector.dataplane.consumer import UNSEALED

OPTIONAL = 'client_certificate = "optional"\n'


def _plain(pair) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cafile=str(pair.provider.authority.ca_cert_path))
    return ctx


async def _get(
    url: str, ctx: ssl.SSLContext, authorization: str | None, extra: dict[str, str] | None = None
) -> tuple[int, bytes, dict]:
    headers = {"Authorization": authorization} if authorization is not None else {}
    headers.update(extra or {})
    async with aiohttp.ClientSession() as session:
        async with session.get(url, ssl=ctx, headers=headers) as resp:
            return resp.status, await resp.read(), dict(resp.headers)


def _optional_pair(authority, tmp_path, provider_extra: str = OPTIONAL, consumer_extra: str = ""):
    pair = make_pair(authority, tmp_path)
    pair.pcfg = write_config(
        pair.provider, tmp_path, extra=data_section(pair.root, tmp_path / "provider-inbox", provider_extra)
    )
    pair.ccfg = write_config(
        pair.consumer, tmp_path, extra=data_section(tmp_path / "consumer-data", pair.inbox, consumer_extra)
    )
    return pair


async def test_a_pull_without_a_certificate_is_served_on_the_token_alone(authority, tmp_path):
    pair = _optional_pair(authority, tmp_path)
    (pair.root / "notes.txt").write_bytes(b"served on a bearer token\n")
    async with both(pair) as (_, consumer):
        agreement = await agree(pair, "notes", {"type": "file", "path": "notes.txt"})
        tp = await started(pair, agreement)
        # The address of the start message, as an EDC consumer keeps it (a token bound to no certificate).
        info = EndpointAccess.from_address((await consumer.store.read(_transfer, tp["id"])).data_address)
        info = {"endpoint": info.endpoint, "authorization": info.token, "sealEndpoint": info.seal_endpoint}
        status, body, headers = await _get(info["endpoint"], _plain(pair), None)
        assert status == 401 and b"token.missing" in body and "Bearer" in headers.get("WWW-Authenticate", "")
        # The token as the DSP address names it (a part only: the transfer delivers its data in full once).
        bearer = f"Bearer {info['authorization']}"
        status, body, _ = await _get(info["endpoint"], _plain(pair), bearer, {"Range": "bytes=0-5"})
        assert status == 206 and body == b"served"
        # As EDC's consumer calls a data plane: the raw token, no certificate.
        status, body, _ = await _get(info["endpoint"], _plain(pair), info["authorization"])
        assert status == 200 and body == b"served on a bearer token\n", body
        # The seal is served to the same bearer.
        status, seal, _ = await _get(info["sealEndpoint"], _plain(pair), info["authorization"])
        assert status == 200 and b'"claims"' in seal


async def test_a_token_pinned_to_a_certificate_still_needs_it(authority, tmp_path):
    pair = _optional_pair(authority, tmp_path)
    (pair.root / "notes.txt").write_bytes(b"pinned\n")
    async with both(pair):
        agreement = await agree(pair, "notes", {"type": "file", "path": "notes.txt"})
        tp = await started(pair, agreement)
        info = await access(pair, tp["id"])  # a fresh token from the refresh endpoint: bound to the certificate
        got = await fetch(info["endpoint"], pair.consumer, info["authorization"])
        assert got.status == 200
        status, body, _ = await _get(info["endpoint"], _plain(pair), info["authorization"])
        assert status == 403 and b"token.wrong_holder" in body


async def test_by_default_a_pull_without_a_certificate_fails_the_handshake(authority, tmp_path):
    pair = make_pair(authority, tmp_path)
    (pair.root / "notes.txt").write_bytes(b"mutual TLS only\n")
    async with both(pair):
        agreement = await agree(pair, "notes", {"type": "file", "path": "notes.txt"})
        tp = await started(pair, agreement)
        info = await access(pair, tp["id"])
        with pytest.raises(aiohttp.ClientError):
            await _get(info["endpoint"], _plain(pair), info["authorization"])


async def test_the_start_message_carries_the_address_in_both_shapes(authority, tmp_path):
    pair = make_pair(authority, tmp_path)
    (pair.root / "notes.txt").write_bytes(b"x")
    async with both(pair) as (_, consumer):
        agreement = await agree(pair, "notes", {"type": "file", "path": "notes.txt"})
        tp = await started(pair, agreement)
        record = await consumer.store.read(_transfer, tp["id"])
        names = {p["name"]: p["value"] for p in record.data_address["endpointProperties"]}
        assert names[EDC_NAMESPACE + "endpoint"] == record.data_address["endpoint"]
        assert names[EDC_NAMESPACE + "authorization"] == names["authorization"]
        assert names["authType"] == names[EDC_NAMESPACE + "authType"] == "bearer"


def _transfer(db, transfer_id):
    from connector.store.sql import processes as repo

    return repo.get_transfer(db, transfer_id)


async def _unsealed_transfer(pair, consumer_node) -> tuple[str, bytes]:
    """A started pull whose data address, as the consumer holds it, offers no seal (as an EDC provider's)."""
    from connector.store.sql.flows import get_flow, save_flow

    (pair.root / "notes.txt").write_bytes(b"not sealed\n")
    agreement = await agree(pair, "notes", {"type": "file", "path": "notes.txt"})
    tp = await started(pair, agreement)
    info = await access(pair, tp["id"])
    got = await fetch(info["endpoint"], pair.consumer, info["authorization"])

    def drop_seal(db):
        import dataclasses

        flow = get_flow(db, tp["id"])
        address = dict(flow.address)
        address["endpointProperties"] = [
            p for p in address["endpointProperties"] if p["name"] not in ("sealEndpoint", "refreshEndpoint")
        ]
        save_flow(db, dataclasses.replace(flow, address=address))

    await consumer_node.store.run(drop_seal)
    return tp["id"], got.body


async def test_data_from_a_provider_that_does_not_seal_is_kept_as_unsealed(authority, tmp_path):
    pair = make_pair(authority, tmp_path)
    async with both(pair) as (_, consumer):
        transfer_id, data = await _unsealed_transfer(pair, consumer)
        info = await access(pair, transfer_id)
        assert info["sealEndpoint"] is None and info["authorizationHeader"] == f"Bearer {info['authorization']}"
        verdict = await pair.cm.call(
            "POST", f"/v1/transfers/{transfer_id}/seal", {"seal": None, "sha256": sha(data), "size": len(data)}, 200
        )
        assert verdict == {"verified": False, "sealed": False, "sha256": sha(data), "size": len(data)}
        await pair.cm.call("POST", f"/v1/transfers/{transfer_id}/complete", None, 200)
        await wait_state(pair.cm, transfer_id, "COMPLETED")
        from connector.store.sql import evidence as evidence_sql

        records = await consumer.store.read(evidence_sql.records_of, [transfer_id])
        (absent,) = [r for r in records if r["kind"] == UNSEALED]
        assert absent["data"]["sha256"] == sha(data) and absent["data"]["size"] == len(data)


async def test_seals_required_refuse_data_without_one(authority, tmp_path):
    pair = make_pair(authority, tmp_path)
    text = pair.ccfg.read_text() + "\n[evidence]\nrequire_seals = true\n"
    pair.ccfg.write_text(text)
    async with both(pair) as (_, consumer):
        transfer_id, data = await _unsealed_transfer(pair, consumer)
        refused = await pair.cm.call(
            "POST", f"/v1/transfers/{transfer_id}/seal", {"seal": None, "sha256": sha(data), "size": len(data)}
        )
        assert refused["code"] == "seal.required", refused
        await wait_state(pair.cm, transfer_id, "TERMINATED")


async def test_a_missing_seal_from_a_provider_that_seals_is_refused(authority, tmp_path):
    pair = make_pair(authority, tmp_path)
    (pair.root / "notes.txt").write_bytes(b"sealed\n")
    async with both(pair):
        agreement = await agree(pair, "notes", {"type": "file", "path": "notes.txt"})
        tp = await started(pair, agreement)
        info = await access(pair, tp["id"])
        got = await fetch(info["endpoint"], pair.consumer, info["authorization"])
        refused = await pair.cm.call(
            "POST", f"/v1/transfers/{tp['id']}/seal", {"seal": None, "sha256": sha(got.body), "size": len(got.body)}
        )
        assert refused["code"] == "seal.missing", refused
