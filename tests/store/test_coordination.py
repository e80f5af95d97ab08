"""The bookkeeping of one process's claims (`Holdings`), whatever store decides them: blocks of one process nest on
one claim, blocks opening together ask once, and a process taken for dead gives up nothing it no longer holds."""

from __future__ import annotations

import asyncio

from connector.store.coordination import Holdings, split_name, work_name


class Decider:
    """Grants what `granted` names, after a moment; records what was asked and given up."""

    def __init__(self, granted: set[str]) -> None:
        self.granted = granted
        self.asked: list[tuple[str, bool]] = []
        self.released: list[str] = []

    async def claim(self, name: str, announce: bool) -> bool:
        self.asked.append((name, announce))
        await asyncio.sleep(0.01)
        return name in self.granted

    async def release(self, name: str) -> None:
        self.released.append(name)


async def test_blocks_of_one_process_share_one_claim_given_up_when_the_last_ends():
    decider = Decider({"negotiation:n1"})
    holdings = Holdings(decider.claim, decider.release)
    async with holdings.hold("negotiation:n1") as first:
        async with holdings.hold("negotiation:n1", announce=False) as second:
            assert first and second and "negotiation:n1" in holdings
        assert decider.released == []
    assert decider.asked == [("negotiation:n1", True)] and decider.released == ["negotiation:n1"]
    assert "negotiation:n1" not in holdings


async def test_blocks_opening_together_ask_once_and_share_the_answer():
    decider = Decider({"transfer:t1"})
    holdings = Holdings(decider.claim, decider.release)
    answers: list[bool] = []

    async def block(name: str) -> None:
        async with holdings.hold(name) as held:
            answers.append(held)
            await asyncio.sleep(0.02)

    await asyncio.gather(*(block("transfer:t1") for _ in range(3)), *(block("transfer:t2") for _ in range(2)))
    assert sorted(answers) == [False, False, True, True, True]
    assert sorted(decider.asked) == [("transfer:t1", True), ("transfer:t2", True)]
    assert decider.released == ["transfer:t1"]  # what was refused is not given up


async def test_claims_lost_are_forgotten_and_not_given_up_by_the_blocks_that_held_them():
    decider = Decider({"push:t1"})
    holdings = Holdings(decider.claim, decider.release)
    async with holdings.hold("push:t1") as held:
        assert held
        holdings.lost()  # the process was taken for dead: another replica may hold it now
        assert "push:t1" not in holdings
    assert decider.released == []
    async with holdings.hold("push:t1") as again:  # claimed anew, given up anew
        assert again
    assert decider.released == ["push:t1"]


def test_work_is_named_by_kind_and_id():
    name = work_name("negotiation", "urn:uuid:a:b")
    assert name == "negotiation:urn:uuid:a:b" and split_name(name) == ("negotiation", "urn:uuid:a:b")
