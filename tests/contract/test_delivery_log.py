"""DeliveryLog: fake vs DynamoDB adapter (claim, record, leftovers, marks, counted once).

Counters move on the profile store's named counters: the fake's InMemoryProfileStore, or
ProfilesTable read through DynamoProfileStore.
"""

from __future__ import annotations

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


def test_a_key_is_claimed_once(store) -> None:  # type: ignore[no-untyped-def]
    assert store.claim("ann", "k#d1", "j1", NOW)
    assert not store.claim("ann", "k#d1", "j1", NOW + 1)  # a redelivery of the job
    assert not store.claim("ann", "k#d1", "j2", NOW + 1)  # another job, same dedupe key
    assert store.claim("bob", "k#d1", "j1", NOW)  # another user
    store.release("ann", "k#d1")  # a retryable failure
    assert store.claim("ann", "k#d1", "j1", NOW + 2)
    assert not store.claim("ann", "k#d1", "j1", NOW + 3)


def test_a_stale_claim_is_never_taken_over(store) -> None:  # type: ignore[no-untyped-def]
    assert store.claim("ann", "k#d1", "j1", NOW)
    later = NOW + 10 * CLAIM_LEASE_S
    assert not store.claim("ann", "k#d1", "j1", later)
    assert not store.claim("ann", "k#d1", "j2", later)


def test_a_recorded_outcome_is_never_claimed_again(store) -> None:  # type: ignore[no-untyped-def]
    store.claim("ann", "k#d1", "j1", NOW)
    assert store.record(delivery(), "k#d1", EXP)
    assert not store.claim("ann", "k#d1", "j1", NOW + 1)
    assert store.for_user("ann") == [delivery()]


def test_a_counted_record_counts_once(store) -> None:  # type: ignore[no-untyped-def]
    store.claim("ann", "k#d1", "j1", NOW)
    assert store.record(delivery(), "k#d1", EXP, {DAY: {"sent": 1}})
    assert not store.record(delivery(), "k#d1", EXP, {DAY: {"sent": 1}})  # retried
    assert counted(store) == {DAY: {"sent": 1}}
    assert store.for_user("ann") == [delivery()]


def test_a_counted_record_needs_our_claim(store) -> None:  # type: ignore[no-untyped-def]
    counters = {DAY: {"sent": 1}}
    assert not store.record(delivery(), "k#d1", EXP, counters)  # never claimed
    store.claim("ann", "k#d1", "j2", NOW)
    assert not store.record(delivery(), "k#d1", EXP, counters)  # claimed by another job
    assert not store.record(delivery(job="j2", at=NOW + 1), "k#d1", EXP, counters)  # other claim
    assert store.for_user("ann") == []
    assert counted(store) == {}
    assert store.record(delivery(job="j2"), "k#d1", EXP, counters)
    assert counted(store) == {DAY: {"sent": 1}}


def test_a_job_level_record_counts_once(store) -> None:  # type: ignore[no-untyped-def]
    suppressed = delivery(None, outcome="suppressed", reason="consent")
    assert store.record(suppressed, "k#-", EXP, {DAY: {"suppressed": 1}})
    assert not store.record(suppressed, "k#-", EXP, {DAY: {"suppressed": 1}})
    assert counted(store) == {DAY: {"suppressed": 1}}
    assert store.for_user("ann") == [suppressed]


def test_the_first_device_counts_the_job_once(store) -> None:  # type: ignore[no-untyped-def]
    first = ("k#first", {"first": {"delivered": 1}})
    for device in ("d1", "d2"):
        store.claim("ann", f"k#{device}", "j1", NOW)
        assert store.record(delivery(device), f"k#{device}", EXP, {DAY: {"sent": 1}}, first)
    assert counted(store) == {DAY: {"sent": 2}, "first": {"delivered": 1}}
    assert [d.device_id for d in store.for_user("ann")] == ["d1", "d2"]  # no marker, no claim


def test_count_once(store) -> None:  # type: ignore[no-untyped-def]
    assert store.count_once("ann", "open#j1", {DAY: {"opened": 1}}, EXP)
    assert not store.count_once("ann", "open#j1", {DAY: {"opened": 1}}, EXP)
    assert store.count_once("bob", "open#j1", {DAY: {"opened": 1}}, EXP)
    assert counted(store) == {DAY: {"opened": 2}}
    assert store.for_user("ann") == []  # a marker is no delivery


def test_a_failed_count_is_finished_by_leftovers(store, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    real = store._count
    calls = {"n": 0}

    def failing(*args: Any, **kwargs: Any) -> bool:
        calls["n"] += 1
        if calls["n"] == 1:
            raise RuntimeError("AccessDeniedException: the count was refused")
        return bool(real(*args, **kwargs))

    monkeypatch.setattr(store, "_count", failing)
    store.claim("ann", "k#d1", "j1", NOW)
    with pytest.raises(RuntimeError):
        store.record(delivery(), "k#d1", EXP, {DAY: {"sent": 1}})
    assert counted(store) == {}
    assert not store.claim("ann", "k#d1", "j1", NOW + 1)  # recorded: never sent again
    assert not store.record(delivery(), "k#d1", EXP, {DAY: {"sent": 1}})  # no longer `sending`
    unknown = delivery(None, outcome="unknown", at=NOW + 60)
    settled = store.leftovers(unknown, EXP, NOW + 60)
    assert settled.settled == [delivery()] and settled.busy_until is None
    assert counted(store) == {DAY: {"sent": 1}}
    assert store.leftovers(unknown, EXP, NOW + 120).settled == []  # counted once
    assert counted(store) == {DAY: {"sent": 1}}


def test_leftovers_settle_stale_claims_as_unknown(store) -> None:  # type: ignore[no-untyped-def]
    store.claim("ann", "k#d1", "j1", NOW)  # its sender died
    store.claim("ann", "k#d2", "j1", NOW + 400)  # its sender may still be at work
    store.claim("ann", "k#d3", "j2", NOW)  # another job with the same dedupe key
    store.claim("ann", "other#d1", "j1", NOW)  # another dedupe key
    unknown = delivery(None, outcome="unknown", at=NOW + 500)
    left = store.leftovers(unknown, EXP, NOW + 500)
    lost = unknown.model_copy(update={"device_id": "d1", "at": NOW})
    assert left.settled == [lost]
    assert left.busy_until == NOW + 400 + CLAIM_LEASE_S
    assert store.for_user("ann") == [lost]
    assert not store.claim("ann", "k#d1", "j1", NOW + 600)  # never re-sent
    # the original sender's late outcome loses: the claim is no longer ours
    assert not store.record(delivery("d1"), "k#d1", EXP, {DAY: {"sent": 1}})
    assert store.leftovers(unknown, EXP, NOW + 600).settled == []
    assert counted(store) == {}


def test_marks_keep_the_earliest(store) -> None:  # type: ignore[no-untyped-def]
    for device in ("d1", "d2"):
        store.claim("ann", f"k#{device}", "j1", NOW)
        store.record(delivery(device), f"k#{device}", EXP)
    store.claim("ann", "k#d3", "j1", NOW)  # a claim only: nothing to mark
    store.record(delivery("d1", job="j2"), "k2#d1", EXP)  # another job
    marked = store.mark("ann", "j1", "opened_at", NOW + 50)
    assert sorted(d.device_id for d in marked) == ["d1", "d2"]
    store.mark("ann", "j1", "opened_at", NOW + 90)  # later: the earlier one stays
    store.mark("ann", "j1", "opened_at", NOW + 20)  # earlier, arriving late: it wins
    assert store.mark("bob", "j1", "opened_at", NOW) == []
    by_job = {(d.job_id, d.device_id): d.opened_at for d in store.for_user("ann")}
    assert by_job == {("j1", "d1"): NOW + 20, ("j1", "d2"): NOW + 20, ("j2", "d1"): None}


def test_for_user_in_key_order(store) -> None:  # type: ignore[no-untyped-def]
    for key, device in (("b#d1", "d1"), ("a#d2", "d2")):
        store.claim("ann", key, "j1", NOW)
        store.record(delivery(device), key, EXP)
    assert [d.device_id for d in store.for_user("ann")] == ["d2", "d1"]
    assert store.for_user("bob") == []


def test_release_of_a_key_never_claimed_changes_nothing(store) -> None:  # type: ignore[no-untyped-def]
    store.release("ann", "k#d9")
    assert store.claim("ann", "k#d9", "j1", NOW)
    assert not store.claim("ann", "k#d9", "j1", NOW)


def test_a_recorded_or_settled_key_is_never_reopened(store) -> None:  # type: ignore[no-untyped-def]
    """A slow sender's retryable failure arriving after the key was recorded (or marked
    unknown by a redelivery) must not make it claimable: that would be a second send."""
    store.claim("ann", "k#d1", "j1", NOW)
    assert store.record(delivery(), "k#d1", EXP)
    store.release("ann", "k#d1")
    assert not store.claim("ann", "k#d1", "j1", NOW + 1)


def test_delete_user_erases_every_record_of_theirs_and_only_theirs(store) -> None:  # type: ignore[no-untyped-def]
    """Outcomes (with their opens), a claim still `sending` and a once-marker: all of the
    user's items, more than one batch of 25; the other user's records and the counters
    they moved stay."""
    for n in range(30):
        store.claim("ann", f"k{n:02d}#d1", f"j{n}", NOW)
        store.record(delivery("d1", job=f"j{n}"), f"k{n:02d}#d1", EXP)
    store.mark("ann", "j0", "opened_at", NOW + 5)
    store.claim("ann", "k99#d2", "j99", NOW)  # a claim, no outcome yet
    assert store.count_once("ann", "first#c1", {DAY: {"converted": 1}}, EXP)
    store.claim("bob", "k#d1", "jb", NOW)
    store.record(delivery("d1", job="jb", user_id="bob"), "k#d1", EXP)

    assert store.delete_user("ann") == 30 + 1 + 1
    assert store.for_user("ann") == []
    assert store.claim("ann", "k99#d2", "j99", NOW)  # nothing of theirs is left, claims neither
    assert [d.job_id for d in store.for_user("bob")] == ["jb"]
    assert counted(store, DAY) == {DAY: {"converted": 1}}
    assert store.delete_user("nobody") == 0
