"""Enter / exit / dwell: hysteresis, accuracy, dwell once per stay, consent, duplicates and
reordering (a property over shuffled, duplicated walks), expiry."""

from __future__ import annotations

import math
import random
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nudge.domain.geofencing import (
    TransitionRules,
    apply_location_update,
    apply_location_updates,
    build_index,
    due_dwells,
    next_dwell_due,
)
from nudge.domain.geofencing.index import FenceIndex
from nudge.geometry import EARTH_RADIUS_M
from nudge.models.geofence import (
    CircleGeometry,
    Fence,
    FenceSet,
    FenceTransition,
    GeofenceState,
    LocationUpdate,
    RegionSignal,
)

T0 = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
LAT, LNG = 52.0894, 5.1101  # fence centre
M_PER_DEG = EARTH_RADIUS_M * math.pi / 180
RULES = TransitionRules(dwell_minutes=(2, 10))
KEY = "s/ut"


def index() -> FenceIndex:
    fences = [
        Fence(
            id="ut",
            name="Utrecht Centraal",
            geometry=CircleGeometry(lat=LAT, lng=LNG, radius_m=200),
            tags=["train_station"],
        ),
        Fence(id="far", name="Far", geometry=CircleGeometry(lat=LAT + 0.05, lng=LNG, radius_m=200)),
    ]
    return build_index([FenceSet(id="s", fences=fences)])


INDEX = index()


def at_distance(metres: float) -> tuple[float, float]:
    """A point `metres` north of the fence centre."""
    return LAT + metres / M_PER_DEG, LNG


def fix(n: int, metres: float, seconds: float, accuracy: float | None = 10.0) -> LocationUpdate:
    lat, lng = at_distance(metres)
    return LocationUpdate(
        event_id=f"e{n}",
        timestamp=T0 + timedelta(seconds=seconds),
        lat=lat,
        lng=lng,
        accuracy_m=accuracy,
    )


def run(
    updates: list[LocationUpdate],
    state: GeofenceState | None = None,
    now: datetime | None = None,
    rules: TransitionRules = RULES,
) -> tuple[GeofenceState | None, list[FenceTransition]]:
    transitions: list[FenceTransition] = []
    for update in updates:
        result = apply_location_update(
            state,
            update,
            INDEX,
            now=now or update.timestamp + timedelta(seconds=5),
            consented=True,
            rules=rules,
        )
        state = result.state
        transitions += result.transitions
    return state, transitions


def kinds(transitions: list[FenceTransition]) -> list[str]:
    return [t.kind if t.kind != "dwell" else f"dwell{t.dwell_minutes}" for t in transitions]


def test_enter_then_exit_with_ids_tags_and_times() -> None:
    state, transitions = run([fix(1, 500, 0), fix(2, 50, 30), fix(3, 600, 60)])
    assert kinds(transitions) == ["enter", "exit"]
    enter, leave = transitions
    assert (enter.fence_key, enter.name, enter.tags) == (KEY, "Utrecht Centraal", ["train_station"])
    assert enter.at == T0 + timedelta(seconds=30) and enter.event_id == "e2"
    assert enter.transition_id == f"enter:{KEY}:{int(enter.at.timestamp() * 1000)}"
    assert leave.at == T0 + timedelta(seconds=60)
    assert state is not None and not state.fences[KEY].inside  # a short-lived exit record


def test_standing_on_the_boundary_with_jitter_does_not_flap() -> None:
    rng = random.Random(7)
    walk = [fix(1, 100, 0)]  # well inside: enter
    walk += [fix(n, 200 + rng.uniform(-25, 25), n * 10, accuracy=30) for n in range(2, 200)]
    _, transitions = run(walk)
    assert kinds(transitions)[:1] == ["enter"]
    assert "exit" not in kinds(transitions)
    outside = [fix(n, 200 + rng.uniform(-25, 25), n * 10, accuracy=30) for n in range(1, 100)]
    _, transitions = run(outside)
    assert transitions == []  # never deep enough inside to enter


def test_margins_scale_with_accuracy() -> None:
    _, shaky = run([fix(1, 160, 0, accuracy=60)])
    assert shaky == []  # 40 m inside, but the fix is only good to 60 m
    _, sure = run([fix(1, 160, 0, accuracy=20)])
    assert kinds(sure) == ["enter"]
    state, _ = run([fix(1, 0, 0)])
    _, stays = run([fix(2, 250, 30, accuracy=80)], state)
    assert stays == []  # 50 m outside, within an 80 m margin
    _, leaves = run([fix(3, 250, 60, accuracy=20)], state)
    assert kinds(leaves) == ["exit"]


def test_inaccurate_and_huge_accuracy_fixes_are_ignored() -> None:
    _, transitions = run([fix(1, 0, 0, accuracy=500), fix(2, 0, 30, accuracy=1e9)])
    assert transitions == []
    state, _ = run([fix(3, 0, 60)])
    _, transitions = run([fix(4, 5000, 90, accuracy=1e12)], state)
    assert transitions == []


def test_missing_accuracy_uses_the_assumed_one() -> None:
    _, transitions = run([fix(1, 160, 0, accuracy=None)])
    assert transitions == []  # 40 m deep < 50 m assumed
    _, transitions = run([fix(1, 100, 0, accuracy=None)])
    assert kinds(transitions) == ["enter"]


def test_dwell_fires_once_per_stay_per_threshold() -> None:
    walk = [fix(1, 0, 0), fix(2, 10, 60), fix(3, 20, 150), fix(4, 0, 400), fix(5, 0, 700)]
    _, transitions = run(walk)
    assert kinds(transitions) == ["enter", "dwell2", "dwell10"]
    dwell2 = transitions[1]
    assert dwell2.at == T0 + timedelta(minutes=2) and dwell2.event_id == "e3"
    # a second stay dwells again
    again = [fix(6, 900, 800), fix(7, 0, 900), fix(8, 0, 1100)]
    state, _ = run(walk)
    _, more = run(again, state)
    assert kinds(more) == ["exit", "enter", "dwell2"]


def test_dwell_from_the_clock_when_the_os_stays_silent() -> None:
    state, transitions = run([fix(1, 0, 0)])
    assert kinds(transitions) == ["enter"]
    assert next_dwell_due(state, RULES) == T0 + timedelta(minutes=2)
    early = due_dwells(state, INDEX, now=T0 + timedelta(minutes=1), consented=True, rules=RULES)
    assert early.transitions == []
    late = due_dwells(state, INDEX, now=T0 + timedelta(minutes=3), consented=True, rules=RULES)
    assert kinds(late.transitions) == ["dwell2"] and late.transitions[0].event_id is None
    again = due_dwells(
        late.state, INDEX, now=T0 + timedelta(minutes=4), consented=True, rules=RULES
    )
    assert again.transitions == []
    assert next_dwell_due(again.state, RULES) == T0 + timedelta(minutes=10)
    _, after = run([fix(2, 0, 300)], late.state)
    assert after == []  # the fix does not fire dwell2 a second time


def test_region_signals_from_the_os() -> None:
    def signal(n: int, kind: str, seconds: float) -> LocationUpdate:
        return LocationUpdate(
            event_id=f"r{n}",
            timestamp=T0 + timedelta(seconds=seconds),
            source="region",
            region=RegionSignal(fence_key=KEY, kind=kind),  # type: ignore[arg-type]
        )

    state, transitions = run([signal(1, "enter", 0), signal(2, "exit", 60)])
    assert kinds(transitions) == ["enter", "exit"]
    _, late = run([signal(0, "enter", 30)], state)
    assert late == []  # older than the exit: no re-entry
    unknown = LocationUpdate(
        event_id="x",
        timestamp=T0,
        region=RegionSignal(fence_key="s/removed", kind="enter"),
    )
    assert run([unknown])[1] == []


def test_no_consent_means_no_state_and_no_transitions() -> None:
    state, _ = run([fix(1, 0, 0)])
    result = apply_location_update(state, fix(2, 0, 30), INDEX, now=T0, consented=False)
    assert result.state is None and result.transitions == []
    batch = apply_location_updates(None, [fix(1, 0, 0)], INDEX, now=T0, consented=False)
    assert batch.state is None and batch.transitions == []
    ticks = due_dwells(state, INDEX, now=T0 + timedelta(hours=1), consented=False)
    assert ticks.state is None and ticks.transitions == []


def test_same_update_twice_and_older_updates_change_nothing() -> None:
    first, transitions = run([fix(1, 0, 0), fix(2, 900, 60)])
    assert kinds(transitions) == ["enter", "exit"]
    again, repeat = run([fix(2, 900, 60)], first)
    assert repeat == []
    _, stale = run([fix(1, 0, 0)], again)
    assert stale == []  # older than the exit, for that fence and for the user
    assert again is not None and first is not None and again.fences == first.fences


def test_stale_and_future_updates_are_ignored_and_state_expires() -> None:
    now = T0 + timedelta(hours=3)
    _, transitions = run([fix(1, 0, 0)], now=now)
    assert transitions == []  # two hours too old
    _, transitions = run([fix(1, 0, 3600)], now=T0)
    assert transitions == []  # an hour in the future
    state, _ = run([fix(1, 0, 0), fix(2, 900, 60)])
    assert state is not None and KEY in state.fences
    assert state.expires_at == T0 + timedelta(seconds=65) + RULES.state_ttl
    later, _ = run([fix(3, 5000, 7200)], state)
    assert later is not None and KEY not in later.fences  # the exit record was pruned
    expired = apply_location_update(
        state, fix(4, 5000, 60 * 60 * 13), INDEX, now=T0 + timedelta(hours=13), consented=True
    )
    assert expired.state is not None and expired.state.fix_id == "e4"


def test_state_holds_no_positions_and_stays_small() -> None:
    state, _ = run([fix(n, 0, n * 30) for n in range(1, 50)])
    assert state is not None
    dumped = state.model_dump_json()
    assert "lat" not in dumped and "lng" not in dumped
    assert len(dumped) < 400


def test_a_batch_is_sorted_before_folding() -> None:
    walk = [fix(1, 900, 0), fix(2, 0, 30), fix(3, 900, 60)]
    result = apply_location_updates(
        None, list(reversed(walk)), INDEX, now=T0 + timedelta(minutes=2), consented=True
    )
    assert kinds(result.transitions) == ["enter", "exit"]


def test_rules_are_checked() -> None:
    with pytest.raises(ValueError, match="state_ttl"):
        TransitionRules(state_ttl=timedelta(minutes=30))
    with pytest.raises(ValueError, match="dwell_minutes"):
        TransitionRules(dwell_minutes=(0,))


# --- the ordering property ----------------------------------------------------------------

walk_steps = st.lists(
    st.tuples(
        st.sampled_from([0.0, 100.0, 150.0, 190.0, 200.0, 210.0, 260.0, 600.0, 5600.0]),
        st.sampled_from([5.0, 20.0, 60.0, 150.0, 400.0]),
        st.integers(1, 400),
    ),
    min_size=1,
    max_size=25,
)


def walk_of(steps: list[tuple[float, float, int]]) -> list[LocationUpdate]:
    updates, seconds = [], 0
    for n, (metres, accuracy, gap) in enumerate(steps):
        seconds += gap
        updates.append(fix(n, metres, seconds, accuracy))
    return updates


def fold(updates: list[LocationUpdate], now: datetime) -> list[FenceTransition]:
    state: GeofenceState | None = None
    out: list[FenceTransition] = []
    for update in updates:
        result = apply_location_update(state, update, INDEX, now=now, consented=True, rules=RULES)
        state, out = result.state, out + result.transitions
    return out


def well_formed(transitions: list[FenceTransition]) -> bool:
    """Per fence: enter, (dwells), exit, enter, …; each dwell threshold once per stay."""
    inside: dict[str, set[int] | None] = {}
    for t in transitions:
        stay = inside.get(t.fence_key)
        if t.kind == "enter":
            if stay is not None:
                return False
            inside[t.fence_key] = set()
        elif t.kind == "exit":
            if stay is None:
                return False
            inside[t.fence_key] = None
        else:
            if stay is None or t.dwell_minutes in stay:
                return False
            stay.add(t.dwell_minutes or 0)
    return True


@settings(max_examples=200, deadline=None)
@given(steps=walk_steps, data=st.data())
def test_duplicates_in_order_change_nothing(
    steps: list[tuple[float, float, int]], data: st.DataObject
) -> None:
    """Retries of already-seen updates, anywhere later in the stream: same transitions."""
    walk = walk_of(steps)
    now = walk[-1].timestamp + timedelta(minutes=1)
    stream: list[LocationUpdate] = []
    for update in walk:
        stream.append(update)
        repeats = data.draw(st.lists(st.sampled_from(stream), max_size=2))
        stream.extend(repeats)
    assert fold(stream, now) == fold(walk, now)


@settings(max_examples=300, deadline=None)
@given(steps=walk_steps, data=st.data())
def test_any_order_with_duplicates_adds_no_transitions(
    steps: list[tuple[float, float, int]], data: st.DataObject
) -> None:
    """Shuffled and duplicated: never more enters or exits than in order, the sequence stays
    well formed (no exit without enter, each dwell once per stay), and sorted batches give
    exactly the in-order answer."""
    walk = walk_of(steps)
    now = walk[-1].timestamp + timedelta(minutes=1)
    in_order = fold(walk, now)
    assert well_formed(in_order)
    extra = data.draw(st.lists(st.sampled_from(walk), max_size=len(walk)))
    stream = data.draw(st.permutations(walk + extra))
    shuffled = fold(stream, now)
    assert well_formed(shuffled)
    expected = Counter((t.fence_key, t.kind) for t in in_order if t.kind != "dwell")
    got = Counter((t.fence_key, t.kind) for t in shuffled if t.kind != "dwell")
    assert all(got[key] <= expected[key] for key in got)
    batch = apply_location_updates(None, stream, INDEX, now=now, consented=True, rules=RULES)
    assert batch.transitions == in_order
