"""`nudge import pinpoint-campaign`: Pinpoint campaigns and segments (shapes of the public
GetCampaign / GetSegment responses) become Nudge YAML that `nudge campaign validate` accepts,
and every field that does not carry over is reported with its reason."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from nudge.domain.migration.pinpoint_campaigns import convert_campaign
from nudge_cli.main import main

BOOKKEEPING = {
    "Id": "c0ffee01",
    "Arn": "arn:aws:mobiletargeting:eu-west-1:123456789012:apps/6a1b/campaigns/c0ffee01",
    "ApplicationId": "6a1b",
    "CreationDate": "2025-03-01T10:00:00.000Z",
    "LastModifiedDate": "2025-03-02T10:00:00.000Z",
    "Version": 3,
    "State": {"CampaignStatus": "SCHEDULED"},
    "DefaultState": {"CampaignStatus": "SCHEDULED"},
}


def segment(segment_id: str, name: str, **fields: Any) -> dict[str, Any]:
    return {
        "SegmentResponse": {
            "Id": segment_id,
            "Name": name,
            "SegmentType": "DIMENSIONAL",
            "ApplicationId": "6a1b",
            "Arn": f"arn:aws:mobiletargeting:eu-west-1:1234:apps/6a1b/segments/{segment_id}",
            "CreationDate": "2025-02-01T10:00:00.000Z",
            "Version": 1,
            **fields,
        }
    }


def campaign(name: str, schedule: dict[str, Any], **fields: Any) -> dict[str, Any]:
    body = {
        "MessageConfiguration": {"DefaultMessage": {"Title": "Hello", "Body": "Hi there"}},
        "SegmentId": "seg-all",
        "SegmentVersion": 1,
    }
    return {
        "CampaignResponse": {**BOOKKEEPING, "Name": name, **body, "Schedule": schedule, **fields}
    }


ALL_USERS = segment("seg-all", "All users", Dimensions={})
BUYERS = segment(
    "seg-buyers",
    "Engaged Android buyers",
    Dimensions={
        "Attributes": {
            "plan": {"AttributeType": "INCLUSIVE", "Values": ["gold", "silver"]},
            "signup_date": {"AttributeType": "AFTER", "Values": ["2024-01-01T00:00:00Z"]},
            "home city": {"AttributeType": "EXCLUSIVE", "Values": ["Paris"]},
        },
        "UserAttributes": {"FirstName": {"AttributeType": "CONTAINS", "Values": ["an"]}},
        "Behavior": {"Recency": {"Duration": "DAY_7", "RecencyType": "ACTIVE"}},
        "Demographic": {
            "Platform": {"DimensionType": "INCLUSIVE", "Values": ["Android"]},
            "AppVersion": {"DimensionType": "EXCLUSIVE", "Values": ["1.0.0"]},
            "Make": {"DimensionType": "INCLUSIVE", "Values": ["samsung"]},
            "Channel": {"DimensionType": "INCLUSIVE", "Values": ["GCM"]},
        },
        "Location": {
            "Country": {"DimensionType": "INCLUSIVE", "Values": ["es", "FR"]},
            "GPSPoint": {
                "Coordinates": {"Latitude": 40.41, "Longitude": -3.7},
                "RangeInKilometers": 25,
            },
        },
        "Metrics": {"purchases": {"ComparisonOperator": "GREATER_THAN", "Value": 2}},
    },
)
LAPSED = segment(
    "seg-lapsed",
    "Lapsed",
    Dimensions={"Behavior": {"Recency": {"Duration": "DAY_30", "RecencyType": "INACTIVE"}}},
)
GROUPED = segment(
    "seg-grouped",
    "iOS or Android in Spain, not testers",
    SegmentGroups={
        "Include": "ALL",
        "Groups": [
            {
                "Type": "ANY",
                "SourceType": "ANY",
                "SourceSegments": [{"Id": "seg-all", "Version": 1}],
                "Dimensions": [
                    {
                        "Demographic": {
                            "Platform": {"DimensionType": "INCLUSIVE", "Values": ["iOS"]}
                        }
                    },
                    {"Location": {"Country": {"DimensionType": "INCLUSIVE", "Values": ["ES"]}}},
                ],
            },
            {
                "Type": "NONE",
                "Dimensions": [
                    {
                        "UserAttributes": {
                            "tester": {"AttributeType": "INCLUSIVE", "Values": ["yes"]}
                        }
                    }
                ],
            },
        ],
    },
)
IMPORTED = segment("seg-vip", "VIP list", SegmentType="IMPORT", ImportDefinition={"Size": 120})

WEEKLY_AB = campaign(
    "Weekly Deals!",
    {
        "StartTime": "2026-01-05T09:30:00Z",
        "EndTime": "2026-06-01T00:00:00Z",
        "Frequency": "WEEKLY",
        "IsLocalTime": True,
        "Timezone": "UTC",
        "QuietTime": {"Start": "22:00", "End": "07:00"},
    },
    SegmentId="seg-buyers",
    HoldoutPercent=10,
    TreatmentName="Control",
    MessageConfiguration={
        "DefaultMessage": {"Title": "Deals", "Body": "Hi {{User.UserAttributes.FirstName}}!"},
        "GCMMessage": {
            "Title": "Deals for you",
            "Action": "DEEP_LINK",
            "Url": "app://deals",
            "ImageUrl": "https://cdn.example.com/deals.png",
            "ImageIconUrl": "https://cdn.example.com/icon.png",
            "TimeToLive": 7200,
        },
        "APNSMessage": {"Title": "Deals (iOS)", "Body": "Hi {{User.UserAttributes.FirstName}}!"},
        "SMSMessage": {"Body": "Deals: example.com"},
    },
    AdditionalTreatments=[
        {
            "Id": "t1",
            "SizePercent": 30,
            "TreatmentName": "Emoji",
            "MessageConfiguration": {
                "GCMMessage": {"Title": "🔥 Deals", "Body": "{{EndpointId}} hot"}
            },
        },
        {
            "Id": "t2",
            "SizePercent": 20,
            "TreatmentName": "Templated",
            "TemplateConfiguration": {"PushTemplate": {"Name": "deals-v2", "Version": "4"}},
        },
    ],
    Limits={"Daily": 2, "Total": 5, "Session": 1, "MessagesPerSecond": 50, "MaximumDuration": 3600},
    Hook={"LambdaFunctionName": "filter", "Mode": "FILTER"},
    tags={"team": "growth"},
)
PURCHASE_FOLLOW_UP = campaign(
    "Thanks for buying",
    {
        "StartTime": "IMMEDIATE",
        "Frequency": "EVENT",
        "IsLocalTime": False,
        "EventFilter": {
            "FilterType": "ENDPOINT",
            "Dimensions": {
                "EventType": {"DimensionType": "INCLUSIVE", "Values": ["_monetization.purchase"]},
                "Attributes": {
                    "_product_id": {"AttributeType": "INCLUSIVE", "Values": ["sku-1", "sku-2"]},
                    "_store": {"AttributeType": "EXCLUSIVE", "Values": ["test"]},
                },
                "Metrics": {
                    "_item_price": {"ComparisonOperator": "GREATER_THAN_OR_EQUAL", "Value": 10}
                },
            },
        },
    },
    SegmentId="seg-grouped",
    Limits={"Daily": 1, "Total": 0},
)
WINBACK = campaign(
    "We miss you",
    {
        "StartTime": "2026-02-01T00:00:00Z",
        "Frequency": "EVENT",
        "EventFilter": {
            "FilterType": "SYSTEM",
            "Dimensions": {
                "EventType": {
                    "DimensionType": "INCLUSIVE",
                    "Values": ["_session.start", "_userauth.sign_in"],
                }
            },
        },
    },
    SegmentId="seg-lapsed",
    MessageConfiguration={
        "APNSMessage": {
            "Title": "Welcome back",
            "Body": "New in {{Location.Country}}",
            "Url": "app://new",
            "Action": "OPEN_APP",
        }
    },
)
NEW_YEAR = campaign(
    "New year sale",
    {
        "StartTime": "2026-12-31T18:00:00",
        "Frequency": "ONCE",
        "IsLocalTime": False,
        "Timezone": "UTC-05",
    },
    SegmentId="seg-vip",
)
BROADCAST = campaign("Outage notice", {"StartTime": "IMMEDIATE", "Frequency": "ONCE"})
MONTHLY_UNKNOWN_SEGMENT = campaign(
    "Monthly digest",
    {"StartTime": "2026-01-31T08:15:00+01:00", "Frequency": "MONTHLY", "IsLocalTime": False},
    SegmentId="seg-not-given",
)
BAD_EVENT_NAME = campaign(
    "Cart reminder",
    {
        "StartTime": "IMMEDIATE",
        "Frequency": "EVENT",
        "EventFilter": {
            "FilterType": "ENDPOINT",
            "Dimensions": {"EventType": {"DimensionType": "INCLUSIVE", "Values": ["Add To Cart"]}},
        },
    },
)

# name -> (campaign, segments, what the YAML must say, fields the report must name)
TABLE: dict[str, tuple[dict[str, Any], list[dict[str, Any]], dict[str, Any], set[str]]] = {
    "weekly a/b, local time, template": (
        WEEKLY_AB,
        [BUYERS],
        {
            "trigger": {"schedule": {"cron": "30 9 * * 1", "local_time": True}},
            "holdout_pct": 10,
            "weights": {"control": 40, "emoji": 30, "templated": 20},
            "delivery": {
                "cooldown": "12h",
                "max_per_user": 5,
                "ttl": "1h",
                "send_window": {"start": "07:00", "end": "22:00"},
            },
            "audience": {"segment": "engaged-android-buyers"},
        },
        {
            "Dimensions.Attributes.signup_date",
            "Dimensions.UserAttributes.FirstName",
            "Dimensions.Demographic.Make",
            "Dimensions.Demographic.Channel",
            "Limits.Daily",
            "Limits.Session",
            "Limits.MessagesPerSecond",
            "Schedule.EndTime",
            "Hook",
            "tags",
            "MessageConfiguration.SMSMessage",
            "MessageConfiguration.GCMMessage.ImageIconUrl",
            "MessageConfiguration.APNSMessage.Title",
            "AdditionalTreatments[0].MessageConfiguration.Body",
            "AdditionalTreatments[1].TemplateConfiguration.PushTemplate",
        },
    ),
    "purchase event with filters": (
        PURCHASE_FOLLOW_UP,
        [GROUPED, ALL_USERS],
        {
            "trigger": {
                "event": {
                    "name": "purchase",
                    "where": {"product_id": ["sku-1", "sku-2"], "item_price": {"gte": 10.0}},
                }
            },
            "delivery": {"cooldown": "1d", "max_per_user": 1000},
        },
        {"Schedule.EventFilter.Dimensions.Attributes._store", "Limits.Total"},
    ),
    "win-back on session start, iOS text": (
        WINBACK,
        [LAPSED],
        {"trigger": {"event": {"name": "session_start"}}, "audience": {"segment": "lapsed"}},
        {"Schedule.EventFilter.Dimensions.EventType.Values", "MessageConfiguration.Url"},
    ),
    "once at an offset, imported segment": (
        NEW_YEAR,
        [IMPORTED],
        {
            "trigger": {"schedule": {"cron": "0 23 31 12 *", "local_time": False}},
            "delivery": {"max_per_user": 1},
        },
        {"Schedule.Frequency", "SegmentType", "ImportDefinition"},
    ),
    "monthly, segment not given": (
        MONTHLY_UNKNOWN_SEGMENT,
        [],
        {
            "trigger": {"schedule": {"cron": "15 7 31 * *", "local_time": False}},
            "audience": {"segment": "pinpoint-seg-not-given"},
        },
        {"SegmentId", "Schedule.StartTime"},
    ),
}


def run_import(tmp_path: Path, doc: dict[str, Any], segments: list[dict[str, Any]]) -> dict:
    campaign_file = tmp_path / "campaign.json"
    campaign_file.write_text(json.dumps(doc))
    args = ["import", "pinpoint-campaign", str(campaign_file), "--out", str(tmp_path / "out")]
    for index, seg in enumerate(segments):
        path = tmp_path / f"segment-{index}.json"
        path.write_text(json.dumps(seg))
        args += ["--segment", str(path)]
    return {"code": main([*args, "--json"])}


@pytest.mark.parametrize("case", list(TABLE))
def test_converted_campaigns_validate_and_report(
    case: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    doc, segments, expected, reported = TABLE[case]
    assert run_import(tmp_path, doc, segments)["code"] == 0
    output = json.loads(capsys.readouterr().out)
    campaign_files = [p for p in output["written"] if "/campaigns/" in p]
    segment_files = [p for p in output["written"] if "/segments/" in p]
    assert len(campaign_files) == 1 and len(segment_files) == (1 if segments else 0)

    # the very command a marketer runs next
    validate = ["campaign", "validate", *campaign_files]
    assert main(validate + (["--segments", segment_files[0]] if segment_files else [])) == 0
    assert "is valid" in capsys.readouterr().out

    written = yaml.safe_load(Path(campaign_files[0]).read_text())
    assert written["status"] == "draft"
    for key, value in expected.items():
        if key == "weights":
            assert {v["id"]: v["weight"] for v in written["variants"]} == value
        elif key == "delivery":
            assert {k: written["delivery"].get(k) for k in value} == value
        else:
            assert written[key] == value, key
    fields = {row["field"] for row in output["unconverted"]}
    assert reported <= fields, reported - fields
    assert all(row["reason"] for row in output["unconverted"])


def test_the_weekly_campaign_in_detail(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run_import(tmp_path, WEEKLY_AB, [BUYERS])
    capsys.readouterr()
    out = tmp_path / "out"
    written = yaml.safe_load((out / "campaigns/weekly-deals.yaml").read_text())
    control, emoji, templated = written["variants"]
    assert control["title"] == "Deals for you"  # GCM's title over the default one
    assert control["body"] == "Hi {{ user.FirstName | default('') }}!"
    assert control["deep_link"] == "app://deals"
    assert control["image"] == "https://cdn.example.com/deals.png"
    assert emoji["body"] == " hot"  # {{EndpointId}} has no equivalent: left out, reported
    assert "deals-v2" in templated["body"]
    segments = yaml.safe_load((out / "segments/pinpoint-weekly-deals.yaml").read_text())
    assert segments["segments"]["engaged-android-buyers"] == {
        "attributes": {
            "plan": ["gold", "silver"],
            "purchases": {"gte": 2.0000000000000004},  # GREATER_THAN 2: the next float
            "platform": ["android"],
            "country": ["ES", "FR"],
        },
        "recency": {"within_days": 7},
        "location": {"near": {"lat": 40.41, "lng": -3.7, "radius_km": 25}},
        "not": {
            "any": [
                {"attributes": {"home_city": ["Paris"]}},
                {"attributes": {"app_version": ["1.0.0"]}},
            ]
        },
    }


def test_segment_groups_become_any_all_not(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run_import(tmp_path, PURCHASE_FOLLOW_UP, [GROUPED, ALL_USERS])
    capsys.readouterr()
    named = yaml.safe_load((tmp_path / "out/segments/pinpoint-thanks-for-buying.yaml").read_text())
    assert named["segments"]["ios-or-android-in-spain-not-testers"] == {
        "all": [
            {
                "all": [
                    {"segment": "all-users"},
                    {
                        "any": [
                            {"attributes": {"platform": ["ios"]}},
                            {"attributes": {"country": ["ES"]}},
                        ]
                    },
                ]
            },
            {"not": {"attributes": {"tester": ["yes"]}}},
        ]
    }
    assert named["segments"]["all-users"] == {}


@pytest.mark.parametrize("doc", [BROADCAST, BAD_EVENT_NAME], ids=["immediate", "bad event name"])
def test_no_trigger_no_campaign_and_says_why(
    doc: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run_import(tmp_path, doc, [ALL_USERS])["code"] == 0
    output = json.loads(capsys.readouterr().out)
    assert [p for p in output["written"] if "/campaigns/" in p] == []
    assert any("no campaign written" in row["reason"] for row in output["unconverted"])


def _dicts(value: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = []
    if isinstance(value, dict):
        found.append(path)
        for key, child in value.items():
            found += _dicts(child, (*path, key))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            found += _dicts(child, (*path, index))
    return found


def _field(path: tuple[Any, ...]) -> str:
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else part)
    return text


@pytest.mark.parametrize("case", list(TABLE))
def test_an_unknown_field_anywhere_is_reported(case: str) -> None:
    """Nothing is dropped silently: a field the converter does not know, at any depth, is
    reported (itself, or within a part reported whole)."""
    doc, segments, _, _ = TABLE[case]
    documents = [next(iter(d.values())) for d in [doc, *segments]]
    for which, inner in enumerate(documents):
        source = "campaign.json" if which == 0 else f"seg{which - 1}.json"
        for path in _dicts(inner):
            if any(part in ("State", "DefaultState") for part in path):
                continue  # Pinpoint's bookkeeping: reported as a whole at the top
            changed = copy.deepcopy(inner)
            target = changed
            for part in path:
                target = target[part]
            target["FutureFeature"] = {"Enabled": True}
            given = [changed if i == which else d for i, d in enumerate(documents)]
            segs = [(f"seg{i}.json", d) for i, d in enumerate(given[1:])]
            _, unconverted = convert_campaign(given[0], segs, source="campaign.json")
            wanted = _field((*path, "FutureFeature"))
            assert any(
                u.source == source
                and (wanted == u.field or wanted.startswith((f"{u.field}.", f"{u.field}[")))
                for u in unconverted
            ), (case, wanted)


def test_imported_cohorts_keep_holdout_and_variants_together() -> None:
    """Issue 24: a converted campaign buckets imported users by their Pinpoint cohort (the
    lowest cohorts held out, the rest shared out by weight); others by hash, as before."""
    from nudge.domain.campaigns import in_holdout, pick_variant
    from nudge.domain.migration.pinpoint_endpoints import COHORT_ATTRIBUTE
    from nudge.models.campaign import Campaign
    from nudge.models.profile import Attribute

    campaign = Campaign.model_validate(
        {
            "id": "welcome", "name": "Welcome", "holdout_pct": 10,
            "cohort_attribute": COHORT_ATTRIBUTE,
            "trigger": {"event": {"name": "signup_completed"}},
            "variants": [{"id": "a", "weight": 1, "title": "Hi", "body": "B"},
                         {"id": "b", "weight": 1, "title": "Hey", "body": "B"}],
        }
    )  # fmt: skip

    def cohort(n: object) -> dict[str, Attribute]:
        return {COHORT_ATTRIBUTE: Attribute(value=str(n), at=0)}

    held = [n for n in range(100) if in_holdout(campaign, f"u{n}", cohort(n))]
    assert held == list(range(10))
    variants = [pick_variant(campaign, f"u{n}", cohort(n)) for n in range(10, 100)]
    assert variants == ["a"] * 45 + ["b"] * 45  # in order of cohort, by weight
    # the same cohort, whoever the user: the groups stay together
    assert {pick_variant(campaign, user, cohort(57)) for user in ("x", "y", "z")} == {"b"}
    # no cohort (or a bad one): the hash, as for any campaign
    plain = campaign.model_copy(update={"cohort_attribute": None})
    for attributes in ({}, cohort("x"), cohort(100)):
        assert pick_variant(campaign, "ann", attributes) == pick_variant(plain, "ann")
        assert in_holdout(campaign, "ann", attributes) == in_holdout(plain, "ann")
