"""`nudge import pinpoint-endpoints`: the mapping (pure) and the import over in-memory stores."""

from __future__ import annotations

import argparse
import gzip
import json
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from nudge.adapters.metering import WriteMeter
from nudge.clock import ManualClock
from nudge.domain.config import ConsentDefaults, EngagementConfig
from nudge.domain.migration.pinpoint_endpoints import (
    APNS_CHANNELS,
    SKIP_REASONS,
    merge_profile,
    parse_endpoint,
    plan_users,
)
from nudge.models.profile import Attribute, Profile
from nudge.services.migration.pinpoint_endpoints import SOURCE, EndpointImporter
from nudge_cli import pinpoint_endpoints as cli
from nudge_cli.main import main
from nudge_cli.pinpoint_sources import find_parts
from tests.fakes.devices import InMemoryDeviceStore
from tests.fakes.memory import InMemoryHistoryStore, InMemoryProfileStore
from tests.unit.test_pinpoint_endpoints_export import BROKEN_LINES, endpoint, write_export

NOW = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
NOW_S = int(NOW.timestamp())


class CountingProfiles(InMemoryProfileStore):
    """Counts writes; `fail_after` saves succeed, then every save fails (a lost connection)."""

    def __init__(self) -> None:
        super().__init__()
        self.writes = 0
        self.fail_after: int | None = None

    def save(self, profile: Profile, previous: Profile | None, *args: Any, **kw: Any) -> bool:
        if self.fail_after is not None and self.writes >= self.fail_after:
            raise ConnectionError("DynamoDB unreachable")
        self.writes += 1
        return super().save(profile, previous, *args, **kw)


class CountingDevices(InMemoryDeviceStore):
    def __init__(self) -> None:
        super().__init__()
        self.writes = 0

    def put_device(self, device: Any) -> bool:
        self.writes += 1
        return super().put_device(device)

    def save_preferences(self, prefs: Any, previous: Any) -> bool:
        self.writes += 1
        return super().save_preferences(prefs, previous)


class Stores:
    def __init__(self, mode: str = "opt_in") -> None:
        self.profiles = CountingProfiles()
        self.devices = CountingDevices()
        self.history = InMemoryHistoryStore()
        config = EngagementConfig(consent=ConsentDefaults(mode=mode))
        self.importer = EndpointImporter(
            self.profiles, self.devices, self.history, config, ManualClock(NOW)
        )

    @property
    def writes(self) -> int:
        return self.profiles.writes + self.devices.writes + len(self.history.consents)

    def state(self) -> Any:
        profiles = {k: v.model_dump() for k, v in self.profiles.items.items()}
        devices = {k: v.model_dump() for k, v in self.devices.devices_by_key.items()}
        prefs = {k: v.model_dump() for k, v in self.devices.prefs.items()}
        return profiles, devices, prefs, dict(self.history.consents)


def run(stores: Stores, paths: list[Path], chunk: int = 500) -> cli.ImportReport:
    parts = find_parts([str(p) for p in paths], lambda: None)
    return cli.run_import(parts, stores.importer, WriteMeter(), chunk=chunk)


# --- parsing -------------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "field"), BROKEN_LINES)
def test_a_broken_line_is_refused_naming_what_is_wrong(text: str, field: str) -> None:
    with pytest.raises(ValueError, match=field.replace(".", r"\.")):
        parse_endpoint(text)


def test_extra_keys_are_allowed_and_missing_ones_tolerated() -> None:
    parsed = parse_endpoint(json.dumps({"Id": "e-1", "SomethingNew": {"x": 1}}))
    assert parsed.user_id == "pinpoint:e-1"  # no User: an anonymous user keyed by the endpoint
    assert parsed.channel_type is None
    assert parsed.effective_at == 0


# --- mapping -------------------------------------------------------------------------------


def test_each_channel_becomes_a_device_a_reregistration_or_a_skip_with_its_reason() -> None:
    endpoints = [parse_endpoint(json.dumps(endpoint("gcm-1", "GCM")))]
    endpoints += [parse_endpoint(json.dumps(endpoint(f"{c}-1", c))) for c in APNS_CHANNELS]
    endpoints += [parse_endpoint(json.dumps(endpoint(f"{c}-1", c))) for c in SKIP_REASONS]
    endpoints.append(
        parse_endpoint(json.dumps(endpoint("gcm-2", "GCM", EndpointStatus="INACTIVE")))
    )
    [plan] = plan_users(endpoints, NOW_S)
    assert [d.device_id for d in plan.devices] == ["gcm-1"]
    device = plan.devices[0]
    assert (device.token, device.platform) == ("fcm-token-gcm-1", "android")
    assert plan.needs_reregistration == len(APNS_CHANNELS)
    assert sum(plan.skipped.values()) == len(SKIP_REASONS) + 1
    assert SKIP_REASONS["EMAIL"] in plan.skipped


def test_attributes_metrics_demographics_country_and_cohort_become_profile_attributes() -> None:
    data = endpoint(
        "e-1",
        CohortId="42",
        Demographic={"Locale": "nl_NL", "Timezone": "Europe/Amsterdam", "Platform": "Android",
                     "AppVersion": "3.2.0", "Make": "Google"},
        Location={"Country": "nl", "City": "Utrecht", "Latitude": 52.0907, "Longitude": 5.1214},
        Attributes={"plan": ["gold"], "interests": ["trains", "bikes"], "bad name!": ["x"]},
        Metrics={"rides": 12.0, "spend": 3.5},
        User={"UserId": "ann", "UserAttributes": {"team": ["ops"], "country": ["XX"]}},
    )  # fmt: skip
    [plan] = plan_users([parse_endpoint(json.dumps(data))], NOW_S)
    values = {k: a.value for k, a in plan.attributes.items()}
    assert values == {
        "plan": "gold", "interests": "trains,bikes", "bad_name_": "x", "team": "ops",
        "rides": 12, "spend": 3.5, "country": "NL", "locale": "nl_NL",
        "timezone": "Europe/Amsterdam", "platform": "android", "app_version": "3.2.0",
        "pinpoint_cohort": 42,
    }  # fmt: skip
    assert {a.at for a in plan.attributes.values()} == {
        int(datetime(2026, 10, 1, 10, tzinfo=UTC).timestamp())
    }
    without = merge_profile(None, plan, location_allowed=False).profile
    assert without.location is None and "city" not in without.attributes
    allowed = merge_profile(None, plan, location_allowed=True).profile
    assert allowed.location is not None and (allowed.location.lat, allowed.location.lng) == (
        52.091,
        5.121,
    )
    assert allowed.attributes["city"].value == "Utrecht"


def test_a_newer_value_the_app_set_is_kept_and_an_unchanged_profile_needs_no_write() -> None:
    gold = endpoint("e-1", Attributes={"plan": ["gold"]})
    [plan] = plan_users([parse_endpoint(json.dumps(gold))], NOW_S)
    first = merge_profile(None, plan, location_allowed=False)
    assert first.changed
    again = merge_profile(first.profile, plan, location_allowed=False)
    assert not again.changed
    newer = first.profile.model_copy(deep=True)
    newer.attributes["plan"] = Attribute(value="free", at=NOW_S)
    assert merge_profile(newer, plan, False).profile.attributes["plan"].value == "free"


# --- the import -----------------------------------------------------------------------------


def test_a_generated_export_is_imported_and_counted(tmp_path: Path) -> None:
    export = write_export(tmp_path, endpoints=3000, parts=4)
    stores = Stores()
    report = run(stores, export.parts)
    data = report.as_json()
    assert report.stopped is None
    assert data["endpoints"] == export.endpoints
    assert data["users"] == len(export.users)
    assert data["devices"] == export.devices
    assert data["needs_reregistration"] == export.needs_reregistration
    assert data["opted_out"] == len(export.opted_out)
    assert {(r["file"], r["line"]) for r in data["rejected"]} == {
        (f, n) for f, n, _ in export.broken
    }
    for rejected, (_, _, field) in zip(
        sorted(data["rejected"], key=lambda r: (r["file"], r["line"])),
        sorted(export.broken),
        strict=True,
    ):
        assert field.split(".")[0] in rejected["error"] or "JSON" in rejected["error"]
    skipped = Counter({SKIP_REASONS.get(c, c): n for c, n in export.skipped.items()})
    assert sum(data["skipped"].values()) == sum(skipped.values())
    # every user has a profile; each active GCM endpoint a device under its user
    assert set(stores.profiles.items) == export.users
    assert len(stores.devices.devices_by_key) == export.devices
    for user in export.opted_out:
        prefs = stores.devices.prefs[user]
        assert set(prefs.categories.values()) == {False}
        assert {c.source for c in prefs.consents.values()} == {SOURCE}
    consents = [c for (u, _), c in stores.history.consents.items() if u in export.opted_out]
    assert consents and {c["source"] for c in consents} == {SOURCE}
    a_user = next(u for u, items in export.by_user.items() if len(items) > 2)
    attributes = stores.profiles.items[a_user].attributes
    assert {"plan", "rides", "country", "pinpoint_cohort", "team"} <= set(attributes)


def test_a_second_run_writes_nothing(tmp_path: Path) -> None:
    export = write_export(tmp_path, endpoints=1200, parts=3)
    stores = Stores()
    first = run(stores, export.parts)
    before, writes = stores.state(), stores.writes
    assert writes > 0
    second = run(stores, export.parts, chunk=333)  # batched differently: the same outcome
    assert stores.writes == writes
    assert stores.state() == before
    assert second.as_json()["written"] == {
        "profiles": 0, "devices": 0, "preferences": 0, "write_units": 0
    }  # fmt: skip
    assert {k: first.as_json()[k] for k in ("users", "devices", "opted_out")} == {
        k: second.as_json()[k] for k in ("users", "devices", "opted_out")
    }


def test_an_import_stopped_midway_is_resumed_by_running_it_again(tmp_path: Path) -> None:
    export = write_export(tmp_path, endpoints=1500, parts=3)
    clean = Stores()
    run(clean, export.parts)
    stores = Stores()
    stores.profiles.fail_after = 400
    stopped = run(stores, export.parts)
    assert stopped.stopped is not None and "ConnectionError" in stopped.stopped
    assert 0 < len(stores.profiles.items) < len(export.users)
    stores.profiles.fail_after = None
    resumed = run(stores, export.parts)
    assert resumed.stopped is None
    # the saves done before the failure are not made again; the rest are made as in one run
    assert resumed.as_json()["written"]["profiles"] == clean.profiles.writes - 400
    assert stores.state() == clean.state()


def test_a_user_over_pinpoints_ten_endpoints_is_reported_not_fatal(tmp_path: Path) -> None:
    lines = [json.dumps(endpoint(f"e-{n}", "EMAIL", "busy")) for n in range(12)]
    path = tmp_path / "one.json"
    path.write_text("\n".join(lines) + "\n")
    stores = Stores()
    report = run(stores, [path])
    assert report.endpoints == 10
    assert [r["line"] for r in report.rejected] == [11, 12]
    assert "more than 10 endpoints" in report.rejected[0]["error"]


def test_an_erased_user_is_not_revived(tmp_path: Path) -> None:
    stores = Stores()
    stores.profiles.items["gone"] = Profile(user_id="gone", version=3, erased_at=NOW_S - 60)
    path = tmp_path / "part.json"
    path.write_text(json.dumps(endpoint("e-1", "GCM", "gone")) + "\n")
    report = run(stores, [path])
    assert report.as_json()["erased_users_left_out"] == 1
    assert stores.devices.devices_by_key == {}
    assert stores.profiles.items["gone"].attributes == {}


def test_a_token_the_app_registered_elsewhere_keeps_its_registration(tmp_path: Path) -> None:
    stores = Stores()
    path = tmp_path / "part.json"
    lines = [endpoint("e-1", "GCM", "ann"), endpoint("e-2", "GCM", "bob", Address="fcm-token-e-1")]
    path.write_text("\n".join(json.dumps(x) for x in lines) + "\n")
    report = run(stores, [path])
    assert list(stores.devices.devices_by_key) == [("ann", "e-1")]
    assert report.as_json()["skipped"] == {"token registered to another Nudge device already": 1}


def test_the_cli_prints_one_json_object(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    export = write_export(tmp_path, endpoints=300, parts=2)
    plain = tmp_path / "plain.json"  # a part that is not compressed
    plain.write_text(json.dumps(endpoint("solo", "GCM", "solo-user")) + "\n")
    stores = Stores()

    def importer(args: argparse.Namespace, meter: WriteMeter, clock: Any) -> EndpointImporter:
        return stores.importer

    monkeypatch.setattr(cli, "build_importer", importer)
    code = main(["import", "pinpoint-endpoints", str(tmp_path), "--json"])
    out, err = capsys.readouterr()
    data = json.loads(out)
    assert code == 0
    assert data["endpoints"] == export.endpoints + 1
    assert data["users"] == len(export.users) + 1
    for key in ("devices", "needs_reregistration", "opted_out"):
        assert isinstance(data[key], int)
    assert len(data["rejected"]) == len(export.broken)
    assert set(data["rejected"][0]) == {"file", "line", "error"}
    assert "endpoints" in err  # the progress line


def test_a_corrupt_gzip_part_is_reported_and_the_other_parts_imported(tmp_path: Path) -> None:
    good = tmp_path / "a.gz"
    good.write_bytes(gzip.compress((json.dumps(endpoint("e-1")) + "\n").encode()))
    bad = tmp_path / "b.gz"
    bad.write_bytes(gzip.compress(b'{"Id": "e-2"}\n' * 50)[:40])
    stores = Stores()
    report = run(stores, [bad, good])
    assert report.endpoints >= 1 and report.stopped is None
    assert any(r["file"] == str(bad) and "unreadable" in r["error"] for r in report.rejected)


@pytest.mark.parametrize(
    ("mode", "opt_out", "kept"),
    [("opt_in", "NONE", False), ("opt_out", "NONE", True), ("opt_out", "ALL", False)],
)
def test_coordinates_are_imported_only_with_location_consent(
    tmp_path: Path, mode: str, opt_out: str, kept: bool
) -> None:
    where = {"Country": "NL", "City": "Utrecht", "Latitude": 52.09, "Longitude": 5.12}
    path = tmp_path / "part.json"
    path.write_text(json.dumps(endpoint("e-1", "GCM", "ann", OptOut=opt_out, Location=where)))
    stores = Stores(mode)
    run(stores, [path])
    profile = stores.profiles.items["ann"]
    assert profile.attributes["country"].value == "NL"  # the country is always kept
    assert (profile.location is not None) is kept
    assert ("city" in profile.attributes) is kept


def test_a_users_data_export_includes_what_was_imported(tmp_path: Path) -> None:
    from nudge.services.profiles.privacy import PrivacyService

    path = tmp_path / "part.json"
    path.write_text(json.dumps(endpoint("e-1", "GCM", "ann", Attributes={"plan": ["gold"]})))
    stores = Stores()
    run(stores, [path])
    privacy = PrivacyService(
        stores.profiles, stores.history, EngagementConfig(), ManualClock(NOW), stores.devices
    )
    export = privacy.export("ann")
    assert export["profile"]["attributes"]["plan"]["value"] == "gold"  # imported, never active
    assert [d["device_id"] for d in export["devices"]] == ["e-1"]
