"""Generated Pinpoint endpoint exports (the public EndpointResponse shape) for the import tests,
with the counts a correct import must report, worked out here as the data is made."""

from __future__ import annotations

import gzip
import json
import random
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

CHANNELS = [
    ("GCM", 50),
    ("APNS", 12),
    ("APNS_SANDBOX", 3),
    ("APNS_VOIP", 2),
    ("EMAIL", 12),
    ("SMS", 8),
    ("VOICE", 2),
    ("CUSTOM", 3),
    ("ADM", 3),
    ("BAIDU", 2),
    ("PUSH", 3),
]
BROKEN_LINES = [
    ("{not json", "not JSON"),
    ('["an", "array"]', "not a JSON object"),
    ('{"ChannelType": "GCM", "Address": "tok-no-id-123"}', "Id"),
    ('{"Id": "bad-attrs", "Attributes": "gold"}', "Attributes"),
    ('{"Id": "bad-metrics", "Metrics": {"score": "high"}}', "Metrics.score"),
    ('{"Id": "bad-cohort", "CohortId": "abc"}', "CohortId"),
    ('{"Id": "bad-user", "User": ["u-1"]}', "User"),
    ('{"Id": "bad-lat", "Location": {"Latitude": 123.0, "Longitude": 5}}', "Location.Latitude"),
]


@dataclass
class Export:
    parts: list[Path]
    endpoints: int = 0
    users: set[str] = field(default_factory=set)
    devices: int = 0
    needs_reregistration: int = 0
    opted_out: set[str] = field(default_factory=set)
    skipped: Counter[str] = field(default_factory=Counter)  # channel or status -> endpoints
    broken: list[tuple[str, int, str]] = field(default_factory=list)  # file, line, field
    by_user: dict[str, list[dict[str, Any]]] = field(default_factory=dict)


def endpoint(
    endpoint_id: str,
    channel: str = "GCM",
    user_id: str | None = "u-1",
    **extra: Any,
) -> dict[str, Any]:
    data: dict[str, Any] = {
        "Id": endpoint_id,
        "ApplicationId": "app-0123",
        "ChannelType": channel,
        "Address": f"fcm-token-{endpoint_id}" if channel == "GCM" else f"addr-{endpoint_id}",
        "EndpointStatus": "ACTIVE",
        "OptOut": "NONE",
        "CreationDate": "2025-03-01T10:00:00.000Z",
        "EffectiveDate": "2026-10-01T10:00:00.000Z",
        "RequestId": "req-1",  # an extra key
    }
    if user_id is not None:
        data["User"] = {"UserId": user_id}
    return data | extra


def write_export(
    folder: Path, endpoints: int = 3000, parts: int = 4, seed: int = 7, broken: bool = True
) -> Export:
    """`endpoints` good lines over `parts` gzip files (users with 1 to 4 endpoints, some
    anonymous), plus the BROKEN_LINES spread over the parts."""
    rng = random.Random(seed)
    names, weights = zip(*CHANNELS, strict=True)
    lines: list[dict[str, Any]] = []
    export = Export(parts=[])
    user_number = 0
    while len(lines) < endpoints:
        user_number += 1
        anonymous = rng.random() < 0.1
        user_id = None if anonymous else f"user-{user_number:05d}"
        opted_out = rng.random() < 0.05
        for n in range(1 if anonymous else min(rng.randint(1, 4), endpoints - len(lines))):
            endpoint_id = f"ep-{user_number:05d}-{n}"
            channel = rng.choices(names, weights)[0]
            status = "INACTIVE" if rng.random() < 0.05 else "ACTIVE"
            data = endpoint(endpoint_id, channel, user_id, EndpointStatus=status)
            data["OptOut"] = "ALL" if opted_out else "NONE"
            data["CohortId"] = str(rng.randint(0, 99))
            data["Demographic"] = {
                "Platform": "android" if channel == "GCM" else "ios",
                "Locale": rng.choice(["en_US", "nl_NL", "de_DE"]),
                "Timezone": rng.choice(["Europe/Amsterdam", "America/New_York"]),
                "AppVersion": f"3.{rng.randint(0, 9)}.0",
                "Make": "Google",
            }
            data["Location"] = {"Country": rng.choice(["NL", "US", "DE"]), "City": "Utrecht"}
            data["Attributes"] = {"plan": [rng.choice(["free", "gold"])]}
            data["Metrics"] = {"rides": rng.randint(0, 50)}
            if user_id is not None:
                data["User"]["UserAttributes"] = {"team": [rng.choice(["a", "b"])]}
            lines.append(data)
            owner = user_id or f"pinpoint:{endpoint_id}"
            export.users.add(owner)
            export.by_user.setdefault(owner, []).append(data)
            if opted_out:
                export.opted_out.add(owner)
            if channel not in ("GCM", "APNS", "APNS_SANDBOX", "APNS_VOIP"):
                export.skipped[channel] += 1
            elif status == "INACTIVE":
                export.skipped["INACTIVE"] += 1
            elif channel == "GCM":
                export.devices += 1
            else:
                export.needs_reregistration += 1
    rng.shuffle(lines)  # a user's endpoints land in different parts, as in a real export
    export.endpoints = len(lines)
    per_part = -(-len(lines) // parts)
    for index in range(parts):
        path = folder / f"part-{index:05d}.gz"
        chunk = [json.dumps(item) for item in lines[index * per_part : (index + 1) * per_part]]
        if broken:
            for offset, (text, _) in enumerate(BROKEN_LINES):
                if offset % parts == index:
                    position = min(len(chunk), 3 + offset * 7)
                    chunk.insert(position, text)
        for number, text in enumerate(chunk, start=1):
            bad = next((f for t, f in BROKEN_LINES if t == text), None)
            if bad is not None:
                export.broken.append((str(path), number, bad))
        path.write_bytes(gzip.compress(("\n".join(chunk) + "\n").encode()))
        export.parts.append(path)
    return export
