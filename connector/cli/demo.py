"""`connector demo`: a three-organisation data space in two federations, and its story, in under a minute.

connector demo [--workdir DIR] [--keep-running]    create, start, run the story, stop (what `make demo` runs)
connector demo init --workdir DIR [--profile P]    only create the parties' folders (P: local, or hosts with
                                                   --hosts FILE: each party on a host of its own)
connector demo up --workdir DIR                    start an existing workspace and keep it running
connector demo run --workdir DIR                   start an existing workspace, run the story, stop
connector demo story --workdir DIR                 run the story against a running data space
connector demo check-keys --workdir DIR            no party's folder holds another party's private key
connector demo party PARTY --workdir DIR [--serve] one party's own folder (compose: in its container), and
                                                   with --serve: run it (an authority's service, or an
                                                   organisation's node, enrolled and credentialed first)

Starting is onboarding: the authorities run, each organisation enrols the signing requests it made with its own
keys, its node starts and asks its authority's issuer service for its credentials.
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
    init = demo_sub.add_parser("init", help="create the parties' folders only")
    init.add_argument("--workdir", type=Path, required=True)
    init.add_argument("--profile", choices=["local", "hosts"], default="local")
    init.add_argument(
        "--hosts",
        type=Path,
        help="hosts profile: JSON naming, for each party, its host name, address and the command prefix that runs a "
        'command there ({"tokyo-mobility": {"host": ..., "address": ..., "run": [...]}, ...})',
    )
    init.set_defaults(func=cmd_init)
    up = demo_sub.add_parser("up", help="start an existing workspace and keep it running")
    up.add_argument("--workdir", type=Path, required=True)
    up.set_defaults(func=cmd_up)
    run = demo_sub.add_parser("run", help="start an existing workspace, run the story, stop")
    run.add_argument("--workdir", type=Path, required=True)
    run.set_defaults(func=cmd_run)
    keys = demo_sub.add_parser("check-keys", help="check that no party's folder holds another party's private key")
    keys.add_argument("--workdir", type=Path, required=True)
    keys.set_defaults(func=cmd_check_keys)
    party = demo_sub.add_parser("party", help="one party's own folder, and with --serve run it (compose)")
    party.add_argument("party", metavar="PARTY", help="authority-jp, authority-eu, or an organisation's key")
    party.add_argument("--workdir", type=Path, required=True)
    party.add_argument("--serve", action="store_true", help="then run it until SIGTERM")
    party.set_defaults(func=cmd_party)
    story = demo_sub.add_parser("story", help="run the story against a running data space")
    story.add_argument("--workdir", type=Path, required=True)
    story.add_argument(
        "--wait", type=float, default=0.0, help="seconds to wait for the nodes to answer first (containers starting up)"
    )
    story.add_argument(
        "--profile",
        choices=["local", "hosts", "compose"],
        default="local",
        help="compose: the parties made their own folders; the data space is described, not read from workspace.json",
    )
    story.set_defaults(func=cmd_story)


def _default_workdir() -> Path:
    from datetime import datetime

    return Path.cwd() / f"demo-{datetime.now():%Y%m%d-%H%M%S}"


def cmd_init(args: argparse.Namespace) -> int:
    import json

    from connector.demo import workspace as ws_module
    from connector.errors import UsageError

    hosts = None
    if args.profile == "hosts":
        if args.hosts is None:
            raise UsageError("cli.usage", "the hosts profile needs --hosts FILE", "--hosts")
        try:
            hosts = json.loads(args.hosts.read_text())
        except (OSError, ValueError) as exc:
            raise UsageError("cli.usage", f"cannot read {args.hosts}: {exc}", "--hosts") from None
    ws = ws_module.create(args.workdir, args.profile, hosts)
    print(f"workspace created in {ws.dir} ({args.profile} profile); see {ws.dir / ws_module.WORKSPACE_FILE}")
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    import asyncio

    return asyncio.run(_demo(args.workdir or _default_workdir(), args.keep_running))


async def _demo(workdir: Path, keep_running: bool) -> int:
    import time

    from connector.demo import workspace as ws_module
    from connector.demo.story import Console

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
    return await _start_and_tell(ws, console, started, keep_running)


async def _start_and_tell(ws: Workspace, console: Console, started: float, keep_running: bool) -> int:
    import time

    from connector.demo.processes import DataSpace
    from connector.demo.story import Story, summary

    space = DataSpace.of(ws)
    try:
        console.detail("onboarding: each organisation enrols its own keys and asks its authority for credentials")
        seconds = await space.start(say=lambda line: console.detail("  " + line))
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
    console.write("Each organisation's web console (sign in with the key in the file named):")
    for org in ws.data["organisations"]:
        console.detail(f"{org['name']}: {org['management']}/console/ (key: {ws.path(org['apiKeyFile'])})")
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


def cmd_run(args: argparse.Namespace) -> int:
    import asyncio
    import time

    from connector.demo import workspace as ws_module
    from connector.demo.story import Console, not_told_yet

    ws = ws_module.Workspace.load(args.workdir)
    not_told_yet(ws)  # before anything starts
    return asyncio.run(_start_and_tell(ws, Console(), time.monotonic(), keep_running=False))


def cmd_check_keys(args: argparse.Namespace) -> int:
    from connector.cli.base import Refused
    from connector.demo import workspace as ws_module
    from connector.demo.audit import crossings, held_keys

    ws = ws_module.Workspace.load(args.workdir)
    problems = crossings(ws)
    if problems:
        raise Refused("demo.keys_shared", "; ".join(problems))
    held = held_keys(ws)
    parties = sorted({k.party for k in held})
    print(f"{len(held)} private keys in {len(parties)} parties' folders, each held by its own party alone")
    return 0


def cmd_party(args: argparse.Namespace) -> int:
    import asyncio

    from connector.demo import workspace as ws_module

    if args.serve:
        from connector.demo.party import serve

        asyncio.run(serve(args.workdir, args.party))
        return 0
    folder = ws_module.create_party(args.workdir, args.party)
    print(f"{args.party}: its folder is {folder}")
    return 0


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
    from connector.demo.story import Console, Story, not_told_yet, summary

    async def story() -> int:
        console = Console()
        ws = ws_module.derived(args.workdir, args.profile)
        not_told_yet(ws)
        if args.wait:
            await _wait_for_nodes(ws, args.wait)
        started = time.monotonic()
        outcomes = await Story(ws, console).run()
        return 0 if summary(outcomes, console, time.monotonic() - started) else EXIT_FAILED

    return asyncio.run(story())


async def _wait_for_nodes(ws: Workspace, seconds: float) -> None:
    import asyncio
    import sys
    import time

    import aiohttp

    from connector.demo.processes import holds_credentials

    deadline = time.monotonic() + seconds
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=2)) as session:
        for org in ws.data["organisations"]:  # up, and holding its credentials
            while not await holds_credentials(session, ws, org):
                if time.monotonic() > deadline:
                    # Said before the story's steps fail on it, which only show that the node did not answer.
                    print(
                        f"connector demo story: {org['name']}'s node does not hold its credentials after "
                        f"{seconds:g} s (see its log); the story runs anyway",
                        file=sys.stderr,
                    )
                    break
                await asyncio.sleep(0.5)
