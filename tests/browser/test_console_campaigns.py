"""Campaigns in Chromium: pause and resume with a confirmation, and a viewer who can't."""

from __future__ import annotations

import uuid

import pytest
from playwright.sync_api import Locator, Page, expect

from nudge_local.client import LocalClient
from nudge_local.console_seed import campaign_yaml, publish_campaign
from tests.browser.helpers import admin, csrf_of, sign_in

pytestmark = pytest.mark.browser


def fresh_campaign(client: LocalClient) -> str:
    cid = f"browser-{uuid.uuid4().hex[:8]}"
    publish_campaign(client, cid, campaign_yaml(cid))
    return cid


def row(page: Page, cid: str) -> Locator:
    return page.locator(f"tr[data-campaign='{cid}']")


def test_a_marketer_pauses_after_a_confirmation_then_resumes(
    page: Page, api_url: str, client: LocalClient
) -> None:
    cid = fresh_campaign(client)
    sign_in(page, api_url, "marketer", path="/console/campaigns")
    row(page, cid).get_by_test_id("pause").click()
    # the confirmation page says what will happen; nothing changed yet
    assert f"/console/campaigns/{cid}/status" in page.url
    expect(page.get_by_test_id("what-happens")).to_contain_text("stops sending")
    assert admin(client, "GET", f"/admin/v1/campaigns/{cid}")[1]["status"] == "active"
    page.click("#confirm")
    expect(page.get_by_test_id("notice")).to_be_visible()
    assert admin(client, "GET", f"/admin/v1/campaigns/{cid}")[1]["status"] == "paused"
    expect(row(page, cid).get_by_test_id("campaign-status")).to_have_text("paused")

    row(page, cid).get_by_test_id("resume").click()
    expect(page.get_by_test_id("what-happens")).to_contain_text("starts sending again")
    page.click("#confirm")
    expect(page.get_by_test_id("notice")).to_be_visible()
    expect(row(page, cid).get_by_test_id("campaign-status")).to_have_text("active")
    assert admin(client, "GET", f"/admin/v1/campaigns/{cid}")[1]["status"] == "active"


def test_a_viewer_sees_no_pause_and_a_forged_pause_is_refused(
    page: Page, api_url: str, client: LocalClient
) -> None:
    cid = fresh_campaign(client)
    sign_in(page, api_url, "viewer", path="/console/campaigns")
    expect(row(page, cid).get_by_test_id("campaign-status")).to_have_text("active")
    expect(row(page, cid).get_by_test_id("pause")).to_have_count(0)
    page.goto(f"{api_url}/console/campaigns/{cid}")
    expect(page.locator("#pause")).to_have_count(0)
    # nor does the confirmation page offer a form to a viewer
    confirm = page.goto(f"{api_url}/console/campaigns/{cid}/status?to=paused")
    assert confirm is not None and confirm.status == 403
    # the viewer's own, valid CSRF token: the server still checks the role
    forged = page.request.post(
        f"{api_url}/console/campaigns/{cid}/status",
        form={"status": "paused", "csrf": csrf_of(page)},
    )
    assert forged.status == 403
    assert admin(client, "GET", f"/admin/v1/campaigns/{cid}")[1]["status"] == "active"


def test_a_campaign_page_shows_its_version_and_status(
    page: Page, api_url: str, client: LocalClient
) -> None:
    cid = fresh_campaign(client)
    publish_campaign(client, cid, campaign_yaml(cid, title="Second text"))  # version 2
    sign_in(page, api_url, "viewer", path=f"/console/campaigns/{cid}")
    expect(page.get_by_test_id("campaign-head")).to_contain_text(cid)
    expect(page.locator("#campaign-version")).to_have_text("2")
    expect(page.locator("#campaign-status")).to_have_text("active")
    missing = page.goto(f"{api_url}/console/campaigns/no-such-campaign")
    assert missing is not None and missing.status == 404
