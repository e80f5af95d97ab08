"""What the console's tests share: a small data space of real nodes over real TLS, and a signed-in client.

A federation whose authority serves status lists and time-stamps; a provider (management over plain HTTP on
loopback) offering a file to everyone, a purpose-bound dataset and an EU-only one; a consumer established in JP
whose management listener serves HTTPS, as a remote operator would reach it.
"""

from __future__ import annotations

import contextlib
import re
import ssl
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
from dataplane_e2e.kit import data_section
from nodekit import API_KEY, Management, Participant, running_node
from trust_e2e.kit import Federation, NodeSpec, credentialed, dcp_config, make_federation

WEATHER = b"station,temp\nKYOTO,21.5\nBERLIN,14.0\n"
RESEARCH_ONLY = {
    "permission": [
        {"action": "use", "constraint": [{"leftOperand": "purpose", "operator": "eq", "rightOperand": "research"}]}
    ]
}
EU_ONLY = {
    "permission": [
        {
            "action": "use",
            "constraint": [{"leftOperand": "countryOfEstablishment", "operator": "isPartOf", "rightOperand": "EU"}],
        }
    ]
}


@dataclass
class Dataspace:
    root: Path
    federation: Federation
    provider: Participant
    consumer: Participant
    pcfg: Path
    ccfg: Path
    trust_list: Path  # the federation's signed list, as an auditor is given it

    @property
    def provider_console(self) -> str:
        return f"http://127.0.0.1:{self.provider.management_port}/console/"

    @property
    def consumer_console(self) -> str:
        return f"https://localhost:{self.consumer.management_port}/console/"

    @property
    def provider_dsp(self) -> str:
        return f"https://localhost:{self.provider.protocol_port}/dsp/2025-1"

    def consumer_ssl(self) -> ssl.SSLContext:
        """What a browser on the operator's machine trusts for the consumer's management listener."""
        return ssl.create_default_context(cafile=str(self.federation.authority.ca_cert_path))


def _configure(
    federation: Federation, participant: Participant, root: Path, management_tls: bool, crl_files: bool
) -> Path:
    path = dcp_config(NodeSpec(participant, [federation]), root)
    name = participant.name
    text = path.read_text() + data_section(root / f"{name}-data", root / f"{name}-inbox")
    if not crl_files:  # the CRLs fetched from the distribution point their certificates name, as nodes mostly do
        text = re.sub(r"^crl = .*\n", "crl_max_age = 1.0\n", text, count=1, flags=re.MULTILINE)
    text += f'\n[evidence]\ntsa_url = "https://localhost:{federation.port}/tsa"\n'
    if management_tls:
        text = text.replace(
            "[management]\n",
            f'[management]\ntls_cert = "{participant.tls_cert}"\ntls_key = "{participant.tls_key}"\n',
            1,
        )
    path.write_text(text)
    (root / f"{name}-data").mkdir(exist_ok=True)
    return path


async def _offer(m: Management, asset: str, policy: dict[str, Any], title: str) -> None:
    source = {"type": "file", "path": "weather.csv"}
    asset_body = {"id": asset, "title": title, "source": source, "mediaType": "text/csv"}
    await m.call("POST", "/v1/assets", asset_body, 201)
    await m.call("POST", "/v1/policies", {"id": f"{asset}-policy", "policy": policy}, 201)
    offer = {"id": f"{asset}-offer", "assetId": asset, "contractPolicyId": f"{asset}-policy"}
    await m.call("POST", "/v1/offers", offer, 201)


@contextlib.asynccontextmanager
async def dataspace(root: Path, crl_files: bool = True) -> AsyncIterator[Dataspace]:
    """The data space, running, with the provider's offers in place; `crl_files`: the nodes are given the
    authority's CRL as a file (else they fetch it from its URL)."""
    federation = make_federation(root, "Test Federation")
    provider = credentialed(federation, root, "provider")
    consumer = credentialed(federation, root, "consumer", country="JP")
    pcfg = _configure(federation, provider, root, management_tls=False, crl_files=crl_files)
    ccfg = _configure(federation, consumer, root, management_tls=True, crl_files=crl_files)
    (root / "provider-data" / "weather.csv").write_bytes(WEATHER)
    await federation.start()
    try:
        async with running_node(pcfg), running_node(ccfg):
            pm = Management(provider)
            await _offer(pm, "weather", {"permission": [{"action": "use"}]}, "Daily weather, two stations")
            await _offer(pm, "survey", RESEARCH_ONLY, "Household survey, research only")
            await _offer(pm, "meters", EU_ONLY, "Smart-meter readings, EU only")
            yield Dataspace(root, federation, provider, consumer, pcfg, ccfg, federation.trust_list)
    finally:
        await federation.stop()


# --- a console client without a browser ------------------------------------------------------------------------

CSRF = re.compile(r'name="csrf" value="([^"]+)"')


def csrf_of(page: str) -> str:
    found = CSRF.search(page)
    assert found is not None, "the page has no form token"
    return found.group(1)


class ConsoleClient:
    """A cookie-keeping HTTP client of one node's console, as a browser without JavaScript uses it."""

    def __init__(self, base: str, ssl_context: ssl.SSLContext | None = None) -> None:
        self.base = base.rstrip("/")  # .../console
        self.ssl = ssl_context
        self.jar = aiohttp.CookieJar(unsafe=True)
        self.session = aiohttp.ClientSession(cookie_jar=self.jar)
        self.urls: list[str] = []  # every URL requested or redirected to

    async def close(self) -> None:
        await self.session.close()

    async def request(self, method: str, path: str, **kw: Any) -> tuple[aiohttp.ClientResponse, str]:
        url = path if path.startswith("http") else self.base + path
        kw.setdefault("ssl", self.ssl if self.ssl is not None else True)
        async with self.session.request(method, url, **kw) as resp:
            self.urls += [str(h.url) for h in resp.history] + [str(resp.url)]
            return resp, await resp.text()

    async def get(self, path: str, **kw: Any) -> tuple[aiohttp.ClientResponse, str]:
        return await self.request("GET", path, **kw)

    async def post(self, path: str, data: dict[str, Any], **kw: Any) -> tuple[aiohttp.ClientResponse, str]:
        return await self.request("POST", path, data=data, **kw)

    async def form(self, page: str, action: str, fields: dict[str, Any]) -> tuple[aiohttp.ClientResponse, str]:
        """Submit a form of the page at `page` (its token included) to `action`."""
        _, text = await self.get(page)
        return await self.post(action, {"csrf": csrf_of(text), **fields})

    async def login(self, key: str = API_KEY) -> tuple[aiohttp.ClientResponse, str]:
        return await self.form("/login", "/login", {"key": key})
