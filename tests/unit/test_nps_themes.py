"""Comment themes on a realistic set of commute-app comments."""

from __future__ import annotations

from collections import Counter

import pytest

from nudge.domain.nps.themes import (
    CommentInput,
    Theme,
    comments_of,
    group_comments,
    themes_as_dicts,
)
from nudge.models.survey import PinnedTheme, ThemesConfig
from nudge.models.survey_responses import ResponseState
from tests.unit.nps_comments import ALL, ALL_GROUPS, PRICES


def comments() -> list[CommentInput]:
    return [CommentInput(text, score) for text, score in ALL]


def assignments(config: ThemesConfig | None = None) -> tuple[list[Theme], dict[str, str]]:
    """The themes, and the theme each comment landed in."""
    given = comments()
    themes = group_comments(given, config)
    return themes, {given[i].text: t.name for t in themes for i in t.members}


@pytest.mark.parametrize("group", sorted(ALL_GROUPS))
def test_clearly_related_comments_land_together(group: str) -> None:
    _, where = assignments()
    members = ALL_GROUPS[group]
    landed = Counter(where[text] for text, _ in members)
    label, count = landed.most_common(1)[0]
    assert count >= len(members) - 1, (group, landed)  # at most one strays
    # and that theme is mostly this group's comments
    others = [t for t, lab in where.items() if lab == label and t not in dict(members)]
    assert len(others) <= 2, (group, others)


def test_themes_carry_label_size_average_and_examples() -> None:
    themes = group_comments(comments())
    crash = next(t for t in themes if "crash" in t.name)
    assert crash.size == 8
    assert crash.average_score == pytest.approx(2.0)
    assert len(crash.examples) == 3
    assert all("crash" in e.lower() for e in crash.examples)
    departures = next(t for t in themes if "departures" in t.name)
    assert departures.name.startswith("live departures")  # a phrase, in reading order
    assert departures.average_score is not None
    assert departures.average_score > 9
    assert themes[-1].name == "other"
    assert sum(t.size for t in themes) == sum(1 for text, _ in ALL if text)
    assert [t.size for t in themes[:-1]] == sorted((t.size for t in themes[:-1]), reverse=True)


def test_pinned_themes_take_their_matches_first_and_renames_apply() -> None:
    config = ThemesConfig(
        pin=[PinnedTheme(name="Pricing", keywords=["price", "expensive", "cheap", "booking fee"])],
        rename={"crashes": "Stability", "login, password, reset": "Signing in"},
    )
    themes = group_comments(comments(), config)
    assert themes[0].name == "Pricing"
    assert themes[0].pinned
    assert themes[0].size == len(PRICES)  # "Cheaper prices" too, through the stem
    names = [t.name for t in themes]
    assert "Stability" in names
    assert "Signing in" in names
    assert not any("price" in t.name for t in themes[1:])


def test_small_and_empty_sets_do_not_crash() -> None:
    assert group_comments([]) == []
    assert group_comments([CommentInput("", 5), CommentInput("   ", None)]) == []
    (only,) = group_comments([CommentInput("ok", 7)])
    assert (only.name, only.size, only.average_score) == ("other", 1, 7)
    two = group_comments(
        [CommentInput("Too many notifications", 3), CommentInput("notifications spam", None)]
    )
    assert [(t.name, t.size, t.average_score) for t in two] == [("notifications", 2, 3)]
    odd = group_comments([CommentInput("!!! ??? 123", 1), CommentInput("a an the", 2)])
    assert [(t.name, t.size) for t in odd] == [("other", 2)]


def test_deterministic() -> None:
    assert group_comments(comments()) == group_comments(list(comments()))


def test_comments_of_states_and_json() -> None:
    state = ResponseState(
        prompt_id="p", user_id="u", survey_id="s", score=3, reason="Slow", follow_up=" "
    )
    assert comments_of([state]) == [CommentInput("Slow", 3)]
    (theme,) = themes_as_dicts(group_comments(comments_of([state])))
    assert theme == {
        "name": "other",
        "keywords": ["slow"],
        "size": 1,
        "average_score": 3,
        "examples": ["Slow"],
        "pinned": False,
    }
