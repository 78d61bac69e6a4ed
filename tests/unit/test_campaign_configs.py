"""Campaign configs with in-memory fakes: versions, races, no-op re-uploads, restore, status."""

from __future__ import annotations

import contextlib
import random
import threading
from datetime import timedelta

import pytest

from nudge.clock import ManualClock
from nudge.configfiles import ConfigError
from nudge.models.profile import Profile, Stage
from nudge.services.campaigns.configs import (
    CampaignConfigService,
    check_campaign_text,
    estimate_audience,
    wilson,
)
from nudge.services.configs.store import ConfigStore
from tests.fakes.memory import InMemoryConfigTable
from tests.fakes.profile_sample import InMemoryProfileSampler


def campaign_yaml(
    cid: str = "welcome", title: str = "Hi {{ user.first_name }}", status: str = "active"
) -> str:
    return f"""\
id: {cid}
name: Welcome
category: transactional
status: {status}
trigger:
  event: {{ name: signed_up }}
variants:
  - id: a
    title: "{title}"
    body: Welcome aboard
"""


SEGMENTS = """\
segments:
  commuters:
    lifecycle: [active, loyal]
"""


def with_segment(cid: str = "commute", segment: str = "commuters") -> str:
    return campaign_yaml(cid) + f"audience:\n  segment: {segment}\n"


@pytest.fixture
def table() -> InMemoryConfigTable:
    return InMemoryConfigTable()


@pytest.fixture
def store(table: InMemoryConfigTable, clock: ManualClock) -> ConfigStore:
    return ConfigStore(table, clock, cache_ttl_s=30)


@pytest.fixture
def service(store: ConfigStore, clock: ManualClock) -> CampaignConfigService:
    return CampaignConfigService(store, clock)


def key(cid: str = "welcome") -> str:
    return f"campaigns/{cid}.yaml"


def test_publish_stores_versions_and_moves_the_pointer(service: CampaignConfigService) -> None:
    first = service.load_object(key(), campaign_yaml().encode(), "s3v1")
    assert (first.result, first.version) == ("loaded", 1)
    second = service.load_object(key(), campaign_yaml(title="Hello").encode(), "s3v2")
    assert (second.result, second.version) == ("loaded", 2)
    (row,) = service.list_campaigns()
    assert (row["id"], row["status"], row["version"], row["errors"]) == (
        "welcome",
        "active",
        2,
        [],
    )
    described = service.describe("welcome")
    assert described is not None
    assert [v["version"] for v in described["versions"]] == [1, 2]
    assert "Hello" in described["text"]


def test_identical_reupload_is_a_no_op(service: CampaignConfigService) -> None:
    service.load_object(key(), campaign_yaml().encode(), None)
    again = service.load_object(key(), campaign_yaml().encode(), None)
    assert (again.result, again.version) == ("unchanged", 1)
    assert len(service.store.versions("campaign", "welcome")) == 1


def test_concurrent_uploads_are_both_kept(table: InMemoryConfigTable, clock: ManualClock) -> None:
    # Both writers read "latest = v1" before either writes: one number is taken, the loser
    # retries with the next one. Neither upload is lost and the highest version is current.
    store = ConfigStore(table, clock)
    store.publish("campaign", "c", "one", {"id": "c"}, "active", "t")
    barrier = threading.Barrier(2)
    original = table.latest_version

    def racing_latest(kind: str, config_id: str):  # type: ignore[no-untyped-def]
        found = original(kind, config_id)
        if threading.current_thread().name.startswith("racer"):
            with contextlib.suppress(threading.BrokenBarrierError):
                barrier.wait(timeout=2)
        return found

    table.latest_version = racing_latest  # type: ignore[method-assign]
    results = []
    threads = [
        threading.Thread(
            target=lambda t=text: results.append(
                store.publish("campaign", "c", t, {"id": "c"}, "active", "t")
            ),
            name=f"racer-{text}",
        )
        for text in ("two", "three")
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    versions = store.versions("campaign", "c")
    assert [v.version for v in versions] == [1, 2, 3]
    assert {v.text for v in versions} == {"one", "two", "three"}
    head = store.head("campaign", "c")
    assert head is not None and head.version == 3
    assert store.catalog("campaign", fresh=True).entries["c"].version == 3


def test_bad_file_records_located_errors_and_keeps_the_previous_version(
    service: CampaignConfigService,
) -> None:
    service.load_object(key(), campaign_yaml().encode(), None)
    bad = campaign_yaml(title="Hi {{ usr.name }}").replace(
        "category: transactional", "category: spam"
    )
    outcome = service.load_object(key(), bad.encode(), None)
    assert outcome.result == "rejected"
    fields = {(p.field, p.line) for p in outcome.problems}
    assert ("category", 3) in fields
    (row,) = service.list_campaigns()
    assert row["version"] == 1 and row["status"] == "active"
    assert row["errors"][0]["source"] == key() and row["errors"][0]["line"] == 3
    # a good upload clears them
    service.load_object(key(), campaign_yaml(title="Fixed").encode(), None)
    (row,) = service.list_campaigns()
    assert row["version"] == 2 and row["errors"] == []


def test_unknown_template_variable_is_located(service: CampaignConfigService) -> None:
    outcome = service.load_object(key(), campaign_yaml(title="Hi {{ usr.name }}").encode(), None)
    assert outcome.result == "rejected"
    (problem,) = outcome.problems
    assert problem.field == "variants" and problem.line == 7 and "usr" in problem.message
    (row,) = service.list_campaigns()
    assert row["status"] == "not loaded" and row["errors"]


def test_file_id_must_match_its_key(service: CampaignConfigService) -> None:
    outcome = service.load_object(key("other"), campaign_yaml().encode(), None)
    assert outcome.result == "rejected"
    assert outcome.problems[0].field == "id" and outcome.problems[0].line == 1


def test_not_utf8_is_a_load_error(service: CampaignConfigService) -> None:
    outcome = service.load_object(key(), b"id: \xff\xfe", None)
    assert outcome.result == "rejected" and "UTF-8" in outcome.problems[0].message


def test_status_changes_and_restore(service: CampaignConfigService) -> None:
    service.load_object(key(), campaign_yaml().encode(), None)
    service.load_object(key(), campaign_yaml(title="Two").encode(), None)
    paused = service.set_status("welcome", "paused")
    assert paused is not None and paused.status == "paused" and paused.version == 2
    assert service.store.current().active() == {}
    restored = service.restore("welcome", 1)
    assert restored is not None and restored.version == 3 and restored.created
    head = service.store.head("campaign", "welcome")
    assert head is not None and head.status == "paused"  # a restore keeps the status
    assert service.store.get_version("campaign", "welcome", 3).text == campaign_yaml()  # type: ignore[union-attr]
    resumed = service.set_status("welcome", "active")
    assert resumed is not None and resumed.status == "active"
    assert list(service.store.current().active()) == ["welcome"]
    assert service.restore("welcome", 9) is None
    assert service.set_status("nope", "paused") is None


def test_deleting_the_file_archives_and_reuploading_brings_it_back(
    service: CampaignConfigService,
) -> None:
    service.load_object(key(), campaign_yaml().encode(), None)
    outcome = service.object_removed(key())
    assert outcome.result == "archived"
    head = service.store.head("campaign", "welcome")
    assert head is not None and head.status == "archived" and head.deleted
    assert service.store.catalog("campaign", fresh=True).entries == {}
    again = service.load_object(key(), campaign_yaml().encode(), None)
    assert again.result == "unchanged"
    head = service.store.head("campaign", "welcome")
    assert head is not None and head.status == "active" and not head.deleted


def test_named_segments_are_checked_both_ways(service: CampaignConfigService) -> None:
    refused = service.load_object(key("commute"), with_segment().encode(), None)
    assert refused.result == "rejected"
    assert "unknown segment 'commuters'" in refused.problems[0].message
    assert service.load_object("segments/core.yaml", SEGMENTS.encode(), None).result == "loaded"
    assert service.load_object(key("commute"), with_segment().encode(), None).result == "loaded"
    published = service.store.current()
    assert list(published.active()) == ["commute"] and "commuters" in published.segments
    # a segments file that drops a segment an active campaign uses is refused, naming it
    dropped = service.load_object(
        "segments/core.yaml", b"segments:\n  others:\n    lifecycle: [new]\n", None
    )
    assert dropped.result == "rejected"
    assert "campaign 'commute'" in dropped.problems[0].message
    # ...and so is deleting the file (it stays current)
    deleted = service.object_removed("segments/core.yaml")
    assert deleted.result == "rejected"
    assert service.store.head("segments", "core").status == "active"  # type: ignore[union-attr]
    # two files may not define the same name
    clash = service.load_object("segments/more.yaml", SEGMENTS.encode(), None)
    assert clash.result == "rejected" and "segments/core.yaml" in clash.problems[0].message
    assert clash.problems[0].line == 2


def test_the_catalog_is_cached_for_30_seconds(
    service: CampaignConfigService, table: InMemoryConfigTable, clock: ManualClock
) -> None:
    service.load_object(key(), campaign_yaml().encode(), None)
    reader = ConfigStore(table, clock, cache_ttl_s=30)  # another container
    assert list(reader.current().active()) == ["welcome"]
    service.set_status("welcome", "paused")
    reads = table.catalog_reads
    for _ in range(5):
        assert list(reader.current().active()) == ["welcome"]
    assert table.catalog_reads == reads  # no reads within the period
    clock.advance(timedelta(seconds=31))
    first = reader.current()
    assert first.active() == {} and first.campaigns["welcome"].status == "paused"
    assert table.catalog_reads == reads + 1  # one read for both kinds


def test_offline_validation_without_segments_skips_the_segment_check() -> None:
    campaign = check_campaign_text(with_segment(), "c.yaml", None)
    assert campaign.id == "commute"
    with pytest.raises(ConfigError) as caught:
        check_campaign_text(with_segment(), "c.yaml", {})
    assert str(caught.value).startswith("c.yaml:")


def test_estimate_scans_all_when_small_and_samples_when_large() -> None:
    draw = random.Random(7)
    active = set(draw.sample(range(20_000), 5_000))  # a quarter, spread at random

    def profile(i: int) -> Profile:
        stage = Stage.ACTIVE if i in active or (i < 100 and i % 4 == 0) else Stage.DORMANT
        if i < 100 and i % 4:
            stage = Stage.DORMANT
        return Profile(user_id=f"u{i}", stage=stage)

    campaign = check_campaign_text(campaign_yaml(), "c.yaml", {})

    def matches(segment, p, now, named):  # type: ignore[no-untyped-def]
        return p.stage == Stage.ACTIVE

    small = estimate_audience(
        campaign, InMemoryProfileSampler([profile(i) for i in range(100)]), matches, {}, 0
    )
    assert small["complete"] and small["estimate"] == 25 and small["scanned"] == 100
    assert small["by_stage"] == {"active": {"matched": 25, "estimate": 25}}
    big = estimate_audience(
        campaign,
        InMemoryProfileSampler([profile(i) for i in range(20_000)]),
        matches,
        {},
        0,
        random.Random(1),
    )
    assert not big["complete"] and big["sampled_segments"] == 8 and big["total_segments"] == 20
    assert big["scanned"] == 8_000
    low, high = big["interval_95"]
    assert low <= 5_000 <= high and high - low < 1_000
    assert wilson(0, 10)[0] == 0.0
