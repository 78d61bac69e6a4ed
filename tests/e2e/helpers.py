"""What e2e tests share: the `nudge` CLI against the test stack, events, the FCM inbox."""

from __future__ import annotations

import subprocess
import sys
import uuid
from datetime import datetime
from pathlib import Path
from typing import Any

from nudge_local.client import LocalClient

NUDGE = str(Path(sys.executable).with_name("nudge"))


def nudge(stack_dir: Path, *args: str, timeout: float = 90) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [NUDGE, "--state-dir", str(stack_dir), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def event(name: str, when: datetime, event_id: str | None = None, **props: Any) -> dict[str, Any]:
    return {
        "event_id": event_id or uuid.uuid4().hex,
        "name": name,
        "timestamp": when.isoformat(),
        "properties": props,
    }


def inbox(client: LocalClient, token: str) -> list[str]:
    response = client.session.get(
        f"{client.api_url}/_fcm/inbox", params={"token": token}, timeout=10
    )
    return [m["notification"]["title"] for m in response.json()["messages"]]
