"""`/_local/docs/`: Swagger UI for the mobile and admin OpenAPI documents, served offline.

The UI's files come from the `swagger-ui-py` dev dependency (its vendored Swagger UI 5
dist; no CDN). Both documents are the committed files (nudge/api/*-openapi.json, kept
current by tests); the admin one is served here because `GET /admin/v1/openapi.json`
needs a SigV4 signature a browser cannot make.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

from nudge.api.openapi import ADMIN_OPENAPI_PATH, MOBILE_OPENAPI_PATH

PREFIX = "/_local/docs/"
DOCUMENTS = {"mobile-openapi.json": MOBILE_OPENAPI_PATH, "admin-openapi.json": ADMIN_OPENAPI_PATH}
ASSETS = {
    "swagger-ui.css": "text/css; charset=utf-8",
    "index.css": "text/css; charset=utf-8",
    "swagger-ui-bundle.js": "text/javascript; charset=utf-8",
    "swagger-ui-standalone-preset.js": "text/javascript; charset=utf-8",
    "favicon-32x32.png": "image/png",
    "favicon-16x16.png": "image/png",
}
Answer = tuple[int, bytes, dict[str, str]]

PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
  <meta charset="UTF-8">
  <title>Nudge API docs (local)</title>
  <link rel="stylesheet" type="text/css" href="swagger-ui.css">
  <link rel="stylesheet" type="text/css" href="index.css">
  <link rel="icon" type="image/png" href="favicon-32x32.png" sizes="32x32">
</head>
<body>
  <div id="swagger-ui"></div>
  <script src="swagger-ui-bundle.js" charset="UTF-8"></script>
  <script src="swagger-ui-standalone-preset.js" charset="UTF-8"></script>
  <script>
    window.onload = function () {
      window.ui = SwaggerUIBundle({
        urls: %(urls)s,
        "urls.primaryName": "Mobile API",
        dom_id: "#swagger-ui",
        deepLinking: true,
        validatorUrl: null,
        presets: [SwaggerUIBundle.presets.apis, SwaggerUIStandalonePreset],
        layout: "StandaloneLayout"
      });
    };
  </script>
</body>
</html>
"""


def static_dir() -> Path | None:
    """swagger-ui-py's dist folder, found without importing the package (no jinja needed)."""
    spec = importlib.util.find_spec("swagger_ui")
    if spec is None or not spec.submodule_search_locations:
        return None
    folder = Path(next(iter(spec.submodule_search_locations))) / "static"
    return folder if (folder / "swagger-ui-bundle.js").is_file() else None


def page() -> str:
    urls = [
        {"url": "mobile-openapi.json", "name": "Mobile API"},
        {"url": "admin-openapi.json", "name": "Admin API (SigV4: try it out with the CLI)"},
    ]
    return PAGE % {"urls": json.dumps(urls)}


def _message(status: int, message: str) -> Answer:
    return status, json.dumps({"message": message}).encode(), {"content-type": "application/json"}


def serve(method: str, path: str) -> Answer:
    """The answer to a request under /_local/docs (status, body, headers)."""
    if method not in ("GET", "HEAD"):
        return _message(405, "the docs are read-only (GET)")
    if path == PREFIX.rstrip("/"):
        return 308, b"", {"location": PREFIX}
    name = path[len(PREFIX) :] if path.startswith(PREFIX) else None
    if name in DOCUMENTS:
        return 200, DOCUMENTS[name].read_bytes(), {"content-type": "application/json"}
    folder = static_dir()
    if folder is None:
        return _message(503, "Swagger UI is not installed: pip install swagger-ui-py (dev extra)")
    if name in ("", "index.html"):
        return 200, page().encode(), {"content-type": "text/html; charset=utf-8"}
    if name in ASSETS:
        headers = {"content-type": ASSETS[name], "cache-control": "max-age=3600"}
        return 200, (folder / name).read_bytes(), headers
    return _message(404, f"no docs file {path}")
