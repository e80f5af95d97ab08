"""`connector demo story --wait`: nodes still without their credentials when the wait ends are named before the
story runs (containers that never came up would otherwise show only as failed steps)."""

import asyncio

from connector.cli.demo import _wait_for_nodes
from connector.demo import workspace


def test_nodes_that_never_answer_are_named_when_the_wait_ends(tmp_path, capsys):
    ws = workspace.Workspace(tmp_path, workspace.describe("local", workspace.places("local")))  # nothing listens
    asyncio.run(_wait_for_nodes(ws, 0.2))
    said = capsys.readouterr().err
    for org in ws.data["organisations"]:
        assert f"{org['name']}'s node does not hold its credentials after 0.2 s" in said


def test_a_story_without_a_workspace_is_a_mistake_not_twelve_failed_steps(tmp_path):
    from cli.kit import assert_one_line_error, run

    empty = tmp_path / "nothing-here"
    for profile in ("local", "hosts"):
        result = run("demo", "story", "--workdir", str(empty), "--profile", profile)
        assert_one_line_error(result, "no demo workspace", "[--workdir]")
        assert result.stdout == ""
    assert not empty.exists()
