from datetime import UTC, datetime, timedelta

import pytest

from nudge.clock import ManualClock, from_epoch, parse_duration, to_epoch


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("30s", timedelta(seconds=30)),
        ("15m", timedelta(minutes=15)),
        ("6h", timedelta(hours=6)),
        ("7d", timedelta(days=7)),
        ("1w", timedelta(weeks=1)),
        ("1d12h", timedelta(days=1, hours=12)),
        ("1.5h", timedelta(minutes=90)),
        (" 2D ", timedelta(days=2)),
        ("250ms", timedelta(milliseconds=250)),
    ],
)
def test_parse_duration(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize("text", ["", "7", "d7", "7 days", "7x", "-1d", "1d-2h", "h"])
def test_parse_duration_rejects_nonsense(text: str) -> None:
    with pytest.raises(ValueError, match="invalid duration"):
        parse_duration(text)


def test_manual_clock_moves_only_when_told() -> None:
    start = datetime(2026, 1, 1, tzinfo=UTC)
    clock = ManualClock(start)
    assert clock.now() == start
    assert clock.advance(timedelta(days=7)) == start + timedelta(days=7)
    clock.set(start)
    assert clock.now() == start


def test_manual_clock_needs_aware_time() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        ManualClock(datetime(2026, 1, 1))


def test_epoch_round_trip() -> None:
    when = datetime(2026, 5, 17, 12, 30, tzinfo=UTC)
    assert from_epoch(to_epoch(when)) == when


@pytest.mark.parametrize("text", ["99999999999d", "3661d", "600w"])
def test_parse_duration_refuses_absurd_lengths(text: str) -> None:
    with pytest.raises(ValueError, match="at most"):
        parse_duration(text)
