"""No onward transfer: data received under an agreement that prohibits distributing it is refused as an asset
(the file, or a copy of it), withheld from the catalogue when an existing asset comes to hold it, and not served."""

from __future__ import annotations

import dataclasses
import os
import shutil

from dataplane_e2e.kit import access, both, fetch, started
from duties_e2e.kit import agreed, duty_policy, offer_file, pulled

ASSET = "/v1/assets"


def _catalogue_of(participant) -> dict:
    return {
        "counterPartyAddress": f"https://localhost:{participant.protocol_port}/dsp/2025-1",
        "counterPartyId": participant.participant_id,
    }


async def test_data_received_under_no_onward_transfer_is_never_offered_onward(pair):
    data = os.urandom(20_000)
    shared = pair.tmp / "consumer-data" / "shared"
    shared.mkdir()
    out = shared / "maps.bin"
    async with both(pair):
        # The consumer already offers its whole "shared" folder (and, apart, data of its own).
        await pair.cm.offer("shared", source={"type": "file", "path": "shared"})
        (pair.tmp / "consumer-data" / "own.bin").write_bytes(b"made here")
        await pair.cm.offer("own", source={"type": "file", "path": "own.bin"})
        seen = await pair.pm.call("POST", "/v1/catalog/request", _catalogue_of(pair.consumer), 200)
        assert {d["id"] for d in seen["datasets"]} == {"shared", "own"}

        await offer_file(pair, "maps", data, duty_policy({"action": "odrl:inform"}, onward=False))
        agreement = await agreed(pair, "maps")
        await pulled(pair, agreement, out)
        view = await pair.cm.call("GET", f"/v1/received?agreementId={agreement}", None, 200)
        assert [r["noOnwardTransfer"] for r in view["items"]] == [True]

        refused = await pair.cm.call(
            "POST", ASSET, {"id": "resale", "source": {"type": "file", "path": "shared/maps.bin"}}, 409
        )
        assert refused["code"] == "duty.no_onward_transfer" and refused["where"] == "source"
        assert f"would offer the data received under agreement {agreement}" in refused["detail"]
        assert "prohibits distributing it" in refused["detail"]
        shutil.copyfile(out, pair.tmp / "consumer-data" / "copy.bin")
        copied = await pair.cm.call("POST", ASSET, {"id": "copy", "source": {"type": "file", "path": "copy.bin"}}, 409)
        assert "would offer a copy of data received" in copied["detail"]
        await pair.cm.call("PUT", f"{ASSET}/own", {"source": {"type": "file", "path": "shared"}}, 409)
        await pair.cm.call("POST", ASSET, {"id": "mine", "source": {"type": "file", "path": "own.bin"}}, 201)

        # The folder that now holds the data is withheld from the catalogue.
        seen = await pair.pm.call("POST", "/v1/catalog/request", _catalogue_of(pair.consumer), 200)
        assert {d["id"] for d in seen["datasets"]} == {"own"}

        # And not served, even to a peer that names the offer without the catalogue.
        reverse = dataclasses.replace(pair, provider=pair.consumer, consumer=pair.provider)
        neg = await pair.pm.call(
            "POST",
            "/v1/negotiations",
            {
                **_catalogue_of(pair.consumer),
                "offer": {"@id": "shared-offer", "permission": [{"action": "use"}]},
                "datasetId": "shared",
            },
            201,
        )
        neg = await pair.pm.call("GET", f"/v1/negotiations/{neg['id']}?wait=FINALIZED,TERMINATED&timeout=20", None, 200)
        assert neg["state"] == "FINALIZED", neg
        tp = await started(reverse, neg["agreementId"])
        info = await access(reverse, tp["id"])
        got = await fetch(info["endpoint"], pair.provider, info["authorization"])
        assert got.status == 403 and got.json()["code"] == "duty.no_onward_transfer", got
