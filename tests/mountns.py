"""Small file systems that fill up, for tests of what a node does on a full disk: a tmpfs mounted in a mount
namespace of a command's own (`unshare -m`), so nothing of the machine changes and it goes with the command."""

from __future__ import annotations

import os
import shutil
import subprocess


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
