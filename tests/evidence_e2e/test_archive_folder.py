"""The evidence archive folder as configured (evidence.archive_dir): a folder the node cannot write to refuses the
archive with a reason that names it, and nothing leaves the live log."""

from __future__ import annotations

from nodekit import Management, make_participant, running_node, write_config


async def test_an_archive_folder_the_node_cannot_write_refuses_the_archive_and_keeps_the_log(authority, tmp_path):
    provider = make_participant(authority, tmp_path, "provider")
    blocked = tmp_path / "a-file"
    blocked.write_text("a file where the archive folder's parent should be")
    config = write_config(provider, tmp_path, extra=f'\n[evidence]\narchive_dir = "{blocked / "archives"}"\n')
    m = Management(provider)
    async with running_node(config):
        await m.offer("weather")
        await m.call("POST", "/v1/evidence/checkpoints", {}, None)
        before = await m.call("POST", "/v1/evidence/check", {}, 200)
        refused = await m.call("POST", "/v1/evidence/archives", {"olderThanDays": 0}, 503)
        assert refused["code"] == "evidence.archive_unwritable", refused
        assert str(blocked / "archives") in refused["detail"], refused
        assert refused["where"] == "evidence.archive_dir", refused
        assert (await m.call("GET", "/v1/evidence/archives", None, 200))["items"] == []
        after = await m.call("POST", "/v1/evidence/check", {}, 200)
        assert after["ok"] and after["archives"] == 0 and after["records"] >= before["records"], after
