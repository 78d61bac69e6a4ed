"""Opt-out attribution: the last message received in the window before the opt-out."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nudge.domain.config import AnalyticsConfig, EngagementConfig
from nudge.domain.engagement.attribution import (
    UNATTRIBUTED,
    Attribution,
    Cell,
    EngagementCounters,
    OptOut,
    ReceivedMessage,
    attribute_opt_out,
    attribution_increments,
    unattributed,
)
from nudge.models.push import Delivery

T = int(datetime(2026, 3, 2, 12, 0, tzinfo=UTC).timestamp())  # a Monday, noon UTC
HOUR = 3_600
WINDOW = AnalyticsConfig().attribution_window_seconds


def message(
    at: int,
    campaign: str = "spring-sale",
    variant: str = "a",
    format: str = "text",
    category: str = "marketing",
    message_id: str | None = None,
) -> ReceivedMessage:
    return ReceivedMessage(
        message_id or f"m-{campaign}-{at}", campaign, variant, format, category, at
    )


def marketing_off(at: int = T, opt_out_id: str = "o1") -> OptOut:
    return OptOut(opt_out_id, "category", at, category="marketing")


def uninstall(at: int = T, opt_out_id: str = "o2") -> OptOut:
    return OptOut(opt_out_id, "uninstall", at)


def test_default_window_is_24_hours_and_lives_in_the_engagement_config() -> None:
    assert WINDOW == 24 * HOUR
    assert EngagementConfig().analytics.attribution_window_seconds == 24 * HOUR
    assert AnalyticsConfig(attribution_window_hours=6).attribution_window_seconds == 6 * HOUR


def test_a_single_message_in_the_window_takes_the_blame() -> None:
    sent = message(T - 2 * HOUR)
    result = attribute_opt_out(marketing_off(), [sent], WINDOW)
    assert result.attributed and result.message == sent


def test_the_most_recent_of_several_messages_wins_whatever_the_input_order() -> None:
    older, middle, latest = (
        message(T - 20 * HOUR, "welcome"),
        message(T - 5 * HOUR, "spring-sale"),
        message(T - 1 * HOUR, "flash-deal", variant="b"),
    )
    for messages in ([older, middle, latest], [latest, older, middle], [middle, latest, older]):
        assert attribute_opt_out(marketing_off(), messages, WINDOW).message == latest


# Boundaries: opt_out.at - window <= message.at <= opt_out.at, both edges inclusive.


def test_a_message_exactly_one_window_earlier_is_attributed() -> None:
    edge = message(T - WINDOW)
    assert attribute_opt_out(marketing_off(), [edge], WINDOW).message == edge


def test_a_message_one_second_outside_the_window_is_not() -> None:
    result = attribute_opt_out(marketing_off(), [message(T - WINDOW - 1)], WINDOW)
    assert not result.attributed and result.message is None


def test_a_message_in_the_same_second_as_the_opt_out_is_attributed() -> None:
    same = message(T)
    assert attribute_opt_out(marketing_off(), [same], WINDOW).message == same


def test_a_message_stamped_after_the_opt_out_is_clock_skew_and_not_blamed() -> None:
    skewed = message(T + 1, "late-clock")
    assert not attribute_opt_out(marketing_off(), [skewed], WINDOW).attributed
    # an earlier message in the window still takes it, even though the skewed one is "later"
    earlier = message(T - HOUR, "spring-sale")
    assert attribute_opt_out(marketing_off(), [skewed, earlier], WINDOW).message == earlier


def test_a_configured_window_moves_the_edge() -> None:
    six_hours = AnalyticsConfig(attribution_window_hours=6).attribution_window_seconds
    assert attribute_opt_out(marketing_off(), [message(T - 6 * HOUR)], six_hours).attributed
    assert not attribute_opt_out(marketing_off(), [message(T - 6 * HOUR - 1)], six_hours).attributed


def test_equal_times_are_broken_by_message_id_not_by_input_order() -> None:
    first = message(T - HOUR, "one", message_id="m-1")
    second = message(T - HOUR, "two", message_id="m-2")
    assert attribute_opt_out(marketing_off(), [first, second], WINDOW).message == second
    assert attribute_opt_out(marketing_off(), [second, first], WINDOW).message == second


def test_a_category_opt_out_is_blamed_on_that_category_only() -> None:
    promo = message(T - 3 * HOUR, "spring-sale", category="marketing")
    receipt = message(T - HOUR, "order-shipped", category="transactional")
    assert attribute_opt_out(marketing_off(), [promo, receipt], WINDOW).message == promo
    # the literal rule (any category) when the app prefers it
    anything = attribute_opt_out(marketing_off(), [promo, receipt], WINDOW, match_category=False)
    assert anything.message == receipt
    # only a receipt in the window: a marketing opt-out stays unattributed
    assert not attribute_opt_out(marketing_off(), [receipt], WINDOW).attributed


@pytest.mark.parametrize("kind", ["permission", "uninstall"])
def test_permission_and_uninstall_take_the_last_message_of_any_category(kind: str) -> None:
    promo = message(T - 3 * HOUR, "spring-sale", category="marketing")
    receipt = message(T - HOUR, "order-shipped", category="transactional")
    opt_out = OptOut("o", kind, T)
    assert attribute_opt_out(opt_out, [promo, receipt], WINDOW).message == receipt


def test_no_message_at_all_is_unattributed() -> None:
    result = attribute_opt_out(uninstall(), [], WINDOW)
    assert result == Attribution(uninstall(), None)


def test_increments_go_to_the_blamed_messages_cell_on_the_day_of_the_opt_out() -> None:
    # sent on Sunday evening, opted out on Monday: counted on Monday (the opt-out's own day)
    sunday_evening = message(T - 16 * HOUR, "spring-sale", variant="b", format="image")
    result = attribute_opt_out(marketing_off(), [sunday_evening], WINDOW)
    cell = Cell("spring-sale", "b", "image", "marketing", "2026-03-02")
    assert attribution_increments(result) == {(cell, "opt_out"): 1, (cell, "opt_out.category"): 1}


def test_unattributed_opt_outs_are_counted_as_such() -> None:
    category = attribute_opt_out(marketing_off(), [message(T - 2 * WINDOW)], WINDOW)
    gone = attribute_opt_out(uninstall(), [], WINDOW)
    assert attribution_increments(category) == {
        (Cell(UNATTRIBUTED, "", "", "marketing", "2026-03-02"), "opt_out"): 1,
        (Cell(UNATTRIBUTED, "", "", "marketing", "2026-03-02"), "opt_out.category"): 1,
    }
    counters = EngagementCounters()
    counters.apply(category.record())
    counters.apply(gone.record())
    assert unattributed(counters.cells) == {
        "opt_out": 2,
        "opt_out.category": 1,
        "opt_out.uninstall": 1,
    }


def test_the_same_opt_out_attributed_twice_is_counted_once() -> None:
    result = attribute_opt_out(marketing_off(), [message(T - HOUR)], WINDOW)
    counters = EngagementCounters()
    assert counters.apply(result.record()) is True
    assert counters.apply(result.record()) is False
    assert sum(c["opt_out"] for c in counters.cells.values()) == 1


def test_bad_inputs_are_refused() -> None:
    with pytest.raises(ValueError, match="negative"):
        attribute_opt_out(uninstall(), [], -1)
    with pytest.raises(ValueError, match="names its category"):
        OptOut("o", "category", T)
    with pytest.raises(ValueError, match="names its category"):
        OptOut("o", "uninstall", T, category="marketing")
    with pytest.raises(ValueError, match="unknown opt-out kind"):
        OptOut("o", "rage_quit", T)


# --- properties ------------------------------------------------------------------------------

messages_strategy = st.lists(
    st.builds(
        ReceivedMessage,
        message_id=st.sampled_from(["m1", "m2", "m3", "m4"]),
        campaign=st.sampled_from(["c1", "c2"]),
        variant=st.sampled_from(["a", "b"]),
        format=st.sampled_from(["text", "image"]),
        category=st.sampled_from(["marketing", "transactional"]),
        at=st.integers(T - 3 * WINDOW, T + WINDOW),
    ),
    max_size=12,
)
opt_outs_strategy = st.one_of(
    st.builds(OptOut, st.just("o"), st.just("category"), st.just(T), st.just("marketing")),
    st.builds(OptOut, st.just("o"), st.sampled_from(["permission", "uninstall"]), st.just(T)),
)


@settings(max_examples=300, deadline=None)
@given(
    opt_out=opt_outs_strategy,
    messages=messages_strategy,
    window=st.integers(0, 2 * WINDOW),
    data=st.data(),
)
def test_attribution_is_the_latest_eligible_message_in_any_order(
    opt_out: OptOut, messages: list[ReceivedMessage], window: int, data: st.DataObject
) -> None:
    result = attribute_opt_out(opt_out, messages, window)
    shuffled = data.draw(st.permutations(messages))
    assert attribute_opt_out(opt_out, shuffled, window) == result
    eligible = [
        m
        for m in messages
        if opt_out.at - window <= m.at <= opt_out.at
        and (opt_out.category is None or m.category == opt_out.category)
    ]
    if not eligible:
        assert result.message is None
        assert all(cell.campaign == UNATTRIBUTED for cell, _ in attribution_increments(result))
    else:
        assert result.message is not None
        assert result.message.at == max(m.at for m in eligible)
        assert result.message.at <= opt_out.at  # never a skewed message


# --- the messages received, as the delivery log shows them -----------------------------------


def logged(job: str, template: str, outcome: str, at: int, **extra: object) -> Delivery:
    return Delivery.model_validate(
        {"job_id": job, "user_id": "ann", "device_id": "phone", "dedupe_key": job,
         "category": "marketing", "template_id": template, "outcome": outcome, "at": at, **extra}
    )  # fmt: skip


def test_the_log_gives_each_delivered_message_once_at_its_first_delivery() -> None:
    from nudge.domain.engagement.attribution import OTHER_MESSAGES
    from nudge.domain.engagement.records import received_from_log

    log = [
        logged("j1", "spring-sale.a", "sent", T + 60, source="campaign:spring-sale"),
        logged("j1", "spring-sale.a", "sent", T, device_id="tablet", source="campaign:spring-sale"),
        logged("j2", "spring-sale.b", "suppressed", T + 5, device_id=None, reason="quiet_hours"),
        logged("j3", "spring-sale.b", "failed", T + 6, reason="UNREGISTERED"),
        logged("j4", "weekend.works", "sent", T + 7, source="broadcast:b1"),  # a dotted template
        logged("j5", "order-shipped", "sent", T + 8, source="admin"),
        logged("j6", "welcome.a", "sent", T + 9),  # logged before the source was kept
    ]
    received = {m.message_id: m for m in received_from_log(log)}
    assert set(received) == {"j1", "j4", "j5", "j6"}  # not suppressed, not failed
    assert received["j1"] == ReceivedMessage(
        "j1", "spring-sale", "a", "", "marketing", T, "campaign:spring-sale"
    )
    assert (received["j4"].campaign, received["j4"].variant) == (OTHER_MESSAGES, "")
    assert received["j4"].source == "broadcast:b1"  # its outcomes count the opt-outs it gets
    assert received["j5"].campaign == OTHER_MESSAGES
    assert (received["j6"].campaign, received["j6"].variant) == ("welcome", "a")
    assert received_from_log([]) == []
