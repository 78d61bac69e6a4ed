"""`/_local/docs/` on the local gateway: Swagger UI from the vendored package, no CDN."""

from __future__ import annotations

import json
import re
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest

from nudge.api.openapi import ADMIN_OPENAPI_PATH, MOBILE_OPENAPI_PATH
from nudge_local import docs_ui
from nudge_local.gateway import start_gateway

pytestmark = pytest.mark.integration


def test_the_docs_ui_assets_are_installed() -> None:
    """swagger-ui-py is a dev dependency: its absence is a failure here, never a skip."""
    assert docs_ui.static_dir() is not None, "pip install -e '.[dev]' (swagger-ui-py)"


@pytest.fixture
def base() -> Iterator[str]:
    server = start_gateway(object(), "127.0.0.1", 0)  # type: ignore[arg-type]  # docs need no stack
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def fetch(url: str) -> tuple[int, bytes, Any]:
    with urllib.request.urlopen(url, timeout=10) as answer:  # noqa: S310 (a local test URL)
        return answer.status, answer.read(), answer.headers


def test_page_and_its_assets_load_without_external_urls(base: str) -> None:
    status, body, headers = fetch(f"{base}/_local/docs/")
    assert status == 200 and headers["content-type"].startswith("text/html")
    html = body.decode()
    assert "http:" not in html and "https:" not in html  # no CDN
    assert not re.search(r'(?:src|href)="//', html)
    assets = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert {"swagger-ui.css", "swagger-ui-bundle.js", "swagger-ui-standalone-preset.js"} <= set(
        assets
    )
    for asset in assets:
        status, content, _ = fetch(f"{base}/_local/docs/{asset}")
        assert status == 200 and len(content) > 100, asset
    assert "SwaggerUIBundle" in fetch(f"{base}/_local/docs/swagger-ui-bundle.js")[1].decode()


def test_selector_offers_both_documents_served_from_the_committed_files(base: str) -> None:
    html = fetch(f"{base}/_local/docs/")[1].decode()
    urls = json.loads(re.search(r"urls: (\[.*?\]),", html).group(1))  # type: ignore[union-attr]
    assert [u["url"] for u in urls] == ["mobile-openapi.json", "admin-openapi.json"]
    for name, path in (("mobile", MOBILE_OPENAPI_PATH), ("admin", ADMIN_OPENAPI_PATH)):
        status, body, headers = fetch(f"{base}/_local/docs/{name}-openapi.json")
        assert status == 200 and headers["content-type"] == "application/json"
        assert body == path.read_bytes()


def test_unknown_files_are_404_and_the_bare_path_redirects(base: str) -> None:
    with pytest.raises(urllib.error.HTTPError) as missing:
        fetch(f"{base}/_local/docs/../../etc/passwd")
    assert missing.value.code == 404
    status, body, _ = fetch(f"{base}/_local/docs")  # followed to /_local/docs/
    assert status == 200 and b"swagger-ui" in body
