"""A consumer's node agrees only to duties it can fulfil: a request for terms imposing any other duty is refused
at once, naming the duty, and nothing reaches the provider."""

from __future__ import annotations

import os

from dataplane_e2e.kit import both
from duties_e2e.kit import agreed, duty_policy, offer_file


async def test_terms_imposing_a_duty_the_node_cannot_fulfil_are_never_asked_for(pair):
    async with both(pair):
        await offer_file(pair, "tides", os.urandom(1000), duty_policy({"action": "odrl:inform"}))
        # The provider's offer as another provider could have written it, with a duty no node can carry out.
        offer = {
            "@id": "tides-offer",
            "target": "tides",
            "permission": [{"action": "use", "duty": [{"action": "odrl:inform"}, {"action": "odrl:compensate"}]}],
        }
        refused = await pair.cm.call(
            "POST",
            "/v1/negotiations",
            {
                "counterPartyAddress": f"https://localhost:{pair.provider.protocol_port}/dsp/2025-1",
                "counterPartyId": pair.provider.participant_id,
                "offer": offer,
            },
            400,
        )
        assert refused["code"] == "policy.unfulfillable_duty", refused
        assert "cannot fulfil" in refused["detail"] and "compensate" in refused["detail"], refused
        for m in (pair.cm, pair.pm):
            assert (await m.call("GET", "/v1/negotiations", None, 200))["items"] == []

        # The provider's own terms, whose duty the node fulfils, are agreed to.
        assert await agreed(pair, "tides")
