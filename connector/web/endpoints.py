"""Where peers reach this node: the protocol listener's public URL, the DSP base URL, the data listener's URL.

Configured URLs win; otherwise they are derived from the participant id (did:web names its host) and, for ports
chosen at bind time (port 0), from the port a listener actually bound, which the node reports with `bound`.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from connector.config import Config
from connector.dsp.versions import DSP_BASE_PATH
from connector.participant import did_web_origin


class PublicEndpoints:
    def __init__(self, config: Config) -> None:
        self._config = config
        self._ports: dict[str, int] = {}

    def bound(self, listener: str, port: int) -> None:
        self._ports[listener] = port

    def port(self, listener: str, configured: int) -> int:
        return self._ports.get(listener, configured)

    def protocol(self) -> str:
        """Base URL of the protocol listener as peers use it."""
        protocol = self._config.protocol
        if protocol.public_url:
            return protocol.public_url.rstrip("/")
        if protocol.insecure_http:
            return f"http://{protocol.listen.host}:{self.port('protocol', protocol.listen.port)}"
        return did_web_origin(self._config.node.participant_id)

    def dsp(self) -> str:
        return self.protocol() + DSP_BASE_PATH

    def data(self) -> str:
        """Base URL of the data listener as peers reach it."""
        data = self._config.data
        if data.public_url:
            return data.public_url.rstrip("/")
        configured = data.listen.port if data.listen is not None else 0
        host = urlsplit(self.protocol()).hostname or self._config.protocol.listen.host
        return f"https://{'[' + host + ']' if ':' in host else host}:{self.port('data', configured)}"
