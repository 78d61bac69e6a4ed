"""The NPS pages in Chromium: the surveys with their score, then one survey's report."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from nudge_local.console_seed import SURVEY_ID, Seeded
from tests.browser.helpers import sign_in

pytestmark = pytest.mark.browser


def test_the_nps_page_shows_score_trend_and_themes(
    page: Page, api_url: str, seeded: Seeded
) -> None:
    sign_in(page, api_url, "viewer", path="/console/nps")
    survey = page.locator(f"tr[data-survey='{SURVEY_ID}']")
    expect(survey.get_by_test_id("survey-score")).to_contain_text("0")
    survey.get_by_role("link").first.click()
    page.wait_for_url(f"{api_url}/console/nps/{SURVEY_ID}*")

    # seeded answers: 2 promoters, 1 passive, 2 detractors -> NPS 0 from 5 responses
    score = page.get_by_test_id("nps-score")
    expect(score.get_by_test_id("score")).to_have_text("0.0")
    expect(score.get_by_test_id("responses")).to_have_text("5")
    expect(score.get_by_test_id("interval")).to_contain_text("to")
    # the trend: an inline SVG chart drawn on the server, and its numbers in a table
    expect(page.get_by_test_id("trend-chart").locator("svg")).to_be_visible()
    expect(page.get_by_test_id("trend").locator("tbody tr")).not_to_have_count(0)
    themes = page.get_by_test_id("theme")
    expect(themes.first).to_be_visible()
    names = " ".join(themes.all_inner_texts())
    assert "Delays" in names and "Prices" in names, names
    quotes = page.get_by_test_id("quote").all_inner_texts()
    assert any("late every day" in quote for quote in quotes), quotes  # an example quote
    # another breakdown, from the selector
    page.select_option("#by", "lifecycle")
    page.click("#apply")
    expect(page.get_by_test_id("breakdown-row").first).to_be_visible()
