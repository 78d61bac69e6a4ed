"""`make console-shots`: a full-page PNG of every console page, into reports/console/.

Uses the stack `make demo KEEP=1` left running in .nudge/demo when there is one (adding only a
rider and a broadcast: the admin API cannot list users or broadcasts), else starts its own
stack, seeds it (console_seed.py, as the browser tests do) and stops it afterwards. Signs in
on the dev OIDC provider's page as a marketer, and as privacy for the users pages.

Also home of the Chromium launch and sign-in the browser tests (tests/browser) use.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import tempfile
from pathlib import Path

from playwright.sync_api import Browser, Page, Playwright, expect, sync_playwright

from nudge_local import process
from nudge_local.client import LocalClient
from nudge_local.console_seed import Seeded, has_data, seed, seed_extras
from nudge_local.template import PROJECT_ROOT

# Debian's (`make chromium` installs it), never one Playwright downloads
CHROMIUM = os.environ.get("NUDGE_CHROMIUM", "/usr/bin/chromium")
# a closed network: nothing fetched in the background, no QUIC, no GPU
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
TIMEOUT_MS = 20_000  # each request runs a real handler in the local stack, on few CPUs
DEMO_STATE = PROJECT_ROOT / ".nudge" / "demo"
OUT = PROJECT_ROOT / "reports" / "console"


def launch(playwright: Playwright) -> Browser:
    """Debian's Chromium; launch() gives it a fresh temporary user-data dir of its own."""
    if not Path(CHROMIUM).exists():
        raise RuntimeError(
            f"{CHROMIUM} is missing: run `make chromium` (infra/local/ensure_chromium.sh)"
        )
    return playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)


def sign_in(
    page: Page,
    api_url: str,
    role: str,
    email: str = "dev@example.com",
    path: str = "/console/campaigns",
) -> None:
    """Open a console page signed out: the console sends the browser to the dev provider's
    sign-in page; pick the role, submit, and wait until the console shows who is signed in."""
    expect.set_options(timeout=TIMEOUT_MS)
    page.goto(f"{api_url}{path}")
    page.wait_for_selector("#sign-in")
    if "/_local/oidc/authorize" not in page.url:
        raise AssertionError(f"not the dev sign-in page: {page.url}")
    page.fill("#email", email)
    page.select_option("#role", role)
    page.click("#sign-in")
    page.wait_for_url(re.compile(r".*/console/.*"))
    expect(page.get_by_test_id("who")).to_contain_text(email)


def pages(seeded: Seeded) -> list[tuple[str, str, str]]:
    """(file name, role, path) of every console page worth a picture."""
    campaign = seeded.campaigns[0] if seeded.campaigns else ""
    user = seeded.users[0] if seeded.users else ""
    shots = [
        ("campaigns", "marketer", "/console/campaigns"),
        ("campaign", "marketer", f"/console/campaigns/{campaign}"),
        ("configs", "marketer", "/console/configs"),
        ("config", "marketer", f"/console/configs/campaign/{campaign}"),
        ("broadcasts", "marketer", "/console/broadcasts"),
        ("broadcast", "marketer", f"/console/broadcasts/{seeded.broadcast}"),
        ("nps", "marketer", "/console/nps"),
        ("survey", "marketer", f"/console/nps/{seeded.survey}"),
        ("sunset", "marketer", "/console/sunset"),
        ("users", "privacy", "/console/users"),
        ("user", "privacy", f"/console/users/{user}"),
    ]
    return [shot for shot in shots if not shot[2].endswith("/")]


def shoot(api_url: str, seeded: Seeded, out: Path) -> list[str]:
    """Write the pictures; return the pages that did not answer 200 (pictured all the same)."""
    out.mkdir(parents=True, exist_ok=True)
    failed: list[str] = []
    with sync_playwright() as playwright:
        browser = launch(playwright)
        try:
            for role in ("marketer", "privacy"):
                context = browser.new_context(viewport={"width": 1280, "height": 900})
                context.set_default_timeout(TIMEOUT_MS)
                page = context.new_page()
                sign_in(page, api_url, role, email=f"{role}@example.com")
                for name, who, path in pages(seeded):
                    if who != role:
                        continue
                    response = page.goto(f"{api_url}{path}")
                    status = response.status if response else 0
                    if not page.get_by_test_id("who").is_visible():  # not rendered as a page
                        status = status if status != 200 else -1
                    target = out / f"{name}.png"
                    page.screenshot(path=str(target), full_page=True)
                    problem = "not shown as a console page" if status == -1 else f"HTTP {status}"
                    note = "" if status == 200 else f"  ({problem})"
                    if status != 200:
                        failed.append(f"{path}: {problem}")
                    shown = (
                        target.relative_to(PROJECT_ROOT)
                        if target.is_relative_to(PROJECT_ROOT)
                        else target
                    )
                    print(f"  {shown}  {path}{note}")
                context.close()
        finally:
            browser.close()
    return failed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument(
        "--state-dir", type=Path, help="a running stack's state dir (default: the demo's, if up)"
    )
    args = parser.parse_args(argv)
    own: Path | None = None
    running = args.state_dir or DEMO_STATE
    if process.running_state(running):
        state_dir = running
        print(f"console-shots: using the running stack in {running}")
    elif args.state_dir:
        parser.error(f"no stack is running in {args.state_dir}")
    else:
        own = state_dir = Path(tempfile.mkdtemp(prefix="nudge-console-shots-"))
        print("console-shots: starting a local stack")
        process.up(state_dir)
    try:
        client = LocalClient.from_state_dir(state_dir)
        seeded = seed_extras(client) if has_data(client) else seed(client)
        print(f"console-shots: {client.api_url}/console/ -> {args.out}")
        failed = shoot(client.api_url, seeded, args.out)
    finally:
        if own is not None:
            process.down(own)
    if failed:
        print("console-shots: these pages did not render:\n  " + "\n  ".join(failed))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
