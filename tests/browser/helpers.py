"""What the browser tests share: Chromium and the dev sign-in (from nudge_local.console_shots,
which `make console-shots` uses too), the CSRF token a page carries, the admin API's view."""

from __future__ import annotations

from typing import Any

from playwright.sync_api import Page

from nudge_local.client import LocalClient
from nudge_local.console_shots import TIMEOUT_MS, launch, sign_in

__all__ = ["TIMEOUT_MS", "admin", "csrf_of", "launch", "sign_in"]


def csrf_of(page: Page) -> str:
    """The CSRF token the console put in this page's forms (the sign-out form has one)."""
    value = page.locator("input[name=csrf]").first.get_attribute("value")
    assert value, "no CSRF token on the page"
    return value


def admin(client: LocalClient, method: str, path: str, body: Any = None) -> tuple[int, Any]:
    """The server's view, straight from the admin API (not through the console)."""
    response = client.request(method, path, admin=True, json_body=body)
    return response.status_code, (response.json() if response.content else None)
