"""Every bad input gets a clear 4xx with a DSP error body, never a 5xx or a traceback, and loses nothing."""

import json

import aiohttp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from nodekit import make_participant, running_node, write_config

ENDPOINTS = [
    "/dsp/2025-1/catalog/request",
    "/dsp/2025-1/negotiations/request",
    "/dsp/2025-1/negotiations/x/request",
    "/dsp/2025-1/negotiations/x/events",
    "/dsp/2025-1/negotiations/x/agreement/verification",
    "/dsp/2025-1/negotiations/x/termination",
    "/dsp/2025-1/negotiations/offers",
    "/dsp/2025-1/negotiations/x/offers",
    "/dsp/2025-1/negotiations/x/agreement",
    "/dsp/2025-1/transfers/request",
    "/dsp/2025-1/transfers/x/start",
    "/dsp/2025-1/transfers/x/completion",
    "/dsp/2025-1/transfers/x/suspension",
    "/dsp/2025-1/transfers/x/termination",
]
DSP = "https://w3id.org/dspace/2025/1/context.jsonld"
TYPES = [
    "ContractRequestMessage",
    "ContractOfferMessage",
    "TransferRequestMessage",
    "CatalogRequestMessage",
    "TransferStartMessage",
    "ContractAgreementMessage",
    "Nonsense",
    7,
    None,
    ["ContractRequestMessage"],
]

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda c: st.lists(c, max_size=4) | st.dictionaries(st.text(max_size=12), c, max_size=4),
    max_leaves=12,
)
messages = st.fixed_dictionaries(
    {"@context": st.sampled_from([[DSP], DSP, [], ["x"], None]), "@type": st.sampled_from(TYPES)},
    optional={
        "consumerPid": json_values,
        "providerPid": json_values,
        "offer": json_values,
        "callbackAddress": st.sampled_from(["https://localhost:1/cb", "ftp://x", "", 5]),
        "agreementId": json_values,
        "format": json_values,
        "agreement": json_values,
        "eventType": st.sampled_from(["ACCEPTED", "FINALIZED", "x", 1]),
        "dataAddress": json_values,
        "reason": json_values,
        "code": json_values,
    },
)
bodies = st.one_of(
    messages.map(json.dumps), json_values.map(json.dumps), st.binary(max_size=64).map(lambda b: b.decode("latin-1"))
)


def examples(count: int = 300) -> list[tuple[str, str]]:
    """Hypothesis draws the noise; the node is probed with it on the test's own event loop."""
    drawn: list[tuple[str, str]] = []

    @settings(max_examples=count, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    @given(endpoint=st.sampled_from(ENDPOINTS), body=bodies)
    def collect(endpoint: str, body: str) -> None:
        drawn.append((endpoint, body))

    collect()
    return drawn


async def test_malformed_messages_never_cause_a_server_error(authority, tmp_path):
    provider, peer = make_participant(authority, tmp_path, "provider"), make_participant(authority, tmp_path, "peer")
    statuses = set()
    async with running_node(write_config(provider, tmp_path)) as node:
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=peer.client_ssl())) as session:
            for endpoint, body in examples():
                url = f"https://localhost:{provider.protocol_port}{endpoint}"
                async with session.post(
                    url, data=body.encode("utf-8", "surrogatepass"), headers={"Content-Type": "application/json"}
                ) as resp:
                    text = await resp.text()
                statuses.add(resp.status)
                assert resp.status < 500, (endpoint, body, resp.status, text)
                if resp.status >= 400:
                    error = json.loads(text)
                    assert error["@type"] in ("ContractNegotiationError", "TransferError", "CatalogError"), text
                    assert error.get("reason"), text
        # The noise created nothing that is left waiting: no process and no message pending.
        open_processes = await node.store.read(
            lambda db: db.execute("SELECT count(*) FROM negotiations WHERE pending IS NOT NULL").fetchone()[0]
        )
        assert open_processes == 0
    assert statuses & {400, 404}, statuses
