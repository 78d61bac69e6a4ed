"""DeliveryLog: fake vs DynamoDB adapter (claim, record, leftovers, marks, counted once).

Counters move on the profile store's named counters: the fake's InMemoryProfileStore, or
ProfilesTable read through DynamoProfileStore.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from nudge.adapters.delivery_log import CLAIM_LEASE_S, DynamoDeliveryLog
from nudge.adapters.dynamodb import DynamoProfileStore
from nudge.adapters.metering import WriteMeter
from nudge.models.push import Delivery
from tests.conftest import START
from tests.fakes.delivery_log import InMemoryDeliveryLog
from tests.fakes.memory import InMemoryProfileStore

pytestmark = pytest.mark.integration
NOW = int(START.timestamp())
EXP = NOW + 30 * 86_400
DAY = "campaign#c1#20514"


def fake() -> InMemoryDeliveryLog:
    return InMemoryDeliveryLog(InMemoryProfileStore())


def adapter(ddb: Any) -> DynamoDeliveryLog:
    return DynamoDeliveryLog("DeliveryLogTable", WriteMeter(), ddb, counters_table="ProfilesTable")


def counted(store: Any, *names: str) -> dict[str, dict[str, int]]:
    if isinstance(store, InMemoryDeliveryLog):
        reader = store.counters
    else:
        reader = DynamoProfileStore("ProfilesTable", WriteMeter(), store.ddb)
    return reader.counters(list(names or [DAY, "first"]))


def delivery(device: str | None = "d1", at: int = NOW, job: str = "j1", **fields: Any) -> Delivery:
    return Delivery.model_validate(
        {
            "job_id": job,
            "user_id": "ann",
            "device_id": device,
            "dedupe_key": "k",
            "category": "marketing",
            "template_id": "t",
            "outcome": "sent",
            "at": at,
            **fields,
        }
    )


def body(job: str = "j1", user: str = "ann", key: str = "k", at: int = NOW) -> Delivery:
    """A job's fields as its claim carries them (no device yet)."""
    return delivery(None, at=at, job=job, user_id=user, dedupe_key=key)


def claim(store: Any, devices: list[str], batch: str, at: int = NOW, **job: Any) -> Any:
    return store.claim_job(body(at=at, **job), devices, batch, at, EXP)


def test_a_job_is_claimed_once_per_device_in_one_write(store) -> None:  # type: ignore[no-untyped-def]
    first = claim(store, ["d1", "d2"], "b1")
    assert first.claimed == ["d1", "d2"] and first.count_batch == "b1"
    store.commit_batch("b1", {}, EXP)
    assert claim(store, ["d1", "d2"], "b2", NOW + 1).claimed == []  # a redelivery
    assert claim(store, ["d1", "d3"], "b3", NOW + 2, job="j2").claimed == ["d3"]  # same key
    assert claim(store, ["d1"], "b4", user="bob").claimed == ["d1"]  # another user
    assert sorted((d.device_id, d.outcome, d.at, d.job_id) for d in store.for_user("ann")) == [
        ("d1", "sent", NOW, "j1"),
        ("d2", "sent", NOW, "j1"),
        ("d3", "sent", NOW + 2, "j2"),  # claimed by the other job
    ]


def test_only_what_fcm_refused_is_written_again(store) -> None:  # type: ignore[no-untyped-def]
    taken = claim(store, ["d1", "d2", "d3"], "b1")
    outcomes = {"d2": ("failed", "UNREGISTERED"), "d3": ("retry", "UNAVAILABLE")}
    assert store.record_outcomes(taken, body(), outcomes, True, EXP) == ["d2", "d3"]
    store.commit_batch("b1", {DAY: {"delivered.a": 1, "failed.a.UNREGISTERED": 1}}, EXP)
    assert counted(store) == {DAY: {"delivered.a": 1, "failed.a.UNREGISTERED": 1}}
    assert sorted((d.device_id, d.outcome, d.reason) for d in store.for_user("ann")) == [
        ("d1", "sent", None),
        ("d2", "failed", "UNREGISTERED"),
    ]  # a released claim (retry) is no record yet
    again = claim(store, ["d1", "d2", "d3"], "b2", NOW + 60)
    assert again.claimed == ["d3"] and again.count_batch == "b1"  # counted by b1 already
    all_sent = store.record_outcomes(again, body(), {}, False, EXP)
    assert all_sent == []


def test_a_batch_that_never_committed_is_abandoned_past_the_lease(store) -> None:  # type: ignore[no-untyped-def]
    taken = claim(store, ["d1", "d2"], "b1")
    store.record_outcomes(taken, body(), {"d2": ("failed", "UNREGISTERED")}, True, EXP)
    # the sender died before its batch's write: within the lease a redelivery waits
    soon = claim(store, ["d1", "d2"], "b2", NOW + 10)
    assert soon.claimed == [] and soon.busy_until == NOW + CLAIM_LEASE_S
    assert soon.settled == [] and soon.owed == []
    late = claim(store, ["d1", "d2"], "b3", NOW + CLAIM_LEASE_S + 1)
    assert late.claimed == [] and late.settled == [("d1", NOW)]
    assert late.owed == [("failed", "UNREGISTERED")]  # b1 never counted it: b3 does
    assert sorted((d.device_id, d.outcome) for d in store.for_user("ann")) == [
        ("d1", "unknown"),
        ("d2", "failed"),
    ]
    with pytest.raises(RuntimeError, match="abandoned"):  # the late sender's write loses
        store.commit_batch("b1", {DAY: {"delivered.a": 1}}, EXP)
    assert counted(store) == {}
    store.commit_batch("b3", {}, EXP)
    later = claim(store, ["d1", "d2"], "b4", NOW + 2 * CLAIM_LEASE_S)
    assert (later.claimed, later.settled, later.owed) == ([], [], [])  # settled once


def test_a_committed_batch_is_never_abandoned(store) -> None:  # type: ignore[no-untyped-def]
    claim(store, ["d1"], "b1")
    store.commit_batch("b1", {}, EXP)
    late = claim(store, ["d1"], "b2", NOW + 10 * CLAIM_LEASE_S)
    assert (late.claimed, late.settled, late.busy_until) == ([], [], None)
    assert [d.outcome for d in store.for_user("ann")] == ["sent"]


def test_a_batch_commits_its_counters_once(store) -> None:  # type: ignore[no-untyped-def]
    claim(store, ["d1"], "b1")
    store.commit_batch("b1", {DAY: {"delivered.a": 2}, "first": {"delivered": 1}}, EXP)
    with pytest.raises(RuntimeError, match="abandoned"):  # a retried commit: the marker is there
        store.commit_batch("b1", {DAY: {"delivered.a": 2}}, EXP)
    assert counted(store) == {DAY: {"delivered.a": 2}, "first": {"delivered": 1}}


def test_items_of_the_old_layout_are_read_and_never_claimed_again(store, backend) -> None:  # type: ignore[no-untyped-def]
    """Per-device items written before job records (claim, then outcome): still read by
    every reader, and their devices are never sent to again under that dedupe key."""
    old = delivery("d1", fcm_message_id="projects/p/messages/1")
    if backend == "fake":
        store.rows[("ann", "k#d1")] = {"status": "sent", "delivery": old, "job_id": "j1"}
        store.rows[("ann", "k#d2")] = {"status": "sending", "claimed_at": NOW, "job_id": "j1"}
    else:
        store.ddb.put_item(
            TableName="DeliveryLogTable",
            Item=store.to_item(
                {"user_id": "ann", "sk": "k#d1", "job_id": "j1", "status": "sent"}
                | {"body": old.model_dump_json(), "expires_at": EXP}
            ),
        )
        store.ddb.put_item(
            TableName="DeliveryLogTable",
            Item=store.to_item(
                {"user_id": "ann", "sk": "k#d2", "job_id": "j1", "status": "sending"}
                | {"claimed_at": NOW, "expires_at": EXP}
            ),
        )
    assert store.for_user("ann") == [old]
    assert claim(store, ["d1", "d2", "d3"], "b1", job="j9").claimed == ["d3"]
    assert [d.device_id for d in store.mark("ann", "j1", "opened_at", NOW + 5)] == ["d1"]
    opened = {d.device_id: d.opened_at for d in store.for_user("ann")}
    assert opened == {"d1": NOW + 5, "d3": None}


def test_racing_claims_take_each_device_once(store) -> None:  # type: ignore[no-untyped-def]
    """Eight attempts of the same job (SQS duplicates, other jobs with its dedupe key) claim
    at once: each device is claimed by exactly one of them."""
    start = threading.Barrier(8)

    def attempt(n: int) -> list[str]:
        start.wait()
        return list(claim(store, ["d1", "d2"], f"b{n}", job=f"j{n % 2}").claimed)

    with ThreadPoolExecutor(8) as pool:
        claimed = [d for devices in pool.map(attempt, range(8)) for d in devices]
    assert sorted(claimed) == ["d1", "d2"]
    assert sorted(d.device_id for d in store.for_user("ann")) == ["d1", "d2"]


def test_a_job_level_record_counts_once(store) -> None:  # type: ignore[no-untyped-def]
    suppressed = delivery(None, outcome="suppressed", reason="consent")
    assert store.record(suppressed, "k#-", EXP, {DAY: {"suppressed": 1}})
    assert not store.record(suppressed, "k#-", EXP, {DAY: {"suppressed": 1}})
    assert counted(store) == {DAY: {"suppressed": 1}}
    assert store.for_user("ann") == [suppressed]


def test_count_once(store) -> None:  # type: ignore[no-untyped-def]
    assert store.count_once("ann", "open#j1", {DAY: {"opened": 1}}, EXP)
    assert not store.count_once("ann", "open#j1", {DAY: {"opened": 1}}, EXP)
    assert store.count_once("bob", "open#j1", {DAY: {"opened": 1}}, EXP)
    assert counted(store) == {DAY: {"opened": 2}}
    assert store.for_user("ann") == []  # a marker is no delivery


def test_marks_keep_the_earliest(store) -> None:  # type: ignore[no-untyped-def]
    taken = claim(store, ["d1", "d2", "d3"], "b1")
    store.record_outcomes(taken, body(), {"d3": ("retry", "UNAVAILABLE")}, True, EXP)
    claim(store, ["d1"], "b1", key="k2", job="j2")  # another job
    marked = store.mark("ann", "j1", "opened_at", NOW + 50)
    assert sorted(d.device_id for d in marked) == ["d1", "d2"]  # d3: released, no record
    store.mark("ann", "j1", "opened_at", NOW + 90)  # later: the earlier one stays
    store.mark("ann", "j1", "opened_at", NOW + 20)  # earlier, arriving late: it wins
    assert store.mark("bob", "j1", "opened_at", NOW) == []
    by_job = {(d.job_id, d.device_id): d.opened_at for d in store.for_user("ann")}
    assert by_job == {("j1", "d1"): NOW + 20, ("j1", "d2"): NOW + 20, ("j2", "d1"): None}
    again = claim(store, ["d3"], "b2", NOW + 60)  # the retry's claim keeps the open
    assert again.claimed == ["d3"]
    assert {d.opened_at for d in store.for_user("ann") if d.job_id == "j1"} == {NOW + 20}


def test_for_user_in_key_order(store) -> None:  # type: ignore[no-untyped-def]
    claim(store, ["d1"], "b1", key="b")
    claim(store, ["d2", "d0"], "b1", key="a")
    assert [d.device_id for d in store.for_user("ann")] == ["d0", "d2", "d1"]
    assert store.for_user("bob") == []


def test_delete_user_erases_every_record_of_theirs_and_only_theirs(store) -> None:  # type: ignore[no-untyped-def]
    """Job records (with their opens) and a once-marker: all of the user's items, more than
    one batch of 25; the other user's records, the batch markers and the counters they
    moved stay."""
    for n in range(30):
        claim(store, ["d1"], "b1", key=f"k{n:02d}", job=f"j{n}")
    store.mark("ann", "j0", "opened_at", NOW + 5)
    assert store.count_once("ann", "first#c1", {DAY: {"converted": 1}}, EXP)
    claim(store, ["d1"], "b1", user="bob", job="jb")
    store.commit_batch("b1", {}, EXP)

    assert store.delete_user("ann") == 30 + 1
    assert store.for_user("ann") == []
    assert claim(store, ["d1"], "b2", key="k00", job="j0").claimed == ["d1"]  # nothing left
    assert [d.job_id for d in store.for_user("bob")] == ["jb"]
    assert counted(store, DAY) == {DAY: {"converted": 1}}
    assert store.delete_user("nobody") == 0


def test_a_batch_of_pushes_costs_at_most_one_write_unit_per_push_and_device(tables) -> None:  # type: ignore[no-untyped-def]
    """One SQS batch of transactional, campaign and broadcast pushes to users with one or
    two devices, all accepted: the claims (one item per job) and the batch's one counted
    write, at most 1.0 write unit per push and device (2.0 and more with a claim and an
    outcome per device and a count per job)."""
    from nudge.adapters.devices import DynamoDeviceStore
    from nudge.clock import ManualClock
    from nudge.domain.config import EngagementConfig
    from nudge.models.device import Device
    from nudge.models.push import PushJob
    from nudge.services.messaging.push import PushService
    from tests.fakes.delivery_log import FakeFcm

    devices = DynamoDeviceStore("DevicesTable", WriteMeter(), tables.ddb)
    meter = WriteMeter()
    log = DynamoDeliveryLog("DeliveryLogTable", meter, tables.ddb, "ProfilesTable")
    service = PushService(devices, log, FakeFcm(), EngagementConfig(), ManualClock(START))
    kinds = [("api", "order")] * 10 + [("campaign:c1", "c1.a")] * 5 + [("broadcast:b1", "b")] * 5
    pushes = 0
    jobs = []
    for n, (source, template_id) in enumerate(kinds):
        for d in range(1 + n % 2):
            pushes += 1
            devices.put_device(
                Device(
                    user_id=f"u{n}",
                    device_id=f"d{d}",
                    token=f"tok-u{n}-d{d}",
                    platform="android",
                    timezone="Europe/Amsterdam",
                    created_at=0,
                    updated_at=NOW,
                )
            )
        template = {
            "id": template_id,
            "category": "transactional",
            "text": {"en": {"title": "Hi", "body": "Hi"}},
        }
        job = {"job_id": f"j{n}", "user_id": f"u{n}", "dedupe_key": f"k{n}", "source": source}
        jobs.append(PushJob.model_validate(job | {"created_at": START, "template": template}))
    service.new_batch()
    assert all(service.process(job.model_dump_json()).done for job in jobs)
    getattr(service, "end_batch", lambda: None)()

    assert meter.table_units / pushes <= 1.0
    assert len(log.for_user("u1")) == 2
    day = f"campaign#c1#{NOW // 86_400}"
    assert counted(log, day, "broadcast#b1") == {
        day: {"delivered.a": 5},
        "broadcast#b1": {"delivered": 5},
    }
