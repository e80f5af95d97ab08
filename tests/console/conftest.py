"""Fixtures of the console's tests: the data space running in a thread of its own (the browser is driven from the
test's thread, synchronously), and the browser."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from concurrent.futures import Future
from pathlib import Path
from typing import Any

import pytest
from console import browser
from console.kit import Dataspace, dataspace

NOT_RUN: list[str] = []


class Background:
    """An event loop in a thread, running the data space until the fixture ends; `run` submits coroutines."""

    def __init__(self, root: Path) -> None:
        self.loop = asyncio.new_event_loop()
        self.ready: Future[Dataspace] = Future()
        self.stop: asyncio.Event | None = None
        self.thread = threading.Thread(target=self.loop.run_until_complete, args=(self._main(root),), daemon=True)

    async def _main(self, root: Path) -> None:
        self.stop = asyncio.Event()
        try:
            async with dataspace(root) as space:
                self.ready.set_result(space)
                await self.stop.wait()
        except BaseException as exc:
            if not self.ready.done():
                self.ready.set_exception(exc)
            raise

    def __enter__(self) -> Background:
        self.thread.start()
        return self

    def space(self) -> Dataspace:
        return self.ready.result(timeout=120)

    def run(self, coro: Any, timeout: float = 60) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def __exit__(self, *exc: Any) -> None:
        if self.stop is not None:
            self.loop.call_soon_threadsafe(self.stop.set)
        self.thread.join(timeout=60)


@pytest.fixture(scope="module")
def background(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Background]:
    with Background(tmp_path_factory.mktemp("console")) as running:
        running.space()
        yield running


@pytest.fixture(scope="module")
def space(background: Background) -> Dataspace:
    return background.space()


@pytest.fixture(scope="module")
def chromium() -> None:
    """Chromium and its driver are here, or the tests say why not: skipped locally, failed in CI."""
    why = browser.missing()
    if why is not None:
        NOT_RUN.append(why)
        if browser.in_ci():
            pytest.fail(f"the console's browser tests cannot run in CI: {why}", pytrace=False)
        pytest.skip(f"the console's browser tests cannot run: {why}")


@pytest.fixture(scope="module")
def driver(chromium: None, space: Dataspace, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    downloads = tmp_path_factory.mktemp("downloads")
    chrome = browser.start_browser(downloads, [space.consumer.tls_cert])
    chrome.downloads = downloads
    try:
        yield chrome
    finally:
        chrome.quit()


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if NOT_RUN:
        terminalreporter.write_sep("!", "the web console's browser tests did NOT run", red=True, bold=True)
        terminalreporter.write_line(f"reason: {NOT_RUN[0]}")
