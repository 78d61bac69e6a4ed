"""Signing in and out of the console in Chromium, the session across a reload, and CSRF."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from nudge_local.client import LocalClient
from nudge_local.console_seed import Seeded
from tests.browser.helpers import admin, sign_in

pytestmark = pytest.mark.browser


def test_the_console_address_leads_to_sign_in_then_the_campaigns(page: Page, api_url: str) -> None:
    """The address `make demo KEEP=1` and the stack's outputs print."""
    sign_in(page, api_url, "viewer", path="/console")
    assert page.url == f"{api_url}/console/campaigns", page.url


@pytest.mark.parametrize("role", ["viewer", "marketer", "privacy"])
def test_each_role_signs_in_and_sees_its_role(page: Page, api_url: str, role: str) -> None:
    sign_in(page, api_url, role, email=f"{role}@example.com")
    assert page.url == f"{api_url}/console/campaigns"
    expect(page.get_by_test_id("who")).to_contain_text(f"{role}@example.com")
    expect(page.get_by_test_id("role")).to_have_text([role])
    nav = page.get_by_role("navigation", name="Console sections")
    for section in ("Campaigns", "Configs", "Broadcasts", "NPS", "Sunset", "Users"):
        expect(nav.get_by_role("link", name=section)).to_be_visible()


def test_sign_out_ends_the_session_and_the_console_asks_to_sign_in_again(
    page: Page, api_url: str
) -> None:
    sign_in(page, api_url, "marketer")
    page.click("#sign-out")
    expect(page.get_by_test_id("signed-out")).to_be_visible()
    expect(page.get_by_test_id("who")).to_have_count(0)
    cookies = {c["name"] for c in page.context.cookies()}
    assert "nudge_console" not in cookies
    # the console now sends the browser to the sign-in page again
    page.goto(f"{api_url}/console/campaigns")
    page.wait_for_selector("#sign-in")
    assert "/_local/oidc/authorize" in page.url
    expect(page.get_by_text("Local development only")).to_be_visible()


def test_a_session_survives_a_reload_and_a_new_tab(page: Page, api_url: str) -> None:
    sign_in(page, api_url, "viewer", email="reload@example.com")
    page.goto(f"{api_url}/console/broadcasts")
    page.reload()
    assert re.search(r"/console/broadcasts$", page.url), page.url
    expect(page.get_by_test_id("who")).to_contain_text("reload@example.com")
    other = page.context.new_page()  # same browser context: the same session cookie
    other.goto(f"{api_url}/console/configs")
    expect(other.get_by_test_id("who")).to_contain_text("reload@example.com")
    cookie = next(c for c in page.context.cookies() if c["name"] == "nudge_console")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Lax" and cookie["path"] == "/console"


def test_a_post_without_the_csrf_token_is_refused(
    page: Page, api_url: str, client: LocalClient, seeded: Seeded
) -> None:
    campaign = seeded.campaigns[0]
    sign_in(page, api_url, "marketer")
    # the browser's own cookies, but no token: as a page on another site would post
    forged = page.request.post(
        f"{api_url}/console/campaigns/{campaign}/status", form={"status": "paused"}
    )
    assert forged.status == 403
    assert "another site" in forged.text()
    wrong = page.request.post(
        f"{api_url}/console/campaigns/{campaign}/status",
        form={"status": "paused", "csrf": "0" * 64},
    )
    assert wrong.status == 403
    status, body = admin(client, "GET", f"/admin/v1/campaigns/{campaign}")
    assert status == 200 and body["status"] == "active"
