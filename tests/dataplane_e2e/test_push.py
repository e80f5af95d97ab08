"""Push transfers: the provider streams to the consumer's own data listener, seals, and completes; a destination
that refuses ends the transfer with the reason."""

from __future__ import annotations

import errno
import os

from dataplane_e2e.kit import agree, both, sha, wait_state


async def test_a_push_arrives_whole_sealed_and_completes_both_sides(pair):
    data = os.urandom(6 * 1024 * 1024 + 1)
    (pair.root / "push.bin").write_bytes(data)
    async with both(pair):
        agreement = await agree(pair, "pushed", {"type": "file", "path": "push.bin"})
        tp = await pair.cm.call("POST", "/v1/transfers", {"agreementId": agreement, "format": "HttpData-PUSH"}, 201)
        assert tp["dataAddress"]["endpoint"].startswith("https://") and "/push/" in tp["dataAddress"]["endpoint"]
        done = await wait_state(pair.cm, tp["id"], "COMPLETED")
        await wait_state(pair.pm, done["providerPid"], "COMPLETED")
        flow = await pair.cm.call("GET", f"/v1/transfers/{tp['id']}/flow", None, 200)
        assert flow["sha256"] == sha(data) and flow["sealVerifiedAt"] and flow["seal"]["claims"]["size"] == len(data)
        from pathlib import Path

        assert Path(flow["file"]).read_bytes() == data
        assert not list(pair.inbox.glob("*.part*"))
        provider_flow = await pair.pm.call("GET", f"/v1/transfers/{done['providerPid']}/flow", None, 200)
        assert provider_flow["bytesSent"] == len(data) and provider_flow["seal"] == flow["seal"]
        history = await pair.cm.call("GET", f"/v1/transfers/{tp['id']}", None, 200)
        assert any(h["cause"] == "seal verified" for h in history["history"])


async def test_a_push_to_a_destination_that_refuses_terminates_with_the_reason(pair):
    (pair.root / "p.bin").write_bytes(b"p" * 10_000)
    async with both(pair):
        agreement = await agree(pair, "p", {"type": "file", "path": "p.bin"})
        # A destination the consumer's data plane never issued: its listener refuses the token.
        port_of_consumer_data = (
            await pair.cm.call("POST", "/v1/transfers", {"agreementId": agreement, "format": "HttpData-PUSH"}, 201)
        )["dataAddress"]["endpoint"].split("/push/")[0]
        bogus = {
            "@type": "DataAddress",
            "endpointType": "https://w3id.org/idsa/v4.1/HTTP",
            "endpoint": f"{port_of_consumer_data}/push/urn:uuid:nobody",
            "endpointProperties": [
                {"@type": "EndpointProperty", "name": "authorization", "value": "guess"},
                {"@type": "EndpointProperty", "name": "authType", "value": "bearer"},
            ],
        }
        tp = await pair.cm.call(
            "POST",
            "/v1/transfers",
            {"agreementId": agreement, "format": "HttpData-PUSH", "dataDestination": bogus},
            201,
        )
        ended = await wait_state(pair.cm, tp["id"], "TERMINATED")
        assert "push" in ended["reason"] and "refused" in ended["reason"], ended["reason"]
        provider_side = await wait_state(pair.pm, ended["providerPid"], "TERMINATED")
        assert provider_side["reason"].startswith("the push of the data failed: the consumer refused")
        assert provider_side["reason"] in ended["reason"]


async def test_a_push_the_consumer_cannot_write_ends_both_sides_saying_so_and_tells_its_operator(
    pair, monkeypatch, caplog
):
    (pair.root / "p.bin").write_bytes(os.urandom(6 * 1024 * 1024))

    def disk_full(fd: int, views: object, offset: int) -> int:  # the inbox's file system, as the OS reports it
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    async with both(pair):
        agreement = await agree(pair, "p", {"type": "file", "path": "p.bin"})
        monkeypatch.setattr(os, "pwritev", disk_full)
        tp = await pair.cm.call("POST", "/v1/transfers", {"agreementId": agreement, "format": "HttpData-PUSH"}, 201)
        ended = await wait_state(pair.cm, tp["id"], "TERMINATED")
        provider_side = await wait_state(pair.pm, ended["providerPid"], "TERMINATED")
        # The pusher hears that the receiving side cannot take the data now (503), not that its data was bad.
        assert "(503: the receiving node cannot write the pushed data now" in provider_side["reason"], provider_side
        assert provider_side["reason"] in ended["reason"]
        told = [r for r in caplog.records if r.getMessage() == "pushed data cannot be written"]
        assert told and told[0].levelname == "ERROR" and "no space left on the device" in told[0].reason
        assert told[0].file.startswith(str(pair.inbox))
