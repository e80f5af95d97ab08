"""Shell completion: `connector completion` prints the script shtab makes from the parser, and bash completes with
it."""

import shutil
import subprocess
import sys

import pytest

from connector.cli import completion
from connector.cli.processes import TRANSFER_STATES


@pytest.mark.parametrize("shell", completion.SHELLS)
def test_connector_completion_prints_the_script(shell):
    result = subprocess.run(
        [sys.executable, "-m", "connector", "completion", shell], capture_output=True, text=True, timeout=30
    )
    assert result.returncode == 0 and result.stderr == ""
    assert result.stdout == completion.generate(shell)
    assert "negotiate" in result.stdout and "--config" in result.stdout


def _complete(script, *words: str) -> list[str]:
    """What bash offers for the last of `words` after `connector`, with the shipped script loaded."""
    quoted = " ".join(f"'{w}'" for w in ("connector", *words))
    program = f"source '{script}'; COMP_WORDS=({quoted}); COMP_CWORD={len(words)}; _shtab_connector; "
    program += 'printf "%s\\n" "${COMPREPLY[@]}"'
    result = subprocess.run(["bash", "-c", program], capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stderr
    return result.stdout.split()


@pytest.mark.skipif(shutil.which("bash") is None, reason="bash is not installed")
def test_bash_completes_commands_options_and_states(tmp_path):
    script = tmp_path / "connector.bash"
    script.write_text(completion.generate("bash"), encoding="utf-8")
    assert _complete(script, "neg") == ["negotiate", "negotiations"]
    assert _complete(script, "assets", "") == ["list", "show", "add", "remove"]
    assert "--reuse" in _complete(script, "fetch", "--re")
    assert _complete(script, "transfers", "--state", "") == list(TRANSFER_STATES)
    (tmp_path / "node.toml").write_text("")
    assert _complete(script, "serve", "--config", str(tmp_path / "no")) == [str(tmp_path / "node.toml")]
