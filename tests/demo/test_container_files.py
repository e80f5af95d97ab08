"""The container image's build files, read structurally: a health check that runs the node's own probe, the
ports its listeners use exposed, dependencies installed only as the lock pins them (with hashes), an image tag
that is the package's version (never `latest`); and the folders by-hand work and demos leave are ignored and
cleaned."""

from __future__ import annotations

import re
import shlex
import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from ruamel.yaml import YAML

from connector.demo.workspace import PORTS

REPO = Path(__file__).resolve().parents[2]


def _instructions(dockerfile: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of each instruction, continuation lines joined, comments dropped."""
    joined = re.sub(
        r"\\\n", " ", "\n".join(line for line in dockerfile.splitlines() if not line.lstrip().startswith("#"))
    )
    out = []
    for line in joined.splitlines():
        if line.strip():
            word, _, rest = line.strip().partition(" ")
            out.append((word.upper(), " ".join(rest.split())))
    return out


def _final_stage(instructions: list[tuple[str, str]]) -> list[tuple[str, str]]:
    starts = [i for i, (word, _) in enumerate(instructions) if word == "FROM"]
    return instructions[starts[-1] :]


def _version() -> str:
    return tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["version"]


def test_the_image_exposes_the_listeners_and_checks_the_nodes_health():
    final = _final_stage(_instructions((REPO / "Dockerfile").read_text()))
    exposed = {int(p) for word, args in final if word == "EXPOSE" for p in args.split()}
    assert exposed == set(PORTS.values()), exposed
    checks = [args for word, args in final if word == "HEALTHCHECK"]
    assert len(checks) == 1, checks
    options, _, command = checks[0].partition("CMD ")
    assert "--interval=" in options and "--timeout=" in options and "--start-period=" in options
    assert "connector health --quiet" in command and "CONNECTOR_CONFIG" in command, command
    # The command it runs exists (and answers as tests/cli/test_health.py shows).
    from connector.cli.main import build_parser

    assert build_parser().parse_args(["health", "--quiet", "--config", "x.toml"]).func.__name__ == "cmd_health"


def test_dependencies_are_installed_only_as_the_lock_pins_them():
    runs = " ".join(args for word, args in _instructions((REPO / "Dockerfile").read_text()) if word == "RUN")
    installs = re.findall(r"pip install ([^;&|]*)", runs)
    assert installs, runs
    for install in installs:
        args = shlex.split(install)
        assert ("--require-hashes" in args and "/src/requirements.lock" in args) or "--no-deps" in args, install
    assert sum("--require-hashes" in i for i in installs) == 2 and sum("--no-deps" in i for i in installs) == 2

    lock = (REPO / "requirements.lock").read_text()
    entries = re.findall(
        r"^([A-Za-z0-9_.\-]+)==([^\s;]+)[^\n]*((?:\n\s+--hash=sha256:[0-9a-f]{64}[^\n]*)+)", lock, re.M
    )
    pinned = {canonicalize_name(name): version for name, version, _ in entries}
    requirement_lines = [line for line in lock.splitlines() if re.match(r"^[A-Za-z0-9]", line)]
    assert len(requirement_lines) == len(entries), "every requirement is pinned with == and has hashes"
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    for spec in project["dependencies"]:
        requirement = Requirement(spec)
        name = canonicalize_name(requirement.name)
        assert name in pinned, f"{name} is a dependency but not in requirements.lock (run `make lock`)"
        assert requirement.specifier.contains(pinned[name], prereleases=True), (spec, pinned[name])
    assert "prometheus-client" in pinned


def test_the_image_tag_is_the_package_version_everywhere():
    version = _version()
    compose = YAML(typ="safe").load((REPO / "docker-compose.yml").read_text())
    image = compose["x-connector"]["image"]
    assert image == f"${{CONNECTOR_IMAGE:-localhost/connector:{version}}}", image
    services = compose["services"]
    assert all(s.get("image", image) == image for s in services.values())
    for path in ("docker-compose.yml", "Dockerfile", "scripts/podman-demo.sh", "README.md"):
        assert not re.search(r"connector:latest", (REPO / path).read_text()), path
    script = (REPO / "scripts/podman-demo.sh").read_text()
    assert re.search(r"^image=localhost/connector:\$version$", script, re.M)
    assert "pyproject.toml" in script.split("image=localhost/connector:$version")[0].splitlines()[-1]


def test_by_hand_work_and_demo_workspaces_are_ignored_and_cleaned():
    ignored = (REPO / ".gitignore").read_text().splitlines()
    assert "/work/" in ignored and "/demo-*/" in ignored
    assert "work" in (REPO / ".dockerignore").read_text().splitlines()
    makefile = (REPO / "Makefile").read_text()
    clean = makefile.split("\nclean:\n", 1)[1].split("\n\n", 1)[0]
    removed = {word for line in clean.splitlines() for word in shlex.split(line.strip())[2:]}
    assert {"demo-*/", "work/", "certs/", "var/"} <= removed, removed
    for config in ("org-a.toml", "org-b.toml"):
        text = (REPO / "config" / config).read_text()
        paths = re.findall(r'"(\.\./[^"]+)"', text)
        assert paths and all(p.startswith("../work/") for p in paths), paths
