"""Users in Chromium: a marketer can look a user up but not erase them; privacy erases after
typing the user id; the admin API says what the server holds."""

from __future__ import annotations

import uuid

import pytest
from playwright.sync_api import Page, expect

from nudge_local.client import LocalClient
from nudge_local.console_seed import make_rider
from tests.browser.helpers import admin, csrf_of, sign_in

pytestmark = pytest.mark.browser


def held(client: LocalClient, user: str) -> bool:
    """Whether the server holds anything of the user (the export answers 200 for anyone)."""
    status, export = admin(client, "GET", f"/admin/v1/users/{user}")
    assert status == 200, export
    return export["profile"] is not None or bool(export["devices"])


def rider(client: LocalClient) -> str:
    user = make_rider(client, f"browser-{uuid.uuid4().hex[:8]}")
    client.drain()
    assert held(client, user)
    return user


def test_a_marketer_looks_a_user_up_but_cannot_erase(
    page: Page, api_url: str, client: LocalClient
) -> None:
    user = rider(client)
    sign_in(page, api_url, "marketer", path="/console/users")
    page.fill("#user-id", user)
    page.click("#lookup")
    page.wait_for_url(f"{api_url}/console/users/{user}*")
    expect(page.get_by_test_id("profile")).to_be_visible()
    expect(page.get_by_test_id("devices").get_by_test_id("device")).to_contain_text("android")
    # the push token is never shown whole
    expect(page.get_by_test_id("token")).not_to_contain_text(f"tok-{user}")
    expect(page.locator("#erase")).to_have_count(0)
    expect(page.locator("#export")).to_have_count(0)
    # the marketer's own valid CSRF token, the typed id: the server still refuses
    forged = page.request.post(
        f"{api_url}/console/users/{user}/erase",
        form={"csrf": csrf_of(page), "confirm_user_id": user},
    )
    assert forged.status == 403
    assert held(client, user)


def test_privacy_erases_a_user_after_typing_the_id(
    page: Page, api_url: str, client: LocalClient
) -> None:
    user = rider(client)
    sign_in(page, api_url, "privacy", path=f"/console/users/{user}")
    page.click("#erase")
    assert page.url.endswith(f"/console/users/{user}/erase")
    expect(page.get_by_test_id("erase-explained")).to_be_visible()
    # a wrong id is refused and nothing is erased
    page.fill("#confirm-user-id", user + "x")
    page.click("#erase-confirm")
    expect(page.get_by_test_id("error")).to_be_visible()
    assert held(client, user)

    page.fill("#confirm-user-id", user)
    page.click("#erase-confirm")
    expect(page.get_by_test_id("erased")).to_be_visible()
    expect(page.get_by_test_id("erased-counts")).to_be_visible()
    assert not held(client, user)


def test_a_viewer_gets_no_user_data(page: Page, api_url: str, client: LocalClient) -> None:
    user = rider(client)
    sign_in(page, api_url, "viewer")
    answer = page.goto(f"{api_url}/console/users/{user}")
    assert answer is not None and answer.status == 403
    expect(page.get_by_test_id("profile")).to_have_count(0)
