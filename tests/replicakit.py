"""Test kit: replicas of one node as operators run them, each `connector serve` in a process of its own, on one
PostgreSQL database, sharing their ports (node.reuse_port)."""

from __future__ import annotations

import asyncio
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

from connector.free_port import free_port

# Short enough that the tests see a replica's work taken over within seconds.
LEASE = 1.5
SWEEP = 5.0


def as_replica(config: str, store_url: str, data_port: int | None = None, lease: float = LEASE) -> str:
    """A node's configuration `config` (as nodekit writes one) for replicas: its store in PostgreSQL, its ports
    shared, its data listener on a fixed port, and info logs (each replica's log shows what it served)."""
    data_port = data_port or free_port()
    text = config.replace("[node]\n", "[node]\nreuse_port = true\n", 1).replace(
        'level = "warning"', 'level = "info"', 1
    )
    if "[data]\n" in text:
        text = text.replace("[data]\n", f'[data]\nlisten = "127.0.0.1:{data_port}"\n', 1)
    else:
        text += f'\n[data]\nlisten = "127.0.0.1:{data_port}"\n'
    return text + f'\n[store]\nurl = "{store_url}"\nreplica_lease = {lease}\nsweep_interval = {SWEEP}\n'


class Serving:
    """`connector serve --config CONFIG` in a process of its own, logging to `log`."""

    def __init__(self, config: Path, log: Path) -> None:
        self.config = config
        self.log = log
        self.proc: subprocess.Popen[bytes] | None = None
        self.replica = ""

    def start(self) -> Serving:
        self.log.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log, "ab") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "connector", "serve", "--config", str(self.config)], stdout=out, stderr=out
            )
        return self

    def text(self) -> str:
        try:
            return self.log.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    async def ready(self, timeout: float = 30.0) -> Serving:
        """Wait for this process's own "node started" line (its ports may be answered by another replica)."""
        deadline = time.monotonic() + timeout
        while True:
            found = re.search(r"node started .*replica=(\S+)", self.text())
            if found:
                self.replica = found.group(1)
                return self
            if self.proc is None or self.proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"the node did not start:\n{self.text()[-3000:]}")
            await asyncio.sleep(0.05)

    def served(self, request: str) -> int:
        """How many requests of `request` ("POST /dsp/...") this process answered (its access log at info)."""
        return len(re.findall(rf"access (?:\[\S+\] )?{re.escape(request)} \d{{3}}", self.text()))

    def kill(self) -> None:
        """SIGKILL: the process has no chance to give anything up."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()

    def stop(self, timeout: float = 30.0) -> int | None:
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode
