"""Configs in Chromium: a broken upload shows located errors and publishes nothing; a good one
is listed with its version; a campaign previewed for a user, rule by rule."""

from __future__ import annotations

import re
import uuid

import pytest
from playwright.sync_api import FilePayload, Page, expect

from nudge_local.client import LocalClient
from nudge_local.console_seed import Seeded, campaign_yaml
from tests.browser.helpers import admin, sign_in

pytestmark = pytest.mark.browser


def upload(page: Page, name: str, text: str) -> None:
    page.select_option("#kind", "campaign")
    payload: FilePayload = {"name": name, "mimeType": "text/yaml", "buffer": text.encode()}
    page.set_input_files("#file", files=[payload])
    page.click("button#upload")


def test_a_broken_campaign_shows_located_errors_and_nothing_is_published(
    page: Page, api_url: str, client: LocalClient
) -> None:
    cid = f"broken-{uuid.uuid4().hex[:8]}"
    sign_in(page, api_url, "marketer", path="/console/configs")
    upload(page, f"{cid}.yaml", campaign_yaml(cid, category="spam"))
    problems = page.get_by_test_id("problems")
    expect(problems).to_be_visible()
    # file:line: field: message, the file being the uploaded file's name
    expect(problems).to_contain_text(re.compile(rf"{cid}\.yaml:3: category: "))
    expect(page.get_by_test_id("upload-refused")).to_contain_text("Nothing was published")
    assert admin(client, "GET", f"/admin/v1/campaigns/{cid}")[0] == 404


def test_a_good_campaign_is_listed_with_its_version(
    page: Page, api_url: str, client: LocalClient
) -> None:
    cid = f"uploaded-{uuid.uuid4().hex[:8]}"
    sign_in(page, api_url, "marketer", path="/console/configs")
    upload(page, f"{cid}.yaml", campaign_yaml(cid))
    page.wait_for_url(re.compile(rf".*/console/configs/campaign/{cid}.*"))
    expect(page.get_by_test_id("notice")).to_contain_text("Published version 1")
    expect(page.get_by_test_id("current-version")).to_have_text("1")
    status, body = admin(client, "GET", f"/admin/v1/campaigns/{cid}")
    assert status == 200 and body["version"] == 1 and body["status"] == "active"
    page.goto(f"{api_url}/console/configs")
    listed = page.locator(f"tr[data-kind='campaign'][data-id='{cid}']")
    expect(listed).to_have_count(1)
    expect(listed.locator("td").nth(2)).to_contain_text("active")
    expect(listed.locator("td.num")).to_have_text("1")


def test_a_viewer_has_no_upload_form(page: Page, api_url: str) -> None:
    sign_in(page, api_url, "viewer", path="/console/configs")
    expect(page.locator("#upload-form")).to_have_count(0)
    expect(page.locator("#kind")).to_have_count(0)
    expect(page.locator("#file")).to_have_count(0)
    expect(page.locator("button[type=submit]#upload")).to_have_count(0)


def test_preview_a_campaign_for_a_user(page: Page, api_url: str, seeded: Seeded) -> None:
    cid, user = seeded.campaigns[0], seeded.users[0]
    sign_in(page, api_url, "marketer", path=f"/console/configs/campaign/{cid}")
    page.fill("#preview-user", user)
    page.click("#preview")
    rules = page.get_by_test_id("rule")
    expect(rules.first).to_be_visible()
    names = [rule.get_attribute("data-rule") for rule in rules.all()]
    assert {"active", "consent", "audience"} <= set(names), names
    for rule in rules.all():  # each rule shows its verdict in words
        verdict = "pass" if rule.get_attribute("data-passed") == "true" else "fail"
        expect(rule.locator("td").nth(1)).to_have_text(verdict)
    expect(page.locator("tr[data-rule='active'] td.verdict")).to_have_text("pass")
    expect(page.get_by_test_id("preview-verdict")).not_to_be_empty()
    expect(page.get_by_test_id("rendered-message")).to_contain_text("Welcome aboard")
