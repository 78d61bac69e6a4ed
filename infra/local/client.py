"""A small client for the local stack: tokens, signed admin calls, clock and drain."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import requests

from nudge_local.auth import AdminCredential, mint_token, sign_request
from nudge_local.stack import DEFAULT_STATE_DIR


def read_state(state_dir: Path = DEFAULT_STATE_DIR) -> dict[str, Any]:
    path = state_dir / "local.json"
    if not path.exists():
        raise FileNotFoundError(f"{path} not found: start the stack with `make up` first")
    return json.loads(path.read_text())


class LocalClient:
    def __init__(self, state: dict[str, Any], timeout_s: float = 30.0) -> None:
        self.state = state
        self.api_url = state["api_url"]
        self.timeout_s = timeout_s
        self._private_pem = Path(state["jwt"]["private_key_path"]).read_bytes()
        self.admin = AdminCredential(
            state["admin"]["access_key"], state["admin"]["secret_key"], state["region"]
        )
        self.session = requests.Session()

    @classmethod
    def from_state_dir(cls, state_dir: Path = DEFAULT_STATE_DIR) -> LocalClient:
        return cls(read_state(state_dir))

    def token(self, user_id: str, ttl_s: int = 3600, **claims: Any) -> str:
        jwt = self.state["jwt"]
        return mint_token(
            self._private_pem, user_id, jwt["issuer"], jwt["audience"], ttl_s, **claims
        )

    def request(
        self,
        method: str,
        path: str,
        *,
        user: str | None = None,
        json_body: Any = None,
        body: bytes | None = None,
        headers: dict[str, str] | None = None,
        admin: bool = False,
    ) -> requests.Response:
        url = f"{self.api_url}{path}"
        headers = dict(headers or {})
        data = (
            body
            if body is not None
            else (json.dumps(json_body).encode() if json_body is not None else b"")
        )
        if json_body is not None:
            headers.setdefault("content-type", "application/json")
        if user is not None:
            headers["authorization"] = f"Bearer {self.token(user)}"
        if admin:
            headers["host"] = self.api_url.split("://", 1)[1]
            headers = sign_request(self.admin, method, url, data, headers)
        return self.session.request(method, url, data=data, headers=headers, timeout=self.timeout_s)

    def post_events(self, user: str, events: list[dict[str, Any]]) -> requests.Response:
        return self.request("POST", "/v1/events", user=user, json_body={"events": events})

    def now(self) -> str:
        return str(
            self.session.get(f"{self.api_url}/_local/clock", timeout=self.timeout_s).json()["now"]
        )

    def advance(self, duration: str) -> dict[str, Any]:
        response = self.session.post(
            f"{self.api_url}/_local/clock", json={"advance": duration}, timeout=600
        )
        response.raise_for_status()
        return response.json()

    def drain(self, timeout_s: float = 60) -> dict[str, Any]:
        response = self.session.post(
            f"{self.api_url}/_local/drain", json={"timeout_s": timeout_s}, timeout=timeout_s + 10
        )
        response.raise_for_status()
        result = response.json()
        if not result["drained"]:
            raise TimeoutError(f"queues did not drain within {timeout_s}s: {result['queues']}")
        return result

    def queues(self) -> dict[str, Any]:
        return self.session.get(f"{self.api_url}/_local/queues", timeout=self.timeout_s).json()
