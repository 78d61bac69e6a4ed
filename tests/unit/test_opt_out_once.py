"""One opt-out per user per message counts, however many opt-out events the app sends
(fresh event ids, duplicates, any order, any batching): a campaign cannot be pushed over its
auto-pause threshold by one user (issue 20)."""

from __future__ import annotations

import random
from collections import Counter
from datetime import UTC, datetime, timedelta

from nudge.clock import ManualClock
from nudge.domain.config import AnalyticsConfig
from nudge.domain.engagement.attribution import UNATTRIBUTED
from nudge.domain.engagement.records import engagement_records
from nudge.domain.profiles.aggregates import OPT_OUT_EVENT
from nudge.models.events import IncomingEvent
from nudge.models.profile import Profile
from nudge.models.push import Delivery
from tests.conftest import make_event
from tests.unit.test_engagement_pipeline import p_batch, welcome_sent

NOW = datetime(2026, 3, 2, 12, tzinfo=UTC)
AT = int(NOW.timestamp())


def delivered(job_id: str, campaign: str, category: str, at: int) -> Delivery:
    return Delivery(
        job_id=job_id,
        user_id="ann",
        device_id="phone",
        dedupe_key=job_id,
        category=category,
        template_id=f"{campaign}.a",
        outcome="sent",
        at=at,
        source=f"campaign:{campaign}:a",
    )


LOG = [
    delivered("job-welcome", "welcome", "marketing", AT - 3 * 3600),
    delivered("job-tips", "tips", "product_updates", AT - 2 * 3600),
]


def opt_out(minutes_ago: int, kind: str, category: str | None = None) -> IncomingEvent:
    props = {"kind": kind} | ({"category": category} if category else {})
    return make_event(OPT_OUT_EVENT, NOW - timedelta(minutes=minutes_ago), **props)


def count(profile: Profile, batches: list[list[IncomingEvent]]) -> Counter[tuple[str, str]]:
    """(campaign, reason) -> opt-outs counted, the batches processed one after the other."""
    counted: Counter[tuple[str, str]] = Counter()
    for batch in batches:
        records, _ = engagement_records(profile, batch, AT, AnalyticsConfig(), LOG)
        counted.update((r.campaign, r.kind) for r in records if r.kind == "opt_out")
    return counted


def test_a_hundred_opt_outs_with_fresh_ids_count_once_for_the_message() -> None:
    events = [opt_out(30, "category", "marketing") for _ in range(100)]
    assert count(Profile(user_id="ann"), [events]) == {("welcome", "opt_out"): 1}
    # one request at a time: the profile remembers the message already blamed
    assert count(Profile(user_id="ann"), [[e] for e in events]) == {("welcome", "opt_out"): 1}


def test_reordered_and_duplicated_opt_outs_count_once_per_blamed_message() -> None:
    events = [
        opt_out(30, "category", "marketing"),  # welcome
        opt_out(20, "category", "marketing"),  # welcome again
        opt_out(10, "permission"),  # tips: the last message of any category
        opt_out(5, "uninstall"),  # tips again
        opt_out(60 * 30, "permission"),  # before every message: unattributed
        opt_out(60 * 29, "permission"),  # unattributed again, same kind
    ]
    expected = {("welcome", "opt_out"): 1, ("tips", "opt_out"): 1, (UNATTRIBUTED, "opt_out"): 1}
    rng = random.Random(20)
    for _ in range(30):
        shuffled = events + rng.sample(events, 3)  # some redelivered
        rng.shuffle(shuffled)
        cut = rng.randrange(1, len(shuffled))
        for batches in ([shuffled], [shuffled[:cut], shuffled[cut:]], [[e] for e in shuffled]):
            assert count(Profile(user_id="ann"), batches) == expected


def test_other_users_and_other_messages_still_count() -> None:
    events = [opt_out(30, "category", "marketing")]
    assert count(Profile(user_id="ann"), [events]) == {("welcome", "opt_out"): 1}
    assert count(Profile(user_id="bob"), [events]) == {("welcome", "opt_out"): 1}


def test_invented_categories_cannot_multiply_unattributed_opt_outs() -> None:
    events = [opt_out(5, "category", f"made-up-{i}") for i in range(200)]
    profile = Profile(user_id="ann")
    assert count(profile, [[e] for e in events]) == {(UNATTRIBUTED, "opt_out"): 1}
    assert len(profile.messaging.opt_outs) == 1  # the profile does not grow with them


def test_the_memory_of_blamed_messages_is_pruned_once_no_opt_out_can_blame_them() -> None:
    profile = Profile(user_id="ann")
    count(profile, [[opt_out(30, "category", "marketing")]])
    assert set(profile.messaging.opt_outs) == {"job-welcome"}
    later = AT + 400 * 86_400  # far beyond the window plus the oldest event accepted
    late = make_event(OPT_OUT_EVENT, datetime.fromtimestamp(later, UTC), kind="permission")
    engagement_records(profile, [late], later, AnalyticsConfig(), [])
    assert "job-welcome" not in profile.messaging.opt_outs


def test_the_pipeline_counts_one_users_opt_out_storm_once(clock: ManualClock) -> None:
    p, _ = welcome_sent(clock)
    p.deliver_all()
    clock.advance(timedelta(minutes=10))
    storm = [make_event(OPT_OUT_EVENT, clock.now(), kind="permission") for _ in range(100)]
    p.processor.process([(f"m{i}", p_batch("ann", *storm[i : i + 10])) for i in range(0, 100, 10)])
    for event in storm[:20]:  # and more requests later, one event each
        p.send("ann", make_event(OPT_OUT_EVENT, clock.now(), kind="permission"))
        p.send("ann", event)  # a redelivery
    assert p.total("welcome")["opt_out.a.permission"] == 1
