"""The admin API client: SigV4-signed calls against AWS, or the local stack's admin credential."""

from __future__ import annotations

import argparse
import json
import os
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any


def admin_target(args: argparse.Namespace) -> tuple[str, Any, str]:
    """(api_url, credentials, region) — the local stack's when no API URL is given."""
    api_url = args.api_url or os.environ.get("NUDGE_API_URL")
    if api_url:
        import boto3

        session = boto3.session.Session()
        credentials = session.get_credentials()
        if credentials is None:
            raise SystemExit("no AWS credentials found for signing admin requests")
        return api_url.rstrip("/"), credentials, session.region_name or "us-east-1"
    state_file = Path(args.state_dir) / "local.json"
    if not state_file.exists():
        raise SystemExit("give --api-url (or NUDGE_API_URL), or start the local stack: make up")
    from botocore.credentials import Credentials

    state = json.loads(state_file.read_text())
    admin = state["admin"]
    return state["api_url"], Credentials(admin["access_key"], admin["secret_key"]), state["region"]


def admin_call(args: argparse.Namespace, method: str, path: str, body: Any = None) -> Any:
    """The JSON answer; exits with `METHOD PATH failed: CODE DETAIL` on an HTTP error."""
    return json.loads(admin_raw(args, method, path, body) or b"null")


def admin_call_optional(args: argparse.Namespace, method: str, path: str) -> Any:
    """Like admin_call, but None on 404."""
    try:
        return admin_call(args, method, path)
    except SystemExit as error:
        if " 404 " in str(error):
            return None
        raise


def admin_raw(args: argparse.Namespace, method: str, path: str, body: Any = None) -> bytes:
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest

    api_url, credentials, region = admin_target(args)
    url = f"{api_url}{path}"
    data = json.dumps(body).encode() if body is not None else b""
    headers = {"host": url.split("/")[2]}
    if body is not None:
        headers["content-type"] = "application/json"
    request = AWSRequest(method=method, url=url, data=data, headers=headers)
    SigV4Auth(credentials, "execute-api", region).add_auth(request)
    http_request = urllib.request.Request(  # noqa: S310 - the API URL the operator chose
        url, data=data or None, method=method, headers=dict(request.headers.items())
    )
    try:
        with urllib.request.urlopen(http_request, timeout=60) as response:  # noqa: S310
            return bytes(response.read())
    except urllib.error.HTTPError as error:
        detail = error.read().decode(errors="replace")
        raise SystemExit(f"{method} {path} failed: {error.code} {detail}") from error
