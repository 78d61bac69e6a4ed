"""A commuter end to end: the station fence set and a geofence campaign are pushed with the
CLI, a phone reports its position walking into Amsterdam Centraal (late, repeated and jittery
fixes included), and the FCM emulator's inbox holds exactly one push naming the station. The
evening trip back through the same station is within the cooldown: no second push. A user who
never granted location consent walks the same path and is never tracked."""

from __future__ import annotations

import json
import uuid
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from nudge_local.client import LocalClient
from tests.e2e.helpers import event, inbox, nudge

pytestmark = pytest.mark.e2e
STATIONS = Path(__file__).resolve().parents[2] / "events" / "geofences" / "stations.geojson"
# Amsterdam Centraal in that file: a box from lat 52.378336 to 52.379864, lng 4.89647 to
# 4.90413 (inradius ~85 m), centred on 52.3791, 4.9003; its southern edge faces the city.
SOUTH_EDGE = 52.378336


def fix(when: datetime, lat: float, lng: float, accuracy_m: float) -> dict[str, Any]:
    """A location event as the SDK sends it: the position in `location`, not in properties."""
    return {
        **event("location_update", when),
        "location": {"lat": lat, "lng": lng, "accuracy_m": accuracy_m},
    }


def post(client: LocalClient, user: str, events: list[dict[str, Any]]) -> None:
    response = client.post_events(user, events)
    assert response.status_code == 202, response.text
    assert response.json() == {"accepted": len(events), "rejected": []}


def test_a_commuter_walks_into_the_station_and_gets_exactly_one_push(
    tmp_path: Path, stack_dir: Path, client: LocalClient
) -> None:
    # identical content is a no-op: whichever geofence test pushes first, the set is version 1
    pushed = nudge(stack_dir, "geofences", "push", str(STATIONS))
    assert pushed.returncode == 0, pushed.stdout + pushed.stderr
    cid = f"your-train-{uuid.uuid4().hex[:8]}"
    config = tmp_path / f"{cid}.yaml"
    config.write_text(
        f"""\
id: {cid}
name: Your train
category: marketing
status: active
trigger:
  geofence: {{ tags: [train_station], on: enter }}
variants:
  - id: a
    title: "Welcome to {{{{ station.name }}}}"
    body: Live departures and platform changes for your trip
delivery: {{ cooldown: 12h, max_per_user: 5, ttl: 30m, respect_quiet_hours: false }}
"""
    )
    pushed = nudge(stack_dir, "campaign", "push", str(config))
    assert pushed.returncode == 0, pushed.stdout + pushed.stderr
    client.advance("1m")  # the processor re-reads published campaigns and fences within 30 s

    # kim grants location consent; lou wants offers but never shares their location
    kim, lou = (f"{name}-{uuid.uuid4().hex[:8]}" for name in ("kim", "lou"))
    tokens = {}
    for user, location in ((kim, True), (lou, False)):
        tokens[user] = f"tok-{uuid.uuid4().hex}"
        device = {"token": tokens[user], "platform": "android", "locale": "en-GB"}
        assert client.request("PUT", "/v1/devices/phone", user=user, json_body=device).ok
        consent = {"categories": {"marketing": True, "location": location}}
        assert client.request("PUT", "/v1/me/preferences", user=user, json_body=consent).ok

    # the morning (whatever hour the shared clock shows: quiet hours are off): from ~1 km
    # south, near Dam square, up Damrak into the station, a fix every few minutes
    t0 = datetime.fromisoformat(client.now()) - timedelta(minutes=30)

    def at(minutes: float) -> datetime:
        return t0 + timedelta(minutes=minutes)

    buffered = fix(at(10), 52.3775, 4.8995, 15)  # 93 m outside; the phone sends it late
    on_platform = fix(at(17), 52.3790, 4.9000, 12)
    arrival = fix(at(15), 52.3791, 4.9003, 10)  # deep inside: the one enter
    walk_in = [
        fix(at(0), 52.3700, 4.8950, 20),
        fix(at(4), 52.3730, 4.8970, 15),
        fix(at(8), 52.3760, 4.8990, 15),
        # jitter at the boundary: 4 m out, 13 m in, 6 m out, 18 m in, each within its own
        # accuracy of the edge, so inside the hysteresis band: no enter, no exit, no flapping
        fix(at(12), SOUTH_EDGE - 0.00004, 4.8996, 30),
        fix(at(12.5), SOUTH_EDGE + 0.00012, 4.8997, 30),
        fix(at(13), SOUTH_EDGE - 0.00005, 4.8998, 35),
        fix(at(13.5), SOUTH_EDGE + 0.00016, 4.8999, 40),
        arrival,
        on_platform,
    ]
    # a phone that buffered a fix sends it after newer ones, the SDK resends two it was not
    # sure had arrived (same event ids: duplicates), then the train pulls out westwards (exit)
    late_and_departure = [
        buffered,
        arrival,
        on_platform,
        fix(at(24), 52.3800, 4.8850, 25),
        fix(at(26), 52.3830, 4.8700, 30),
    ]
    for user in (kim, lou):
        post(client, user, walk_in)
    client.drain()
    assert inbox(client, tokens[kim]) == ["Welcome to Amsterdam Centraal"]
    for user in (kim, lou):
        post(client, user, late_and_departure)
    client.drain()
    assert inbox(client, tokens[kim]) == ["Welcome to Amsterdam Centraal"]

    # the evening: back by train into the same station (enter within the 12 h cooldown),
    # then out on foot (exit) and home
    client.advance("9h")
    e0 = datetime.fromisoformat(client.now()) - timedelta(minutes=20)
    evening = [
        fix(e0 + timedelta(minutes=minutes), lat, lng, accuracy)
        for minutes, lat, lng, accuracy in [
            (0, 52.3830, 4.8700, 30),
            (2, 52.3800, 4.8850, 25),
            (4, 52.3788, 4.8990, 10),
            (6, 52.3786, 4.9000, 15),
            (10, 52.3760, 4.8990, 15),
            (14, 52.3730, 4.8970, 15),
            (18, 52.3700, 4.8950, 20),
        ]
    ]
    for user in (kim, lou):
        post(client, user, evening)
    client.drain()
    assert inbox(client, tokens[kim]) == ["Welcome to Amsterdam Centraal"]
    assert inbox(client, tokens[lou]) == []  # never tracked, so never a candidate

    # exactly two enters were derived (the late fix, the resent ones and the jitter added
    # none): the morning one sent, the evening one stopped by the cooldown; lou, never
    # tracked, has no decisions at all
    report = nudge(stack_dir, "report", "campaigns", "--days", "7", "--json")
    assert report.returncode == 0, report.stderr
    row = json.loads(report.stdout)["campaigns"][cid]
    assert row["sent"] == 1
    assert row["suppressed"] == {"cooldown": 1}
