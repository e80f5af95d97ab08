"""The node's TCK profile (`config/tck.toml`) and a node running it in-process on free loopback ports.

The profile is loaded from where it lives (its relative paths stay right) with environment-style overrides for
the listeners, the public URL and the data folder, so that every test module gets a fresh node.
"""

from __future__ import annotations

import contextlib
import os
import tomllib
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import Any

from nodekit import free_port
from tck.client import CutEndpoints

from connector.config import load_config
from connector.dsp.versions import DSP_BASE_PATH
from connector.node.wiring import RunningNode, running

REPO_ROOT = Path(__file__).resolve().parents[2]
# TCK_PROFILE points the harness at another profile (e.g. one being drafted); by default the shipped one.
PROFILE = Path(os.environ.get("TCK_PROFILE") or REPO_ROOT / "config" / "tck.toml")
PROPERTIES = REPO_ROOT / "config" / "tck.properties"
NEGOTIATION_WEBHOOK = "/tck/negotiations"
TRANSFER_WEBHOOK = "/tck/transfers"
VERSION_PATH = "/.well-known/dspace-version"


def read_profile(path: Path = PROFILE) -> dict[str, Any]:
    return tomllib.loads(path.read_text(encoding="utf-8"))


def profile_authorization(profile: Mapping[str, Any]) -> str:
    value = profile.get("tck", {}).get("authorization")
    if not isinstance(value, str) or not value:
        raise AssertionError("the TCK profile has no [tck] authorization value")
    return value


def profile_participant(profile: Mapping[str, Any]) -> str:
    value = profile.get("node", {}).get("participant_id")
    if not isinstance(value, str) or not value:
        raise AssertionError("the TCK profile has no [node] participant_id")
    return value


def endpoints(root: str, profile: Mapping[str, Any]) -> CutEndpoints:
    """What the TCK's properties say about a node whose protocol listener is at `root` (http://host:port)."""
    return CutEndpoints(
        dsp_url=root + DSP_BASE_PATH,
        base_url=root,
        authorization=profile_authorization(profile),
        agent_id=profile_participant(profile),
        negotiation_initiate_url=root + NEGOTIATION_WEBHOOK,
        transfer_initiate_url=root + TRANSFER_WEBHOOK,
    )


def overrides(protocol_port: int, management_port: int, data_dir: Path) -> dict[str, str]:
    root = f"http://127.0.0.1:{protocol_port}"
    return {
        "CONNECTOR__PROTOCOL__LISTEN": f"127.0.0.1:{protocol_port}",
        "CONNECTOR__PROTOCOL__PUBLIC_URL": root,
        "CONNECTOR__MANAGEMENT__LISTEN": f"127.0.0.1:{management_port}",
        "CONNECTOR__NODE__DATA_DIR": str(data_dir),
    }


@contextlib.asynccontextmanager
async def running_profile(data_dir: Path, path: Path = PROFILE) -> AsyncIterator[tuple[RunningNode, CutEndpoints]]:
    """A node on the TCK profile, like `nodekit.running_node` but with the overrides above."""
    port = free_port()
    config = load_config(path, environ=overrides(port, free_port(), data_dir))
    async with running(config) as node:
        yield node, endpoints(f"http://127.0.0.1:{port}", read_profile(path))
