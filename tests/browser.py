"""Headless Chromium for browser tests: Debian's chromium driven by Playwright.

No browser is downloaded: `make test` installs Debian's `chromium` package when it is
missing and Playwright launches that binary. Import the `browser` fixture into a test
module with `from tests.browser import browser  # noqa: F401`.
"""

from collections.abc import Iterator
from pathlib import Path

import pytest

CHROMIUM_PATH = "/usr/bin/chromium"
SCREENSHOT_DIR = Path(__file__).resolve().parent.parent / "artifacts" / "screenshots"
# This machine's network is closed: without these, Chromium keeps dialling out and
# its refused connections slow every page.
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync"]


# Module scope, not session: while Playwright's sync API lives it keeps an asyncio loop
# running in the main thread, so asyncio tests that run after it fail ("cannot be called
# from a running event loop"), and a second module importing this fixture could not start
# its own Playwright. Closed at the end of each module, it leaves the loop free.
@pytest.fixture(scope="module")
def browser() -> Iterator:
    """One headless Chromium per test module."""
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM_PATH).exists():
        pytest.fail(f"{CHROMIUM_PATH} is missing: run `make test`, which installs it")
    SCREENSHOT_DIR.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM_PATH, headless=True,
                                              args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()
