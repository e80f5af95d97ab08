"""The README's by-hand steps, run as written: the key material they create lands in work/ (an ignored folder),
nowhere else, and the example configurations accept it (`connector config check`)."""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def _by_hand_commands() -> list[list[str]]:
    readme = (REPO / "README.md").read_text()
    section = readme.split("## Run two nodes by hand", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```sh\n(.*?)```", section, re.S)
    lines = "\n".join(blocks).replace("\\\n", " ").splitlines()
    return [shlex.split(line, comments=True) for line in lines if line.strip().startswith("connector ")]


def test_the_by_hand_steps_write_into_work_only_and_the_configurations_accept_them(tmp_path):
    commands = _by_hand_commands()
    assert len(commands) > 15, commands
    # Every path a by-hand command writes is below work/.
    for args in commands:
        for flag in ("--dir", "--out", "--authority", "--trust-list"):
            if flag in args:
                value = args[args.index(flag) + 1]
                assert value.startswith("work/"), (flag, value, args)

    shutil.copytree(REPO / "config", tmp_path / "config")
    before = set(p.name for p in tmp_path.iterdir())
    # The steps that need no running service; the enrolment over the network is done as its file form (the
    # authority signs the participant's requests), which gives the same certificates.
    pki = [args for args in commands if args[1] == "pki" and args[2] not in ("revoke", "enrol")]
    assert [a[2] for a in pki] == ["init-authority", "request", "request", "onboard", "onboard", "trust-list"]
    enrolled = [args for args in commands if args[1:3] == ["pki", "enrol"]]
    assert len(enrolled) == 2
    for args in enrolled:
        identity = args[args.index("--identity") + 1]
        assert identity.startswith("work/"), args
        pki.append(
            ["connector", "pki", "issue", "--authority", "work/certs/authority"]
            + ["--csr", f"{identity}/tls.csr.pem", "--csr", f"{identity}/signing.csr.pem", "--out", identity]
        )
    for args in pki:
        result = subprocess.run(
            [sys.executable, "-m", "connector", *args[1:]], cwd=tmp_path, capture_output=True, text=True, timeout=60
        )
        assert result.returncode == 0, (args, result.stderr)
    assert set(p.name for p in tmp_path.iterdir()) - before == {"work"}
    for config in ("config/org-a.toml", "config/org-b.toml"):
        result = subprocess.run(
            [sys.executable, "-m", "connector", "config", "check", "--config", config],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.returncode == 0, (config, result.stdout, result.stderr)
