"""A node run as operators run it (`connector serve`): ready, alone on its ports and its data folder, stopped by
SIGTERM with status 0; its configuration named by --config or $CONNECTOR_CONFIG."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

from cli.kit import assert_one_line_error, run
from nodekit import Participant, free_port, make_participant, write_config


@dataclass
class Stopped:
    """How the node ended once SIGTERM was sent (filled in when `serving` is left)."""

    returncode: int | None = None
    stderr: str = ""


@contextlib.contextmanager
def serving(participant: Participant, *args: str, env: Mapping[str, str] | None = None) -> Iterator[Stopped]:
    """`connector serve` in a process of its own, until its management listener reports it ready; SIGTERM at the
    end."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "connector", "serve", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    stopped = Stopped()
    try:
        deadline = time.time() + 20
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{participant.management_port}/check/readiness") as r:
                    assert r.status == 200
                    break
            except OSError:
                if time.time() > deadline or proc.poll() is not None:
                    raise AssertionError(
                        "the node did not start: " + (proc.stderr.read() if proc.poll() is not None else "no answer")
                    ) from None
                time.sleep(0.1)
        yield stopped
    finally:
        proc.send_signal(signal.SIGTERM)
        _, stopped.stderr = proc.communicate(timeout=20)
        stopped.returncode = proc.returncode


def test_serve_runs_until_sigterm_and_refuses_a_port_in_use(authority, tmp_path):
    p = make_participant(authority, tmp_path, "org-a")
    path = write_config(p, tmp_path)
    with serving(p, "--config", str(path)) as node:
        # A second node on the same ports: refused in one line naming the key.
        clash = tmp_path / "clash.toml"
        clash.write_text(path.read_text().replace("var-org-a", "var-clash"))
        assert_one_line_error(run("serve", "--config", str(clash)), "already in use", "protocol.listen")
        # A second node on the same data folder: refused too.
        same_dir = tmp_path / "samedir.toml"
        text = path.read_text().replace(f"127.0.0.1:{p.protocol_port}", f"127.0.0.1:{free_port()}")
        same_dir.write_text(text.replace(f"127.0.0.1:{p.management_port}", f"127.0.0.1:{free_port()}"))
        assert_one_line_error(run("serve", "--config", str(same_dir)), "already running", "node.data_dir")
    assert node.returncode == 0, node.stderr
    assert "Traceback" not in node.stderr


def test_serve_takes_its_configuration_from_the_environment(authority, tmp_path):
    p = make_participant(authority, tmp_path, "org-a")
    path = write_config(p, tmp_path)
    env = {**os.environ, "CONNECTOR_CONFIG": str(tmp_path / "missing.toml")}
    assert "missing.toml" in run("serve", env=env).stderr
    env["CONNECTOR_CONFIG"] = str(path)
    with serving(p, env=env) as node:
        pass
    assert node.returncode == 0
