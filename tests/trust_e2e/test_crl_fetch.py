"""Revocation by network alone: nodes configured with no CRL file fetch each trusted authority's CRL from the
distribution point its certificates name, keep it fresh, see a revocation within trust.crl_max_age, and refuse
an authority's participants once its CRL cannot be had past the grace period."""

from __future__ import annotations

import re
from pathlib import Path

from nodekit import Management, get, running_node, wait_for
from trust_e2e.kit import NodeSpec, RawPeer, Signer, dcp_config, two_federations

from connector.trust.edge.crls import fetched_crl_files


def no_crl_files(config: Path, **trust: float) -> Path:
    """The configuration without any trust.crl entry (everything comes from distribution points)."""
    text = re.sub(r"^crl = \[.*\]$", "", config.read_text(), flags=re.M)
    extra = "".join(f"{k} = {v}\n" for k, v in trust.items())
    config.write_text(text.replace("[trust]\n", "[trust]\n" + extra, 1))
    return config


def _provider_and_consumer_apart(tmp_path: Path):
    """A provider member of Alpha, a consumer member of Beta."""
    return two_federations(tmp_path, members=("provider", "consumer"), countries=("JP", "DE"))


async def test_a_revocation_reaches_a_node_of_another_federation_by_network_alone(tmp_path):
    async with _provider_and_consumer_apart(tmp_path) as (alpha, beta, provider, consumer):
        pconf = no_crl_files(dcp_config(NodeSpec(provider, [alpha, beta]), tmp_path), crl_max_age=1.0, crl_grace=2.0)
        cconf = no_crl_files(dcp_config(NodeSpec(consumer, [alpha, beta]), tmp_path), crl_max_age=1.0, crl_grace=2.0)
        assert "crl =" not in pconf.read_text()
        async with running_node(pconf) as pnode, running_node(cconf):
            # Both authorities' CRLs were fetched into the provider's data folder before it listened.
            assert len(fetched_crl_files(pnode.config.node.data_dir)) == 2
            assert not pnode.tls.material.pending
            await Management(provider).offer("weather")
            raw = RawPeer(consumer)
            raw.ssl = consumer.client_ssl([alpha.authority.ca_cert_path])
            status, _ = await raw.catalogue(provider, f"Bearer {Signer.of(consumer).id_token(provider.participant_id)}")
            assert status == 200
            beta.authority.revoke_participant(consumer.participant_id)  # at its authority, nothing copied

            async def refused() -> bool:
                token = Signer.of(consumer).id_token(provider.participant_id)
                status, body = await raw.catalogue(provider, f"Bearer {token}")
                return status == 401 and body["code"] == "certificate.revoked"

            await wait_for(refused, timeout=6)  # crl_max_age (1 s), a tick and a fetch
            health = (await get(f"http://127.0.0.1:{provider.management_port}/check/health"))[1]
            assert health["checks"]["trustMaterial"]["ok"] is True


async def test_an_authority_that_cannot_be_reached_past_the_grace_period_has_its_participants_refused(tmp_path):
    async with _provider_and_consumer_apart(tmp_path) as (alpha, beta, provider, consumer):
        pconf = no_crl_files(dcp_config(NodeSpec(provider, [alpha, beta]), tmp_path), crl_max_age=0.5, crl_grace=1.0)
        cconf = dcp_config(NodeSpec(consumer, [alpha, beta]), tmp_path)
        async with running_node(pconf) as pnode, running_node(cconf):
            await Management(provider).offer("weather")
            raw = RawPeer(consumer)
            raw.ssl = consumer.client_ssl([alpha.authority.ca_cert_path])
            token = Signer.of(consumer).id_token(provider.participant_id)
            assert (await raw.catalogue(provider, f"Bearer {token}"))[0] == 200
            await beta.stop()

            async def unavailable() -> bool:
                status, body = await raw.catalogue(
                    provider, f"Bearer {Signer.of(consumer).id_token(provider.participant_id)}"
                )
                return status == 503 and body["code"] == "revocation.unavailable"

            await wait_for(unavailable, timeout=8)
            status, health = await get(f"http://127.0.0.1:{provider.management_port}/check/health")
            assert status == 503 and health["status"] == "degraded"
            lapsed = [m for m in health["checks"]["trustMaterial"]["attention"] if m["state"] == "expired"]
            assert [m["kind"] for m in lapsed] == ["crl"] and "Beta" in lapsed[0]["name"]
            assert pnode.freshness() is not None and not pnode.freshness().ok
            await beta.start()  # back: its CRL is fetched again and its participants are served

            async def served() -> bool:
                status, _ = await raw.catalogue(
                    provider, f"Bearer {Signer.of(consumer).id_token(provider.participant_id)}"
                )
                return status == 200

            await wait_for(served, timeout=8)
