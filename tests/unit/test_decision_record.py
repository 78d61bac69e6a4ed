"""Issue 21 item 6: a decision record per user. Campaign decisions are recorded when their
outcome changes (or once a day), never again for a duplicate or redelivered event, with a
TTL of their own; `why` merges them with the delivery log, newest first."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from nudge.clock import DAY, ManualClock, to_epoch
from nudge.domain.engagement.decision_record import NOT_RECORDED
from nudge.models.push import Delivery
from nudge.services.engagement.decision_trail import DecisionTrail
from nudge_cli.main import main
from tests.conftest import make_event
from tests.fakes.delivery_log import InMemoryDeliveryLog
from tests.unit.test_campaign_pipeline import CART, WELCOME, Pipeline, campaign

MAX_ONCE = campaign(WELCOME, delivery={"cooldown": "1h", "max_per_user": 1})


def records(p: Pipeline, user: str) -> list[tuple[str, str, str | None]]:
    return [(r.campaign, r.action, r.reason) for r in p.history.decisions(user)]


def test_an_outcome_is_recorded_when_it_changes_and_once_a_day(clock: ManualClock) -> None:
    p = Pipeline(clock, MAX_ONCE)
    for _ in range(3):  # no consent yet: the same suppression three times, recorded once
        p.act("ann", "signup_completed")
        clock.advance(timedelta(minutes=20))
    p.consent("ann")
    p.act("ann", "signup_completed")  # sent: a new outcome
    for _ in range(3):  # then max_per_user, again and again
        clock.advance(timedelta(minutes=20))
        p.act("ann", "signup_completed")
    clock.advance(timedelta(days=1))
    p.act("ann", "signup_completed")  # the same outcome a day later: recorded again
    assert records(p, "ann") == [
        ("welcome", "suppress", "max_per_user"),
        ("welcome", "suppress", "max_per_user"),
        ("welcome", "send", None),
        ("welcome", "suppress", "consent"),
    ]
    newest, _, sent, first = p.history.decisions("ann")
    assert (newest.detail, sent.variant, first.detail) == (
        "1 of 1",
        "a",
        "no consent for marketing",
    )
    assert len(p.jobs("ann")) == 1


def test_records_expire_after_the_configured_days(clock: ManualClock) -> None:
    p = Pipeline(clock, MAX_ONCE)
    p.config = p.processor.config = p.config.model_copy(update={"decision_record_days": 7})
    p.act("ann", "signup_completed")
    (((record,), expires_at),) = p.history.decision_records.values()
    assert record.at == to_epoch(clock.now())
    assert expires_at == record.at + 7 * DAY


def test_duplicate_and_redelivered_events_add_no_records(clock: ManualClock) -> None:
    p = Pipeline(clock, MAX_ONCE)
    p.consent("ann")
    event = p.act("ann", "signup_completed")
    p.send("ann", event)  # the same event again
    p.send("ann", event, make_event("session_start", at=clock.now()))
    assert records(p, "ann") == [("welcome", "send", None)]
    # the memory in the profile stays small: one entry per campaign decided in the last day
    profile = p.profiles.get("ann")
    assert profile is not None and list(profile.messaging.decided) == ["welcome"]
    clock.advance(timedelta(days=1, minutes=1))
    p.act("ann", "session_start")  # no campaign decided: the stale memory is dropped
    profile = p.profiles.get("ann")
    assert profile is not None and profile.messaging.decided == {}


PROMO = """
id: promo
category: marketing
priority: 5
trigger: {event: {name: app_opened}}
audience: {lifecycle: [loyal]}
"""


@pytest.mark.parametrize("order", [(0, 1, 2), (2, 1, 0), (1, 2, 0)])
def test_records_do_not_depend_on_the_order_of_events(
    clock: ManualClock, order: tuple[int, ...]
) -> None:
    p = Pipeline(clock, MAX_ONCE, campaign(PROMO))
    p.consent("ann")
    events = [
        make_event("signup_completed", at=clock.now(), event_id="e-signup"),
        make_event("app_opened", at=clock.now(), event_id="e-open"),
        make_event("app_opened", at=clock.now(), event_id="e-open-2"),
    ]
    p.send("ann", *[events[i] for i in order])
    got = {(r.campaign, r.action, r.reason, r.occurrence) for r in p.history.decisions("ann")}
    assert {r.at for r in p.history.decisions("ann")} == {to_epoch(clock.now())}
    assert got == {
        ("promo", "suppress", "audience", "e:e-open"),
        ("welcome", "send", None, "e:e-signup"),
    }


def test_a_crash_before_the_history_write_is_repaired_by_the_redelivery(
    clock: ManualClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    p = Pipeline(clock, MAX_ONCE)
    p.consent("ann")
    original = p.history.append
    calls = {"n": 0}

    def append_fails_once(entries: Any) -> None:
        calls["n"] += 1
        if calls["n"] == 1:
            raise ConnectionError("history write lost")
        original(entries)

    monkeypatch.setattr(p.history, "append", append_fails_once)
    event = make_event("signup_completed", at=clock.now())
    body = p.processor.process([("m1", _batch("ann", clock, event))])
    assert set(body.failures) == {"m1"} and p.history.decisions("ann") == []
    clock.advance(timedelta(seconds=40))  # SQS hands the message back
    assert p.processor.process([("m1", _batch("ann", clock, event))]).failures == {}
    (record,) = p.history.decisions("ann")
    assert (record.campaign, record.action, record.reason) == ("welcome", "send", None)
    assert record.at == to_epoch(clock.now()) - 40  # when it was decided, not retried
    assert len({job.dedupe_key for job in p.jobs("ann")}) == 1  # push_sender dedupes


def _batch(user: str, clock: ManualClock, *events: Any) -> str:
    from nudge.models.events import QueuedBatch

    return QueuedBatch(user_id=user, received_at=clock.now(), events=list(events)).model_dump_json()


def test_the_scheduler_records_delayed_and_cancelled_sends(clock: ManualClock) -> None:
    p = Pipeline(clock, campaign(CART))
    p.consent("ann")
    p.consent("bob")
    p.act("ann", "cart_updated")
    p.act("bob", "cart_updated")
    clock.advance(timedelta(minutes=10))
    p.act("bob", "checkout_completed")
    p.tick(hours=1)
    assert records(p, "ann") == [("cart-reminder", "send", None)]
    assert records(p, "bob") == [("cart-reminder", "suppress", "unless")]
    (cancelled,) = p.history.decisions("bob")
    assert "unless" in cancelled.detail


def delivery(at: int, source: str, outcome: str, reason: str | None = None) -> Delivery:
    return Delivery(
        job_id=f"job-{at}",
        user_id="ann",
        device_id="phone" if outcome == "sent" else None,
        dedupe_key=f"k-{at}",
        category="marketing",
        template_id="t",
        outcome=outcome,
        reason=reason,
        at=at,
        source=source,
    )


def trail_of_ann(clock: ManualClock) -> DecisionTrail:
    p = Pipeline(clock, MAX_ONCE)
    p.act("ann", "signup_completed")  # suppressed: no consent
    log = InMemoryDeliveryLog()
    now = to_epoch(clock.now())
    for record in (
        delivery(now + 60, "broadcast:works-1", "suppressed", "quiet_hours"),
        delivery(now + 120, "campaign:welcome:a", "sent"),
        delivery(now + 180, "admin", "suppressed", "no_device"),
    ):
        assert log.record(record, record.dedupe_key, now + DAY, None)
    return DecisionTrail(p.history, log)


def test_why_merges_campaign_decisions_and_deliveries_newest_first(clock: ManualClock) -> None:
    answer = trail_of_ann(clock).why("ann")
    rows = [(d["kind"], d["id"], d["stage"], d["action"], d["reason"]) for d in answer["decisions"]]
    assert rows == [
        ("message", "admin", "delivery", "suppressed", "no_device"),
        ("campaign", "welcome", "delivery", "sent", None),
        ("broadcast", "works-1", "delivery", "suppressed", "quiet_hours"),
        ("campaign", "welcome", "decided", "suppress", "consent"),
    ]
    assert answer["not_recorded"] == NOT_RECORDED
    oldest = answer["decisions"][-1]["explanation"]
    assert "not consented" in oldest and "no consent for marketing" in oldest
    only = trail_of_ann(clock).why("ann", campaign="welcome")["decisions"]
    assert [(d["stage"], d["action"]) for d in only] == [
        ("delivery", "sent"),
        ("decided", "suppress"),
    ]


def test_nudge_user_why_prints_the_blocking_rule_in_words(
    clock: ManualClock, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from nudge_cli import users

    trail = trail_of_ann(clock)
    paths = []

    def admin_call(args: Any, method: str, path: str, body: Any = None) -> Any:
        paths.append((method, path))
        return trail.why("ann", "welcome" if "campaign=welcome" in path else None)

    monkeypatch.setattr(users, "admin_call", admin_call)
    assert main(["user", "why", "ann", "--campaign", "welcome"]) == 0
    out = capsys.readouterr().out
    assert paths == [("GET", "/admin/v1/users/ann/decisions?campaign=welcome")]
    assert "suppress (consent): the user has not consented to this category" in out
    assert "no consent for marketing" in out and NOT_RECORDED in out
    assert "broadcast" not in out
    assert main(["user", "why", "ann", "--json"]) == 0
    assert '"kind": "broadcast"' in capsys.readouterr().out


def test_a_stored_record_without_an_occurrence_reads_back() -> None:
    """pack_body leaves empty fields out: an `unless` suppression has no occurrence."""
    from nudge.adapters.decisions import pack_body
    from nudge.domain.engagement.decision_record import DecisionRecord

    record = DecisionRecord(at=100, campaign="weekend-trips", occurrence="", action="suppress")
    (stored,) = pack_body([record])
    assert "occurrence" not in stored
    assert DecisionRecord.of({**stored, "at": 100}) == record
