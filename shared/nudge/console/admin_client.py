"""Admin API calls signed with the console function's own role (SigV4, execute-api).

The API Gateway IAM authorizer checks this role's execute-api:Invoke grant as it does for the
CLI's callers; the admin API then validates and audits the call. The console adds the human
behind it to its own audit line (views/common.py).
"""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urlencode

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.session import Session

TIMEOUT_S = 25.0  # under the console function's 29 s, so a slow call becomes a clear page


class AdminUnavailable(Exception):
    """The admin API could not be reached (network, timeout): not a refusal."""


@dataclass(frozen=True)
class AdminAnswer:
    status: int
    body: Any  # the decoded JSON, or the text when it isn't JSON (CSV exports)
    headers: dict[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.status < 400

    @property
    def message(self) -> str:
        """The admin API's error text (its `message`), for the page."""
        if isinstance(self.body, dict):
            return str(self.body.get("message") or self.body.get("error") or self.body)
        return str(self.body)[:500]


def path_segment(value: str) -> str:
    """An id placed in an admin path: every reserved character escaped."""
    return quote(value, safe="")


class AdminClient:
    def __init__(self, base_url: str, credentials: Credentials | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self.region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION", "")
        self._credentials = credentials

    def credentials(self) -> Credentials:
        if self._credentials is None:
            found = Session().get_credentials()
            if found is None:
                raise AdminUnavailable("the console function has no AWS credentials")
            self._credentials = found
        return self._credentials

    def call(
        self,
        method: str,
        path: str,
        body: Any = None,
        query: dict[str, str] | None = None,
    ) -> AdminAnswer:
        url = f"{self.base_url}{path}"
        if query:
            url += "?" + urlencode({k: v for k, v in query.items() if v not in (None, "")})
        data = json.dumps(body).encode() if body is not None else None
        headers = {"Content-Type": "application/json"} if data is not None else {}
        signed = AWSRequest(method=method, url=url, data=data or b"", headers=headers)
        SigV4Auth(self.credentials().get_frozen_credentials(), "execute-api", self.region).add_auth(
            signed
        )
        request = urllib.request.Request(  # noqa: S310 - the stack's own API (https in AWS)
            url, data=data, method=method, headers=dict(signed.headers.items())
        )
        try:
            with urllib.request.urlopen(request, timeout=TIMEOUT_S) as answer:  # noqa: S310
                return _answer(answer.status, answer.read(), dict(answer.headers.items()))
        except urllib.error.HTTPError as error:
            return _answer(error.code, error.read(), dict(error.headers.items()))
        except (OSError, ValueError) as error:
            raise AdminUnavailable(f"the admin API could not be reached: {error}") from error


def _answer(status: int, raw: bytes, headers: dict[str, str]) -> AdminAnswer:
    text = raw.decode("utf-8", "replace")
    lowered = {k.lower(): v for k, v in headers.items()}
    if "json" in lowered.get("content-type", ""):
        try:
            return AdminAnswer(status, json.loads(text) if text else None, lowered)
        except ValueError:
            pass
    return AdminAnswer(status, text, lowered)
