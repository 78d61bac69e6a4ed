"""`nudge import pinpoint-campaign`, continued: schedules keep Pinpoint's send times through
Nudge's scheduler, and bad or damaged input fails with the file and field (or still converts
to files that validate). The documents are test_pinpoint_campaigns.py's."""

from __future__ import annotations

import copy
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nudge.domain.campaigns.triggers import next_schedule_slot
from nudge.domain.migration.pinpoint_campaigns import convert_campaign
from nudge.domain.migration.pinpoint_reading import PinpointFormatError
from nudge.models.campaign import Campaign
from tests.unit.test_pinpoint_campaigns import (
    ALL_USERS,
    BUYERS,
    TABLE,
    WEEKLY_AB,
    campaign,
    run_import,
)

# --- schedules: Pinpoint's send time is the time Nudge's scheduler plans --------------------

ZONES = ["UTC", "America/Los_Angeles", "Asia/Kolkata", "Pacific/Auckland"]
STEP = {
    "HOURLY": timedelta(hours=1),
    "DAILY": timedelta(days=1),
    "WEEKLY": timedelta(days=7),
}


def _schedule_of(schedule: dict[str, Any]) -> Campaign:
    documents, _ = convert_campaign(campaign("Roundtrip", schedule), [("s.json", ALL_USERS)])
    return Campaign.model_validate(documents["campaigns/roundtrip.yaml"])


@pytest.mark.parametrize("frequency", ["ONCE", "HOURLY", "DAILY", "WEEKLY", "MONTHLY"])
@pytest.mark.parametrize(
    ("start", "offset", "wall"),
    [
        ("2026-03-10T09:30:00Z", None, datetime(2026, 3, 10, 9, 30)),
        ("2026-03-10T09:30:00", "UTC+05:30", datetime(2026, 3, 10, 9, 30)),
        ("2026-03-10T04:00:00Z", "UTC+05:30", datetime(2026, 3, 10, 9, 30)),  # 09:30 at +05:30
        ("2026-07-04T18:45:00-07:00", "UTC-07", datetime(2026, 7, 4, 18, 45)),
    ],
)
def test_local_time_schedules_round_trip(
    frequency: str, start: str, offset: str | None, wall: datetime
) -> None:
    """IsLocalTime: every user gets Pinpoint's clock time in their own zone, at its frequency."""
    schedule = {"StartTime": start, "Frequency": frequency, "IsLocalTime": True}
    if offset:
        schedule["Timezone"] = offset
    trigger = _schedule_of(schedule).trigger.schedule
    assert trigger is not None and trigger.local_time
    for zone in ZONES:
        local = wall.replace(tzinfo=ZoneInfo(zone))
        just_before = int((local - timedelta(minutes=1)).timestamp())
        slot = next_schedule_slot(trigger.cron, just_before, zone)
        assert datetime.fromtimestamp(slot, ZoneInfo(zone)) == local, zone
        if frequency in STEP:
            following = next_schedule_slot(trigger.cron, slot, zone)
            expected = (local.replace(tzinfo=None) + STEP[frequency]).replace(tzinfo=ZoneInfo(zone))
            assert datetime.fromtimestamp(following, ZoneInfo(zone)) == expected
        elif frequency == "MONTHLY":
            following = datetime.fromtimestamp(
                next_schedule_slot(trigger.cron, slot, zone), ZoneInfo(zone)
            )
            assert (following.month, following.day, following.hour) == (
                wall.month % 12 + 1,
                wall.day,
                wall.hour,
            )


@pytest.mark.parametrize(
    ("start", "offset", "instant"),
    [
        ("2026-03-10T09:30:00Z", None, datetime(2026, 3, 10, 9, 30, tzinfo=UTC)),
        ("2026-03-10T09:30:00", "UTC-05", datetime(2026, 3, 10, 14, 30, tzinfo=UTC)),
        ("2026-03-10T09:30:00+09:00", "UTC-05", datetime(2026, 3, 10, 0, 30, tzinfo=UTC)),
    ],
)
def test_fixed_time_schedules_send_at_the_same_instant(
    start: str, offset: str | None, instant: datetime
) -> None:
    schedule = {"StartTime": start, "Frequency": "DAILY", "IsLocalTime": False}
    if offset:
        schedule["Timezone"] = offset
    trigger = _schedule_of(schedule).trigger.schedule
    assert trigger is not None and not trigger.local_time
    before = int(instant.timestamp()) - 60
    for zone in ZONES:  # local_time false: the user's zone does not move it
        assert next_schedule_slot(trigger.cron, before, "UTC") == int(instant.timestamp()), zone


# --- bad input: a clear error naming the field, never a traceback ---------------------------


def _broken(path: list[Any], value: Any) -> dict[str, Any]:
    doc = copy.deepcopy(WEEKLY_AB)
    target = doc["CampaignResponse"]
    for part in path[:-1]:
        target = target[part]
    target[path[-1]] = value
    return doc


@pytest.mark.parametrize(
    ("doc", "field"),
    [
        (_broken(["Name"], ""), "Name"),
        (_broken(["HoldoutPercent"], "10"), "HoldoutPercent: expected a number, got str"),
        (_broken(["Schedule", "QuietTime", "Start"], 2200), "Schedule.QuietTime.Start"),
        (_broken(["Schedule", "StartTime"], "next monday"), "Schedule.StartTime"),
        (_broken(["Schedule", "Frequency"], "FORTNIGHTLY"), "Schedule.Frequency"),
        (
            _broken(["AdditionalTreatments", 0, "SizePercent"], "30%"),
            "AdditionalTreatments[0].SizePercent",
        ),
        (_broken(["MessageConfiguration"], ["not", "an", "object"]), "MessageConfiguration"),
        (_broken(["Limits", "Daily"], True), "Limits.Daily"),
        ({"CampaignResponse": []}, "CampaignResponse: expected an object"),
        ([1, 2], "expected a JSON object"),
    ],
)
def test_bad_campaigns_name_the_field(
    doc: Any, field: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_:
        run_import(tmp_path, doc, [BUYERS])
    assert isinstance(exit_.value.code, str)  # printed to stderr, exit status 1
    assert "campaign.json" in exit_.value.code and field in exit_.value.code
    assert not (tmp_path / "out").exists()


def test_a_bad_segment_names_its_file_and_field(tmp_path: Path) -> None:
    bad = copy.deepcopy(BUYERS)
    bad["SegmentResponse"]["Dimensions"]["Attributes"]["plan"]["Values"] = "gold"
    with pytest.raises(SystemExit) as exit_:
        run_import(tmp_path, WEEKLY_AB, [bad])
    assert str(exit_.value.code).startswith(str(tmp_path / "segment-0.json"))
    assert "Dimensions.Attributes.plan.Values: expected a list, got str" in str(exit_.value.code)


def test_not_json_exits_non_zero_with_the_line_and_no_traceback(tmp_path: Path) -> None:
    path = tmp_path / "campaign.json"
    path.write_text('{\n  "Name": "x",\n  "Schedule": {oops}\n}\n')
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "nudge_cli",
            "import",
            "pinpoint-campaign",
            str(path),
            "--out",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode != 0
    assert f"{path}:3: not valid JSON" in done.stderr
    assert "Traceback" not in done.stderr


def test_the_domain_error_names_the_field() -> None:
    doc = copy.deepcopy(WEEKLY_AB["CampaignResponse"])
    del doc["SegmentId"]
    with pytest.raises(PinpointFormatError, match=r"^c\.json: SegmentId: missing"):
        convert_campaign(doc, source="c.json")


# --- any damage: a located error, or files that validate -------------------------------------

ODD_VALUES = [
    None, "", "Z z", 0, -5, 3.5, 1e30, True, [], {}, ["a"], {"a": 1}, "UTC+05:30",
    "INCLUSIVE", "GREATER_THAN", "2026-01-01T00:00:00Z", "{% for x in y %}", "{{ a.b(1) }}",
    "{{#if x}}yes{{/if}}", "}}{{", "x{{Attributes.y}}" * 300, "é" * 199 + "{{Attributes.n}}",
]  # fmt: skip
CASES = [(doc, segs) for doc, segs, _, _ in TABLE.values()]


@settings(max_examples=150, deadline=None)
@given(st.data())
def test_damaged_documents_fail_clearly_or_still_validate(data: st.DataObject) -> None:
    from nudge_cli.pinpoint_campaigns import check, to_yaml

    doc, segments = data.draw(st.sampled_from(CASES))
    documents = [copy.deepcopy(next(iter(d.values()))) for d in [doc, *segments]]
    for _ in range(data.draw(st.integers(1, 3))):
        target_doc = data.draw(st.sampled_from(documents))
        path = data.draw(st.sampled_from([p for p in _paths(target_doc) if p]))
        parent = target_doc
        for part in path[:-1]:
            parent = parent[part]
        if data.draw(st.booleans()) and isinstance(parent, dict):
            del parent[path[-1]]
        else:
            parent[path[-1]] = copy.deepcopy(data.draw(st.sampled_from(ODD_VALUES)))
    segs = [(f"s{i}.json", d) for i, d in enumerate(documents[1:])]
    failure: PinpointFormatError | None = None
    try:
        converted, _ = convert_campaign(documents[0], segs, source="c.json")
    except PinpointFormatError as error:
        failure = error
    if failure is not None:  # located: the file, then the field
        assert str(failure).startswith(("c.json: ", "s0.json: ", "s1.json: "))
        return
    texts = {path: to_yaml(body, "# test") for path, body in converted.items()}
    assert check(texts) == []


def _paths(value: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [path]
    children = (
        value.items()
        if isinstance(value, dict)
        else enumerate(value)
        if isinstance(value, list)
        else []
    )
    for key, child in children:
        found += _paths(child, (*path, key))
    return found
