"""Typed application state shared by the listeners' apps."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web

if TYPE_CHECKING:
    from connector.node.runtime import Node

NODE: web.AppKey[Node] = web.AppKey("node")
