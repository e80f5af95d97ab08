"""Shell completion: the shipped scripts are the ones shtab makes from the parser, and bash completes with them."""

import shutil
import subprocess
import sys

import pytest

from connector.cli import completion
from connector.cli.processes import TRANSFER_STATES


@pytest.mark.parametrize("shell", completion.SHELLS)
def test_the_shipped_scripts_match_the_parser(shell):
    shipped = completion.script_path(shell).read_text(encoding="utf-8")
    assert shipped == completion.generate(shell), (
        f"connector/cli/completions/connector.{shell} is stale: run `make completion` after changing the CLI"
    )


@pytest.mark.parametrize("shell", completion.SHELLS)
def test_connector_completion_prints_the_script(shell):
    result = subprocess.run(
        [sys.executable, "-m", "connector", "completion", shell], capture_output=True, text=True, timeout=30
    )
    assert result.returncode == 0 and result.stderr == ""
    assert result.stdout == completion.script_path(shell).read_text(encoding="utf-8")


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
    script = completion.script_path("bash")
    assert _complete(script, "neg") == ["negotiate", "negotiations"]
    assert _complete(script, "assets", "") == ["list", "show", "add", "remove"]
    assert "--reuse" in _complete(script, "fetch", "--re")
    assert _complete(script, "transfers", "--state", "") == list(TRANSFER_STATES)
    (tmp_path / "node.toml").write_text("")
    assert _complete(script, "serve", "--config", str(tmp_path / "no")) == [str(tmp_path / "node.toml")]
