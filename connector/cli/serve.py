"""`connector serve --config FILE`: run a node until SIGINT/SIGTERM."""

from __future__ import annotations

import argparse
import os
from typing import Any

from connector.cli.client import add_config_argument, load


def register(sub: argparse._SubParsersAction) -> None:
    serve = sub.add_parser("serve", help="run a connector node")
    add_config_argument(serve)
    serve.add_argument(
        "--initialise",
        action="store_true",
        help="begin with a new, empty store where the data folder records a store that is now missing or empty "
        "(without it the node refuses to start then, rather than forget its agreements and evidence)",
    )
    serve.set_defaults(func=cmd_serve)


def cmd_serve(args: argparse.Namespace) -> int:
    from connector.log import setup_logging
    from connector.node.runtime import serve

    config = load(args)
    setup_logging(config.log.level, config.log.format)
    run_loop(serve(config, initialise=args.initialise))
    return 0


def run_loop(coro: Any) -> Any:
    """Run on uvloop where it is installed (faster TLS and HTTP), unless CONNECTOR_EVENT_LOOP=asyncio."""
    import asyncio

    if os.environ.get("CONNECTOR_EVENT_LOOP", "uvloop") == "uvloop":
        try:
            import uvloop
        except ImportError:
            pass
        else:
            return uvloop.run(coro)
    return asyncio.run(coro)
