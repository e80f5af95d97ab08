"""The TCK's scenarios as data, and the one runner that plays them against the node.

A scenario is named as the TCK names it ("CN_C:01-03") and takes its ids (dataset, offer, agreement) from the
TCK's sample configuration (sample_ids.py), as a TCK run with it would. Its steps are the TCK's, in its order:

- `Expect(kind)`: the TCK registers its handler for the node's next message of `kind`, where the TCK registers it
  (for some scenarios only after the step that triggers the message);
- `Send(message)`: the TCK sends its message, or asks the node through its webhook to start (`Send("initiate")`);
  with `refused=True` the node must refuse it with a DSP error;
- `Wait(state)`: thenWaitForState: the expected message (if one is registered) arrived, and the TCK's own view of
  the process is in `state`;
- `Verify(state)`: GET-P / GET-C: the node reports the process in `state`;
- `Lacks(key)`: the message that arrived last carries no `key`.

After the last step the TCK must have received nothing more for the process.
"""

from __future__ import annotations

from collections.abc import Awaitable, Iterator
from dataclasses import dataclass
from typing import Any

from tck import tck_messages as msg
from tck.fake_tck import Expectation, Received
from tck.pipeline import NegotiationWithConsumer, NegotiationWithProvider, TransferWithConsumer, TransferWithProvider
from tck.sample_ids import SAMPLE_IDS


@dataclass(frozen=True)
class Expect:
    kind: str


@dataclass(frozen=True)
class Send:
    message: str  # initiate, request, offer, counter-offer, accept, agreement, verification, finalized, start, ...
    refused: bool = False
    pull_address: bool = False  # a start message carrying the TCK's (unreachable) pull address


@dataclass(frozen=True)
class Wait:
    state: str


@dataclass(frozen=True)
class Verify:
    state: str


@dataclass(frozen=True)
class Lacks:
    key: str


Step = Expect | Send | Wait | Verify | Lacks
Run = NegotiationWithProvider | NegotiationWithConsumer | TransferWithProvider | TransferWithConsumer


@dataclass(frozen=True)
class Scenario:
    id: str  # as the TCK names it: "CN:01-04", "TP_C:03-06"
    title: str  # what happens, in words
    steps: tuple[Step, ...]

    def __str__(self) -> str:
        return self.id

    def sample(self, what: str) -> str:
        """The id the TCK's sample configuration gives this scenario: sample("DATASETID") of CN:01-04 is ACN0104."""
        return SAMPLE_IDS[f"{self.id.replace(':', '_').replace('-', '_')}_{what}"]


Moves = Step | tuple["Moves", ...]


def scenario(id: str, title: str, *moves: Moves) -> Scenario:
    """A scenario written as the TCK's moves: a step, or the steps of one move (expect, send, wait) together, or
    a named run of moves that several scenarios share."""
    return Scenario(id, title, tuple(_steps(moves)))


def _steps(moves: Moves) -> Iterator[Step]:
    if isinstance(moves, tuple):
        for move in moves:
            yield from _steps(move)
    else:
        yield moves


async def play(run: Run, scenario: Scenario) -> None:
    """Take the scenario's steps against the node, then check that the node sent nothing more."""
    expected: Expectation | None = None
    received: Received | None = None
    for number, step in enumerate(scenario.steps, 1):
        try:
            match step:
                case Expect(kind):
                    assert expected is None, "the table registers a second handler before waiting for the first"
                    expected = run.expect(kind)
                case Send():
                    await _send(run, scenario, step)
                case Wait(state):
                    received = await run.wait_for_state(expected, state)
                    expected = None
                case Verify(state):
                    if isinstance(run, NegotiationWithProvider | TransferWithProvider):
                        await run.verify_provider_state(state)
                    else:
                        await run.verify_consumer_state(state)
                case Lacks(key):
                    assert received is not None, "no message arrived"
                    assert key not in received.body, f"the node's {received.kind} carries {key}"
        except AssertionError as failure:
            failure.add_note(f"{scenario.id}, step {number} of {len(scenario.steps)}: {step}")
            raise
    assert expected is None, f"{scenario.id}: the table registers a handler it never waits for"
    run.finish()


def _send(run: Run, scenario: Scenario, step: Send) -> Awaitable[Any]:
    refused = step.refused
    assert not (refused and step.message in ("initiate", "request", "accept")), f"{step} cannot be refused here"
    assert step.message == "start" or not step.pull_address, f"{step}: only a start message carries an address"
    match step.message, run:
        case "initiate", NegotiationWithConsumer() | TransferWithConsumer():
            return run.initiate()
        case "request", NegotiationWithProvider() | TransferWithProvider():
            return run.send_request()
        case "accept", NegotiationWithProvider():
            return run.accept_last_offer()
        case "counter-offer", NegotiationWithProvider():
            return run.send_counter_offer(scenario.sample("OFFERID"), scenario.sample("DATASETID"), refused)
        case "start", TransferWithProvider() | TransferWithConsumer():
            return run.send_start(msg.pull_data_address() if step.pull_address else None, expect_error=refused)
        case _:
            return getattr(run, f"send_{step.message}")(expect_error=refused)
