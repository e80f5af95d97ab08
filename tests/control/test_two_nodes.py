"""Two real nodes over mutual TLS: catalogue, negotiation to FINALIZED, transfer request."""

import pytest
from nodekit import Management, make_participant, running_node, write_config


@pytest.fixture
def pair(authority, tmp_path):
    a = make_participant(authority, tmp_path, "provider")
    b = make_participant(authority, tmp_path, "consumer")
    return a, b, write_config(a, tmp_path), write_config(b, tmp_path)


async def test_catalogue_negotiation_and_transfer_between_two_nodes(pair, dsp_schema_oracle):
    provider, consumer, pcfg, ccfg = pair
    async with running_node(pcfg), running_node(ccfg):
        pm, cm = Management(provider), Management(consumer)
        offer_id = await pm.offer("weather")
        catalog = await cm.call(
            "POST",
            "/v1/catalog/request",
            {"counterPartyAddress": f"https://localhost:{provider.protocol_port}/dsp/2025-1"},
            200,
        )
        assert catalog["participantId"] == provider.participant_id
        assert [d["id"] for d in catalog["datasets"]] == ["weather"]
        neg = await cm.negotiate(provider, offer_id, "weather")
        assert neg["state"] == "FINALIZED", neg
        agreement = await cm.call("GET", f"/v1/agreements/{neg['agreementId']}", None, 200)
        assert agreement["providerId"] == provider.participant_id and agreement["finalized"]
        provider_view = await pm.call("GET", f"/v1/agreements/{neg['agreementId']}", None, 200)
        assert provider_view["finalized"]
        tp = await cm.call("POST", "/v1/transfers", {"agreementId": neg["agreementId"]}, 201)
        tp = await cm.call("GET", f"/v1/transfers/{tp['id']}?wait=STARTED,TERMINATED&timeout=20", None, 200)
        assert tp["state"] == "STARTED", tp
    # Every message of this exchange went through the schema oracle (and none violated it).
    assert {
        "Catalog",
        "Dataset",
        "ContractRequestMessage",
        "ContractNegotiation",
        "ContractAgreementMessage",
        "ContractAgreementVerificationMessage",
        "ContractNegotiationEventMessage",
        "TransferRequestMessage",
        "TransferProcess",
        "TransferStartMessage",
    } <= set(dsp_schema_oracle), set(dsp_schema_oracle)


async def test_a_revoked_consumer_is_told_at_once_instead_of_retrying(pair, authority):
    provider, consumer, pcfg, ccfg = pair
    async with running_node(pcfg) as pnode, running_node(ccfg):
        pm, cm = Management(provider), Management(consumer)
        offer_id = await pm.offer("weather")
        authority.revoke(consumer.participant_id)
        from nodekit import wait_for

        from connector import keys

        await wait_for(lambda: pnode.tls.is_revoked(keys.load_certificate(consumer.tls_cert)))
        address = f"https://localhost:{provider.protocol_port}/dsp/2025-1"
        neg = await cm.call(
            "POST",
            "/v1/negotiations",
            {
                "counterPartyAddress": address,
                "counterPartyId": provider.participant_id,
                "datasetId": "weather",
                "offer": {"@id": offer_id, "@type": "Offer", "target": "weather", "permission": [{"action": "use"}]},
            },
            201,
        )
        done = await cm.call("GET", f"/v1/negotiations/{neg['id']}?wait=TERMINATED&timeout=10", None, 200)
        assert done["state"] == "TERMINATED" and "revoked" in done["reason"], done
