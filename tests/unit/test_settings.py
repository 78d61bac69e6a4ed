"""Settings come from the NUDGE_* environment as template.yaml sets it."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from nudge.settings import Settings


def test_nudge_variables_are_read_case_insensitively_and_others_ignored() -> None:
    settings = Settings.from_environment(
        {
            "NUDGE_PROFILES_TABLE": "p",
            "nudge_events_queue_url": "https://q",
            "NUDGE_SOMETHING_NEW": "ignored",
            "PATH": "/bin",
        }
    )
    assert (settings.profiles_table, settings.events_queue_url) == ("p", "https://q")
    assert settings.history_table == "nudge-history"  # the default


def test_engagement_config_is_json() -> None:
    settings = Settings.from_environment({"NUDGE_ENGAGEMENT": '{"consent": {"mode": "opt_out"}}'})
    assert settings.engagement.consent.mode == "opt_out"
    assert Settings.from_environment({}).engagement == Settings().engagement


def test_bad_engagement_json_names_the_field() -> None:
    with pytest.raises((ValidationError, ValueError), match=r"engagement|Expecting"):
        Settings.from_environment({"NUDGE_ENGAGEMENT": "{not json"})
