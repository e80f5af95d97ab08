"""How the data plane joins a node: its listener, its start, ready and stop hooks, and the seam it fills in."""

from __future__ import annotations

from typing import TYPE_CHECKING

from connector.dataplane.service import LISTENER, DataPlane

if TYPE_CHECKING:
    from connector.node.runtime import Node


def attach(node: Node) -> DataPlane | None:
    """Attach the data plane (after the control plane). A node without TLS (the loopback conformance profile)
    has no data plane: its data endpoints could not authenticate anyone."""
    if node.config.protocol.insecure_http:
        return None
    plane = DataPlane(node)
    node.dataplane = plane

    async def start(n: Node) -> None:
        await plane.open()

    async def ready(n: Node) -> None:
        await plane.after_listening()

    async def stop(n: Node) -> None:
        await plane.close()

    node.start_hooks.append(start)
    node.ready_hooks.append(ready)
    node.stop_hooks.append(stop)
    node.extra_listeners.append(
        (LISTENER, plane.listen, plane.build_app, lambda n: n.server_tls(require_client_cert=True))
    )
    return plane
