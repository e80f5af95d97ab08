"""`connector demo`: a three-organisation data space in two federations, and its story, in under a minute.

connector demo [--workdir DIR] [--keep-running]    create, start, run the story, stop (what `make demo` runs)
connector demo init --workdir DIR [--profile P]    only create the workspace (P: local or compose)
connector demo up --workdir DIR                    start an existing local workspace and keep it running
connector demo story --workdir DIR                 run the story against a running data space
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from connector.cli.base import EXIT_FAILED, Parser

if TYPE_CHECKING:
    from connector.demo.processes import DataSpace
    from connector.demo.story import Console
    from connector.demo.workspace import Workspace


def register(sub: argparse._SubParsersAction) -> None:
    demo = sub.add_parser(
        "demo",
        help="run a three-organisation data space and its story",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    demo.add_argument("--workdir", type=Path, help="workspace folder (default: a new ./demo-<time> folder)")
    demo.add_argument(
        "--keep-running", action="store_true", help="leave the data space running after the story (Ctrl-C stops it)"
    )
    demo.set_defaults(func=cmd_demo)
    demo_sub = demo.add_subparsers(dest="demo_command", metavar="STEP", parser_class=Parser)
    init = demo_sub.add_parser("init", help="create the workspace only")
    init.add_argument("--workdir", type=Path, required=True)
    init.add_argument("--profile", choices=["local", "compose"], default="local")
    init.set_defaults(func=cmd_init)
    up = demo_sub.add_parser("up", help="start an existing local workspace and keep it running")
    up.add_argument("--workdir", type=Path, required=True)
    up.set_defaults(func=cmd_up)
    story = demo_sub.add_parser("story", help="run the story against a running data space")
    story.add_argument("--workdir", type=Path, required=True)
    story.add_argument(
        "--wait", type=float, default=0.0, help="seconds to wait for the nodes to answer first (containers starting up)"
    )
    story.set_defaults(func=cmd_story)


def _default_workdir() -> Path:
    from datetime import datetime

    return Path.cwd() / f"demo-{datetime.now():%Y%m%d-%H%M%S}"


def cmd_init(args: argparse.Namespace) -> int:
    from connector.demo import workspace as ws_module

    ws = ws_module.create(args.workdir, args.profile)
    print(f"workspace created in {ws.dir} ({args.profile} profile); see {ws.dir / ws_module.WORKSPACE_FILE}")
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    import asyncio

    return asyncio.run(_demo(args.workdir or _default_workdir(), args.keep_running))


async def _demo(workdir: Path, keep_running: bool) -> int:
    import time

    from connector.demo import workspace as ws_module
    from connector.demo.processes import DataSpace
    from connector.demo.story import Console, Story, summary

    console = Console()
    started = time.monotonic()
    console.write(f"Creating the data space in {workdir}")
    ws = ws_module.create(workdir, "local")
    for auth in ws.data["authorities"]:
        console.detail(
            f"authority: {auth['name']} (root CA, credential issuer, status list, trust list) at {auth['publicUrl']}"
        )
    for org in ws.data["organisations"]:
        console.detail(f"organisation: {org['name']} ({org['country']}), {org['participantId']}")
    space = DataSpace.of(ws)
    try:
        seconds = await space.start()
        console.detail(f"{len(space.services)} processes started in {seconds:.1f} s (logs in {ws.dir / 'logs'})")
        outcomes = await Story(ws, console).run()
        passed = summary(outcomes, console, time.monotonic() - started)
        if keep_running:
            await _keep_running(ws, console, space)
        return 0 if passed else EXIT_FAILED
    finally:
        space.stop()


async def _keep_running(ws: Workspace, console: Console, space: DataSpace) -> None:
    import asyncio

    from connector.demo import workspace as ws_module
    from connector.signals import stop_requested

    console.write("")
    console.write("The data space keeps running; try, from the repository root:")
    berlin = ws.path(ws.organisation("berlin-energy")["config"])
    console.detail(f"connector catalog tokyo-mobility --config {berlin}")
    console.detail(f"connector negotiate tokyo-mobility traffic-flow-offer --config {berlin}")
    console.detail(f"connector negotiations --config {berlin}")
    console.detail(f"connector fetch tokyo-mobility traffic-flow --out traffic.csv --config {berlin}")
    console.detail(f"connector explain <negotiation id> --config {berlin}")
    console.write(f"workspace description: {ws.dir / ws_module.WORKSPACE_FILE}; press Ctrl-C to stop.")
    async with stop_requested() as stop:
        while not stop.is_set():
            dead = [s.name for s in space.services if not s.running()]
            if dead:
                console.write(f"stopped unexpectedly: {', '.join(dead)} (see {ws.dir / 'logs'})")
                break
            try:
                await asyncio.wait_for(stop.wait(), 1.0)
            except TimeoutError:
                pass
    console.write("stopping the data space...")


def cmd_up(args: argparse.Namespace) -> int:
    import asyncio

    from connector.demo import workspace as ws_module
    from connector.demo.processes import DataSpace
    from connector.demo.story import Console

    async def up() -> int:
        console = Console()
        ws = ws_module.Workspace.load(args.workdir)
        space = DataSpace.of(ws)
        try:
            seconds = await space.start()
            console.write(f"{len(space.services)} processes started in {seconds:.1f} s")
            await _keep_running(ws, console, space)
        finally:
            space.stop()
        return 0

    return asyncio.run(up())


def cmd_story(args: argparse.Namespace) -> int:
    import asyncio
    import time

    from connector.demo import workspace as ws_module
    from connector.demo.story import Console, Story, summary

    async def story() -> int:
        console = Console()
        ws = ws_module.Workspace.load(args.workdir)
        if args.wait:
            await _wait_for_nodes(ws, args.wait)
        started = time.monotonic()
        outcomes = await Story(ws, console).run()
        return 0 if summary(outcomes, console, time.monotonic() - started) else EXIT_FAILED

    return asyncio.run(story())


async def _wait_for_nodes(ws: Workspace, seconds: float) -> None:
    import asyncio
    import time

    import aiohttp

    from connector.demo.processes import answers

    deadline = time.monotonic() + seconds
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=2)) as session:
        for org in ws.data["organisations"]:
            url = f"{org['management']}/check/readiness"
            while not await answers(session, url) and time.monotonic() <= deadline:
                await asyncio.sleep(0.5)
