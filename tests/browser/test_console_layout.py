"""The console on a phone (390x844) and with the keyboard alone."""

from __future__ import annotations

import pytest
from playwright.sync_api import Browser, Page, expect

from nudge_local.client import LocalClient
from nudge_local.console_seed import Seeded, make_rider
from tests.browser.helpers import TIMEOUT_MS, sign_in

pytestmark = pytest.mark.browser
PAGES = ["campaigns", "configs", "broadcasts", "nps", "sunset"]


def overflow(page: Page) -> int:
    """How far the page is wider than the screen (px): 0 when nothing scrolls sideways."""
    return int(
        page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
    )


def test_every_page_fits_a_phone_and_the_nav_works(
    browser: Browser, api_url: str, seeded: Seeded
) -> None:
    context = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True)
    context.set_default_timeout(TIMEOUT_MS)
    try:
        page = context.new_page()
        sign_in(page, api_url, "marketer")
        for slug in PAGES:
            page.goto(f"{api_url}/console/{slug}")
            assert overflow(page) <= 0, f"/console/{slug} scrolls sideways on a phone"
        page.goto(f"{api_url}/console/campaigns/{seeded.campaigns[0]}")
        assert overflow(page) <= 0, "a campaign's page scrolls sideways on a phone"
        # the nav is there and takes the user to each section
        nav = page.get_by_role("navigation", name="Console sections")
        link = nav.get_by_role("link", name="NPS")
        expect(link).to_be_visible()
        link.click()
        page.wait_for_url(f"{api_url}/console/nps")
        # wide tables scroll inside their own box, not the page
        table = page.locator(".table-wrap").first
        expect(table).to_be_visible()
        box = table.bounding_box()
        assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= 390 + 1
    finally:
        context.close()


def press_tab_until(page: Page, element_id: str, limit: int = 60) -> None:
    for _ in range(limit):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement && document.activeElement.id") == element_id:
            return
    raise AssertionError(f"#{element_id} is not reachable with Tab")


def test_the_main_actions_work_from_the_keyboard(
    page: Page, api_url: str, client: LocalClient
) -> None:
    user = make_rider(client, "keyboard-rider")
    client.drain()
    sign_in(page, api_url, "privacy", path="/console/users")
    press_tab_until(page, "user-id")
    page.keyboard.type(user)
    press_tab_until(page, "lookup")
    page.keyboard.press("Enter")
    page.wait_for_url(f"{api_url}/console/users/{user}*")
    expect(page.get_by_test_id("profile")).to_be_visible()
    press_tab_until(page, "sign-out")
    page.keyboard.press("Enter")
    expect(page.get_by_test_id("signed-out")).to_be_visible()
