"""The console in a real browser: one local stack (started as `make up` does) seeded with a
little data through the real APIs, Debian's Chromium driven by Playwright, a fresh browser
context (its own cookies) per test, and `sign_in` through the dev OIDC provider's page."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect, sync_playwright

from nudge_local import process
from nudge_local.client import LocalClient
from nudge_local.console_seed import Seeded, seed
from tests.browser.helpers import TIMEOUT_MS, launch

expect.set_options(timeout=TIMEOUT_MS)  # assertions wait as long as page loads may take


@pytest.fixture(scope="session")
def stack_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    state_dir = tmp_path_factory.mktemp("nudge-console")
    process.up(state_dir)
    try:
        yield state_dir
    finally:
        process.down(state_dir)


@pytest.fixture(scope="session")
def client(stack_dir: Path) -> LocalClient:
    return LocalClient.from_state_dir(stack_dir)


@pytest.fixture(scope="session")
def seeded(client: LocalClient) -> Seeded:
    return seed(client)


@pytest.fixture(scope="session")
def api_url(client: LocalClient, seeded: Seeded) -> str:
    return client.api_url


# Per module, not per session: between its calls Playwright's sync API leaves its asyncio loop
# marked as running in this thread, so asyncio.run() in any other test that xdist runs on this
# worker would fail while a browser is up. pytest ends a module's fixtures before the next
# module's test starts.
@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        chromium = launch(playwright)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def context(browser: Browser) -> Iterator[BrowserContext]:
    ctx = browser.new_context(viewport={"width": 1280, "height": 900})
    ctx.set_default_timeout(TIMEOUT_MS)
    try:
        yield ctx
    finally:
        ctx.close()


@pytest.fixture
def page(context: BrowserContext) -> Page:
    return context.new_page()
