"""What a node on the TCK profile says when it starts: how it knows its peer, which is not by a certificate (the
profile serves plain HTTP)."""

from __future__ import annotations

import logging

from tck.profile import running_profile


async def test_the_profile_names_what_identifies_its_peer(tmp_path, caplog):
    caplog.set_level(logging.WARNING, logger="connector")
    async with running_profile(tmp_path):
        pass
    said = [r.getMessage() for r in caplog.records if "credentials are not verified" in r.getMessage()]
    assert said == [
        "peers' credentials are not verified (the TCK profile is on): "
        "the TCK's fixed Authorization value names its participant"
    ], said
