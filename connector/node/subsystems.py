"""Where subsystems attach to a node: each adds its hooks and routes.

Kept in one place so that a reader sees what a running node consists of, in start-up order.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from connector.node.runtime import Node


def attach(node: Node) -> None:
    """Attach the control plane (and the subsystems that plug into it) to a node before it starts."""
    from connector.control.plane import ControlPlane
    from connector.management import api as management_api
    from connector.protocol import dsp

    control = ControlPlane(node)
    node.control = control

    async def start(n: Node) -> None:
        await control.start()

    async def ready(n: Node) -> None:
        await control.after_listening()

    async def stop(n: Node) -> None:
        await control.stop()

    node.start_hooks.append(start)
    node.ready_hooks.append(ready)
    node.stop_hooks.append(stop)
    node.protocol_routes.extend(dsp.routes())
    node.management_routes.extend(management_api.routes())
    if node.config.tck.enabled:
        from connector.protocol import tck_webhooks

        node.protocol_routes.extend(tck_webhooks.routes())
    from connector.trust import node_edge

    node_edge.attach(node)
    from connector.dataplane.attach import attach as attach_data_plane

    attach_data_plane(node)  # after the control plane: it fills in the control plane's env.dataplane
    from connector.evidence import node_edge as evidence_edge

    evidence_edge.attach(node)
