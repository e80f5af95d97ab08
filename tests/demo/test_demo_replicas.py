"""The demo's story with Tokyo's node run as two replicas (two `connector serve` processes with the same
configuration, on one PostgreSQL database, sharing their ports with SO_REUSEPORT): it is told unchanged, and one
replica killed between two steps loses nothing."""

from __future__ import annotations

import asyncio
import re
import signal
import time

import psycopg
from replicakit import LEASE

from connector.demo import workspace
from connector.demo.processes import DataSpace, Service
from connector.demo.story import Console, Story, summary

TOKYO = "tokyo-mobility"


def _rows(url: str, sql: str) -> list[tuple]:
    with psycopg.connect(url) as conn:
        return conn.execute(sql).fetchall()  # type: ignore[arg-type]


async def _registered(url: str, replicas: list[Service], timeout: float = 30.0) -> None:
    """Wait until each replica is registered. Their readiness says little: they share their ports, so the probe
    of the second may be answered by the first."""
    deadline = time.monotonic() + timeout
    while _rows(url, "SELECT count(*) FROM replicas") != [(len(replicas),)]:
        if time.monotonic() > deadline or not all(r.running() for r in replicas):
            logs = "\n".join(f"--- {r.name} (running: {r.running()})\n{r.last_lines(30)}" for r in replicas)
            raise AssertionError(f"not {len(replicas)} replicas: {_rows(url, 'SELECT id FROM replicas')}\n{logs}")
        await asyncio.sleep(0.1)


def test_two_replicas_of_tokyo_serve_the_demo_story_and_one_killed_loses_nothing(tmp_path, postgres_url):
    ws = workspace.create(tmp_path / "ws", "local")
    config = ws.path(ws.organisation(TOKYO)["config"])
    text = config.read_text().replace("[node]\n", "[node]\nreuse_port = true\n", 1)
    config.write_text(text + f'\n[store]\nurl = "{postgres_url}"\nreplica_lease = {LEASE}\n')
    space = DataSpace.of(ws)
    [first] = [s for s in space.services if s.name == TOKYO]
    second = Service(f"{TOKYO}-2", first.command, first.ready_url, ws.path(f"logs/{TOKYO}-2.log"))
    space.services.append(second)
    lines: list[str] = []

    def write(line: str) -> None:
        lines.append(line)
        if line.startswith("[4]"):  # between two steps: Tokyo's first replica dies, the story goes on
            assert first.process is not None
            first.process.send_signal(signal.SIGKILL)
            first.process.wait()

    async def story() -> bool:
        await space.start()
        await _registered(postgres_url, [first, second])
        outcomes = await Story(ws, Console(write=write, colour=False)).run()
        return summary(outcomes, Console(write=lines.append, colour=False), 0.0)

    try:
        passed = asyncio.run(story())
        assert passed, "\n".join(lines)
        assert first.process is not None and first.process.returncode == -signal.SIGKILL
        # The survivor served the other organisations (DSP, data). Which replica a new connection reaches is the
        # kernel's choice (SO_REUSEPORT hashes each connection), so the killed one may have served none of them
        # before it died; tests/store_e2e/test_replicas.py kills replicas with work in hand.
        assert re.search(r" access .* peer=did:web:\S+(berlin|lyon)", second.log.read_text()), second.name
        for state in ("REQUESTED -> AGREED -> VERIFIED -> FINALIZED", "countryOfEstablishment", "count lteq 2"):
            assert state in "\n".join(lines), state
        assert second.running()
    finally:
        space.stop()
    # Everything Tokyo took part in ended, on the surviving replica or the one that took the dead one's work over.
    # (the killed replica's registration was removed by the survivor, which gave its own up when it stopped)
    assert _rows(postgres_url, "SELECT count(*) FROM replicas") == [(0,)]
    states = _rows(postgres_url, "SELECT state FROM negotiations UNION ALL SELECT state FROM transfers")
    assert states and {state for (state,) in states} <= {"FINALIZED", "TERMINATED", "COMPLETED"}, states
    assert _rows(postgres_url, "SELECT count(*) FROM outbox") == [(0,)]
