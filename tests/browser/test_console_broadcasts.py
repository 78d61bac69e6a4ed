"""A broadcast composed, previewed, sent and watched to the end in Chromium."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from nudge_local.client import LocalClient
from nudge_local.console_seed import Seeded
from tests.browser.helpers import admin, sign_in

pytestmark = pytest.mark.browser


def test_send_a_broadcast_and_watch_its_progress_reach_done(
    page: Page, api_url: str, client: LocalClient, seeded: Seeded
) -> None:
    riders = seeded.users[:3]
    sign_in(page, api_url, "marketer", path="/console/broadcasts")
    page.fill("#title", "Platform works tonight")
    page.fill("#body", "Trains leave from platform 4")
    page.select_option("#category", "internal")
    page.select_option("#target_kind", "user_ids")
    page.fill("#user_ids", "\n".join(riders))
    page.fill("#sample_user", riders[0])
    page.click("#preview-broadcast")

    # the preview: the message as the rider sees it, and who gets it; nothing sent yet
    expect(page.get_by_test_id("message-title")).to_have_text("Platform works tonight")
    expect(page.get_by_test_id("message-body")).to_have_text("Trains leave from platform 4")
    expect(page.get_by_test_id("sample")).to_contain_text("In the target: yes")
    expect(page.get_by_test_id("estimate")).to_contain_text("3")
    expect(page.locator("#send-broadcast")).to_contain_text("Send to 3 users")
    page.click("#send-broadcast")

    page.wait_for_url(re.compile(r".*/console/broadcasts/[A-Za-z0-9_-]+\?done=sent$"))
    broadcast_id = page.url.rsplit("/", 1)[1].split("?")[0]
    expect(page.get_by_test_id("done")).to_be_visible()
    status, body = admin(client, "GET", f"/admin/v1/broadcasts/{broadcast_id}")
    assert status == 200 and body["total"] == 3

    client.drain()  # the broadcaster's steps and the pushes run; the page refreshes itself
    expect(page.get_by_test_id("state")).to_have_text("done", timeout=30_000)
    expect(page.get_by_test_id("sent")).to_have_text("3")
    expect(page.get_by_test_id("targeted")).to_have_text("3")
    expect(page.get_by_test_id("percent")).to_contain_text("100")
    assert admin(client, "GET", f"/admin/v1/broadcasts/{broadcast_id}")[1]["status"] == "done"


def test_a_viewer_cannot_send_even_with_a_forged_post(
    page: Page, api_url: str, client: LocalClient, seeded: Seeded
) -> None:
    sign_in(page, api_url, "viewer", path="/console/broadcasts")
    expect(page.get_by_test_id("no-send")).to_be_visible()
    expect(page.locator("#compose")).to_have_count(0)
    csrf = page.locator("input[name=csrf]").first.get_attribute("value") or ""
    forged = page.request.post(
        f"{api_url}/console/broadcasts/send",
        form={
            "csrf": csrf,
            "title": "Forged",
            "body": "x",
            "category": "internal",
            "locale": "en",
            "template_source": "text",
            "template_key": "forged",
            "target_kind": "user_ids",
            "user_ids": seeded.users[0],
            "dedupe_key": "forged-by-a-viewer",
            "rate_per_minute": "600",
            "ttl_hours": "1",
            "when": "now",
        },
    )
    assert forged.status == 403
    inbox = client.session.get(
        f"{api_url}/_fcm/inbox", params={"token": f"tok-{seeded.users[0]}"}, timeout=10
    ).json()
    assert "Forged" not in [m["notification"]["title"] for m in inbox["messages"]]
