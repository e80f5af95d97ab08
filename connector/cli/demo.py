"""`connector demo`: a first look at a node (grows into the multi-organisation story)."""

from __future__ import annotations

import argparse
import asyncio
import socket
import ssl
import tempfile
from pathlib import Path

import aiohttp

from connector.config import load_config
from connector.node.runtime import Node, _register_subsystems
from connector.pki.authority import Authority


def register(sub: argparse._SubParsersAction) -> None:
    demo = sub.add_parser("demo", help="create a dev PKI, start a node and talk to it over mutual TLS")
    demo.add_argument("--workdir", type=Path, help="workspace folder (default: a new temporary folder)")
    demo.set_defaults(func=cmd_demo)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cmd_demo(args: argparse.Namespace) -> int:
    work = args.workdir or Path(tempfile.mkdtemp(prefix="connector-demo-"))
    work.mkdir(parents=True, exist_ok=True)
    return asyncio.run(_demo(work))


async def _demo(work: Path) -> int:
    port, mport = _free_port(), _free_port()
    pid = f"did:web:localhost%3A{port}:org-a"
    print(f"workspace: {work}")
    authority = Authority.init(work / "authority", "Demo Federation")
    print(f"1. authority '{authority.name}' created (root CA, credential key, CRL)")
    authority.issue_participant(pid, ["localhost", "127.0.0.1"], work / "org-a", "JP", "Org A")
    authority.issue_participant("did:web:localhost%3A1:visitor", ["localhost"], work / "visitor", "DE", "Visitor")
    print(f"2. identity issued: {pid}")
    config = work / "org-a.toml"
    config.write_text(f"""[node]
participant_id = "{pid}"
data_dir = "var/org-a"
[identity]
tls_cert = "org-a/tls.cert.pem"
tls_key = "org-a/tls.key.pem"
signing_key = "org-a/signing.key.pem"
signing_cert = "org-a/signing.cert.pem"
[protocol]
listen = "127.0.0.1:{port}"
[management]
listen = "127.0.0.1:{mport}"
api_key = "demo-api-key-0123456789"
[trust]
ca = ["authority/ca.cert.pem"]
crl = ["authority/crl.pem"]
[log]
level = "warning"
""")
    node = Node(load_config(config))
    _register_subsystems(node)
    await node.start()
    try:
        print(f"3. node started: protocol https://localhost:{port}, management http://127.0.0.1:{mport}")
        ctx = ssl.create_default_context(cafile=str(authority.ca_cert_path))
        ctx.load_cert_chain(work / "visitor" / "tls.cert.pem", work / "visitor" / "tls.key.pem")
        async with aiohttp.ClientSession() as session:
            async with session.get(f"https://localhost:{port}/.well-known/dspace-version", ssl=ctx) as resp:
                body = await resp.json()
        version = body["protocolVersions"][0]
        print(f"4. a peer asked over mutual TLS: DSP {version['version']} at {version['path']} "
              f"({version['binding']}, auth {version['auth']['protocol']} {version['auth']['version']})")
    finally:
        await node.stop()
    print("5. node stopped cleanly")
    return 0
