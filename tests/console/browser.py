"""Driving the console in a real headless Chromium (Debian's `chromium` and `chromium-driver`, through selenium).

When the browser or its driver is missing the tests cannot run: locally they are skipped with the reason, in CI
(`CI=true`) they fail, so that a green build always means the console was driven in a browser.
"""

from __future__ import annotations

import base64
import hashlib
import os
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization

from connector import keys

BROWSERS = ("chromium", "chromium-browser", "google-chrome")
DRIVERS = ("chromedriver",)
WIDTH = 1366  # a laptop screen
HEIGHT = 860
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "console"


def _found(names: tuple[str, ...], extra: tuple[str, ...] = ()) -> str | None:
    for name in names:
        path = shutil.which(name)
        if path:
            return path
    return next((p for p in extra if Path(p).is_file()), None)


def missing() -> str | None:
    """Why the browser tests cannot run here, or None."""
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium is not installed (pip install -e '.[test]')"
    if _found(BROWSERS) is None:
        return "no Chromium: install Debian's chromium and chromium-driver (apt-get install chromium chromium-driver)"
    if _found(DRIVERS, ("/usr/lib/chromium/chromedriver",)) is None:
        return "no chromedriver: install Debian's chromium-driver (apt-get install chromium-driver)"
    return None


def spki_pin(cert_path: Path) -> str:
    """The base64 SHA-256 of a certificate's public key, as Chromium's certificate pin list takes it."""
    spki = (
        keys.load_certificate(cert_path)
        .public_key()
        .public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    return base64.b64encode(hashlib.sha256(spki).digest()).decode("ascii")


def start_browser(downloads: Path, trusted: list[Path]) -> Any:
    """Headless Chromium at a laptop's size, trusting exactly the certificates `trusted` (pinned by key), saving
    downloads into `downloads`."""
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    options = Options()
    options.binary_location = _found(BROWSERS) or ""
    for argument in (
        "--headless=new",
        "--no-sandbox",  # CI runs as root
        "--disable-dev-shm-usage",
        "--disable-gpu",
        f"--window-size={WIDTH},{HEIGHT}",
        "--lang=en-GB",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--ignore-certificate-errors-spki-list=" + ",".join(spki_pin(p) for p in trusted),
    ):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})  # the page's console, for its errors
    options.add_experimental_option(
        "prefs", {"download.default_directory": str(downloads), "download.prompt_for_download": False}
    )
    service = Service(_found(DRIVERS, ("/usr/lib/chromium/chromedriver",)) or "")
    driver = webdriver.Chrome(service=service, options=options)
    driver.execute_cdp_cmd("Browser.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(downloads)})
    driver.set_page_load_timeout(30)
    return driver


# What every console page must hold for people using a screen reader or the keyboard: a language, one first-level
# heading, a label for every form control, an accessible name for every button and link.
ACCESSIBILITY = """
const problems = [];
if (!document.documentElement.lang) problems.push("no lang on <html>");
const h1 = document.querySelectorAll("h1").length;
if (h1 !== 1) problems.push(h1 + " <h1> elements");
for (const c of document.querySelectorAll("input:not([type=hidden]), select, textarea")) {
  if (!(c.labels && c.labels.length) && !c.getAttribute("aria-label")) problems.push("unlabelled " + c.outerHTML);
}
for (const e of document.querySelectorAll("button, a[href]")) {
  if (!e.textContent.trim() && !e.getAttribute("aria-label")) problems.push("nameless " + e.outerHTML);
}
return problems;
"""


def shoot(driver: Any, name: str, check: bool = True) -> Path:
    """A screenshot of the whole page (as tall as its content, at the laptop's width) into test-artifacts; the
    page's accessibility basics are checked first (`check`; not on pages rendered by others' code)."""
    if check:
        problems = driver.execute_script(ACCESSIBILITY)
        assert not problems, f"{name}: {problems}"
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    height = driver.execute_script("return document.documentElement.scrollHeight")
    driver.set_window_size(WIDTH, max(HEIGHT, min(int(height) + 100, 5000)))
    path = ARTIFACTS / f"{name}.png"
    driver.save_screenshot(str(path))
    driver.set_window_size(WIDTH, HEIGHT)
    return path


def until(condition: Callable[[], Any], timeout: float = 30.0, what: str = "the page") -> Any:
    """Poll `condition` until it returns something true (reloads belong in the condition)."""
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        try:
            value = condition()
            if value:
                return value
        except Exception as exc:  # the element is not there yet
            last = exc
        time.sleep(0.25)
    raise AssertionError(f"{what} did not come in {timeout} s" + (f" (last: {last})" if last else ""))


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() == "true"
