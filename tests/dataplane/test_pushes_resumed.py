"""After a restart the provider sends again the pushes it had STARTED and not completed; the provider's side of the
data plane is made for them only when there is one, so that a node with none (an idle node) never makes it."""

from __future__ import annotations

from types import SimpleNamespace

from store.kit import agreement, negotiation, transfer

from connector.dataplane.data_plane import DataPlane, pushes_to_resume
from connector.dsp.vocabulary import Role, TransferState
from connector.store.sql import processes as sql
from connector.store.sqlite import SqliteStore

PUSH = "HttpData-PUSH"


async def test_only_started_pushes_of_the_provider_are_sent_again_and_the_provider_side_only_for_them(tmp_path):
    store = SqliteStore(tmp_path / "store.sqlite")
    await store.open()
    try:
        plane = object.__new__(DataPlane)  # what resuming needs of a data plane: its store
        plane.store = store
        await plane.resume_pushes()
        assert not plane._made("provider")  # nothing to send again: the provider's side is not made

        await store.run(sql.save_negotiation, negotiation("n1"))
        await store.run(sql.save_agreement, agreement("a1", "n1"))
        for record in (
            transfer("push-started", "a1", format=PUSH, state=TransferState.STARTED),
            transfer("pull-started", "a1", state=TransferState.STARTED),
            transfer("push-requested", "a1", format=PUSH),
            transfer("push-completed", "a1", format=PUSH, state=TransferState.COMPLETED),
            transfer("pushed-to-us", "a1", format=PUSH, state=TransferState.STARTED, role=Role.CONSUMER),
        ):
            await store.run(sql.save_transfer, record)
        assert await store.read(pushes_to_resume) == ["push-started"]

        sent: list[str] = []
        plane.__dict__["provider"] = SimpleNamespace(resume_pushes=sent.extend)  # stands in for the made side
        await plane.resume_pushes()
        assert sent == ["push-started"]
    finally:
        await store.close()
