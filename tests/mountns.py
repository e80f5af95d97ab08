"""Small file systems that fill up, for tests of what a node does on a full disk: a tmpfs mounted in a mount
namespace of a command's own (`unshare -m`), so nothing of the machine changes and it goes with the command."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import subprocess
import sys
import urllib.request
from collections.abc import AsyncIterator
from pathlib import Path


def available() -> bool:
    """Whether this test run may make mount namespaces (root, with util-linux's unshare)."""
    if os.geteuid() != 0 or shutil.which("unshare") is None or shutil.which("nsenter") is None:
        return False
    probe = subprocess.run(["unshare", "-m", "--propagation", "private", "true"], capture_output=True)
    return probe.returncode == 0


def in_small_disk(folder: os.PathLike[str] | str, size: str, command: str) -> list[str]:
    """The argv that runs shell `command` with a tmpfs of `size` (`2m`) mounted on `folder`, in a mount namespace of
    its own (the shell's process id is the namespace's: `grow` reaches it with nsenter)."""
    mount = f'mount -t tmpfs -o size={size} connector-test "{folder}" || exit 97'
    return ["unshare", "-m", "--propagation", "private", "sh", "-c", f"{mount}\n{command}"]


def grow(pid: int, folder: os.PathLike[str] | str, size: str) -> None:
    """Give the tmpfs on `folder` in the namespace of process `pid` more room."""
    subprocess.run(["nsenter", "-t", str(pid), "-m", "mount", "-o", f"remount,size={size}", str(folder)], check=True)


@contextlib.asynccontextmanager
async def serving(config: Path, disk: Path, size: str, port: int, log: Path) -> AsyncIterator[subprocess.Popen[bytes]]:
    """`connector serve --config config` as operators run it, its data folder `disk` a tmpfs of `size` in a mount
    namespace of its own, its output in `log`: yields its process (whose id reaches the namespace, for `grow` and
    nsenter) once its management listener on `port` says it is ready, and ends it after."""
    serve = f'exec "{sys.executable}" -m connector serve --config "{config}"'
    with open(log, "wb") as out:
        node = subprocess.Popen(in_small_disk(disk, size, serve), stdout=out, stderr=out)
        try:
            deadline = asyncio.get_running_loop().time() + 30
            while not await asyncio.to_thread(_ready, port):
                assert node.poll() is None and asyncio.get_running_loop().time() < deadline, log.read_text()[-3000:]
                await asyncio.sleep(0.1)
            yield node
        finally:
            node.terminate()
            node.wait(30)


def _ready(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/check/readiness", timeout=2) as answer:
            return bool(answer.status == 200)
    except OSError:
        return False
