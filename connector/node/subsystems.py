"""Where subsystems attach to a node: each adds its start/stop hooks and routes.

Kept in one place so that a reader sees what a running node consists of.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from connector.node.runtime import Node


def attach(node: "Node") -> None:
    """Attach the subsystems that exist to a node before it starts."""
    return None
