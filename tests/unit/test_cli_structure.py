"""The `nudge` CLI's shape: every command dispatches through set_defaults(func=...), every
--help works, and every config kind goes through the one validate/push flow of configs.py."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import pytest

from nudge_cli import commands, configs
from nudge_cli.campaigns import CampaignKind, SegmentsKind
from nudge_cli.geofences import FenceSetKind
from nudge_cli.main import build_parser, main
from nudge_cli.surveys import SurveyKind

EVENTS = Path(__file__).resolve().parents[2] / "events"


def commands_tree() -> list[tuple[list[str], argparse.ArgumentParser, bool]]:
    """(path, parser, has func here or above) for every command, top level first."""
    found = []

    def walk(parser: argparse.ArgumentParser, path: list[str], inherited: bool) -> None:
        has_func = inherited or "func" in parser._defaults
        found.append((path, parser, has_func))
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for name, child in action.choices.items():
                    walk(child, [*path, name], has_func)

    walk(build_parser(), [], False)
    return found


def leaves() -> list[tuple[list[str], bool]]:
    return [
        (path, has_func)
        for path, parser, has_func in commands_tree()
        if not any(isinstance(a, argparse._SubParsersAction) for a in parser._actions)
    ]


def test_every_command_has_a_func() -> None:
    found = leaves()
    assert len(found) > 40
    assert [path for path, has_func in found if not has_func] == []
    # nudge_local owns `local`'s subcommands: they run through the func `local` sets
    own = {tuple(path) for path, parser, _ in commands_tree() if "func" in parser._defaults}
    assert all(tuple(path) in own for path, _ in found if path[0] != "local")


@pytest.mark.parametrize("path", [path for path, _, _ in commands_tree()], ids=" ".join)
def test_help_works(path: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main([*path, "--help"])
    assert exit_.value.code == 0
    assert capsys.readouterr().out.startswith(f"usage: {' '.join(['nudge', *path])} ")


def test_the_console_script_target_is_main() -> None:
    assert commands.main is main


def test_the_demo_prints_with_the_shared_printers() -> None:
    from nudge_cli import printers

    source = (Path(__file__).resolve().parents[2] / "infra/local/demo_report.py").read_text()
    assert "from nudge_cli.printers import" in source
    assert callable(printers.broadcast_reach) and callable(printers.print_engagement)


def bad_files(tmp_path: Path) -> dict[str, tuple[list[str], Path, int]]:
    """A bad file per kind: (the command, the file, the line of its problem)."""
    campaign = tmp_path / "bad-campaign.yaml"
    text = (EVENTS / "campaigns/onboarding.yaml").read_text()
    campaign.write_text(text.replace("priority: 20", "priorty: 20"))
    campaign_line = text.splitlines().index("priority: 20") + 1
    survey = tmp_path / "bad-survey.yaml"
    text = (EVENTS / "surveys/nps-after-trip.yaml").read_text()
    survey.write_text(text.replace("prompt_ttl: 2d", "prompt_ttl: soon"))
    survey_line = text.splitlines().index("prompt_ttl: 2d") + 1
    fences = tmp_path / "bad-fences.csv"
    fences.write_text("id,name,lat,lng,radius_m\na,A,52.3,4.9,150\nb,B,north,4.9,150\n")
    return {
        "campaign": (["campaign", "validate"], campaign, campaign_line),
        "survey": (["survey", "validate"], survey, survey_line),
        "geofences": (["geofences", "validate"], fences, 3),
    }


@pytest.mark.parametrize("kind", ["campaign", "survey", "geofences"])
def test_validate_of_a_bad_file_goes_through_the_generic_flow(
    kind: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    command, path, line = bad_files(tmp_path)[kind]
    checked: list[tuple[type, str]] = []
    real_check = configs.check_file

    def spy(kind: configs.ConfigKind, path: str, *args: Any) -> Any:
        checked.append((type(kind), path))
        return real_check(kind, path, *args)

    monkeypatch.setattr(configs, "check_file", spy)
    with pytest.raises(SystemExit) as exit_:
        main([*command, str(path)])
    assert exit_.value.code == 1
    expected = {"campaign": CampaignKind, "survey": SurveyKind, "geofences": FenceSetKind}[kind]
    assert checked == [(expected, str(path))]
    err = capsys.readouterr().err
    assert err.startswith(f"{path}: ") and " problem(s)\n" in err
    assert f"  ✗ {path}:{line}: " in err


def test_valid_files_are_announced_by_kind(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["campaign", "validate", str(EVENTS / "campaigns/onboarding.yaml")]) == 0
    assert main(["survey", "validate", str(EVENTS / "surveys/nps-after-trip.yaml")]) == 0
    assert main(["geofences", "validate", str(EVENTS / "geofences/stations.geojson")]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].endswith("onboarding.yaml: campaign 'onboarding' is valid")
    assert out[1].endswith("nps-after-trip.yaml: survey 'nps-after-trip' is valid")
    assert "stations.geojson: fence set 'stations' is valid: " in out[2]


@pytest.mark.parametrize(
    ("argv", "kind", "files"),
    [
        (["campaign", "push", "a.yaml", "b.yaml"], CampaignKind, ["a.yaml", "b.yaml"]),
        (["segments", "push", "segs.yaml"], SegmentsKind, ["segs.yaml"]),
        (["survey", "push", "s.yaml"], SurveyKind, ["s.yaml"]),
        (["geofences", "push", "f.geojson"], FenceSetKind, ["f.geojson"]),
    ],
)
def test_every_kind_pushes_through_the_generic_flow(
    argv: list[str], kind: type, files: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    pushed: list[tuple[type, list[str]]] = []

    def push_files(kind: configs.ConfigKind, files: list[str], args: Any) -> int:
        pushed.append((type(kind), files))
        return 0

    monkeypatch.setattr(configs, "push_files", push_files)
    assert main(argv) == 0
    assert pushed == [(kind, files)]


def test_push_waits_for_the_loaded_version_the_same_way_for_every_kind(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    uploaded: dict[str, bytes] = {}

    class S3:
        def put_object(self, Bucket: str, Key: str, Body: bytes) -> None:
            uploaded[Key] = Body

    def row(args: Any, item: configs.Checked) -> dict[str, Any] | None:
        if item.key not in uploaded:
            return None
        return {"sha256": item.digest, "status": "active", "version": 7}

    monkeypatch.setattr(configs, "configs_bucket", lambda args: (S3(), "bucket"))
    for kind in (CampaignKind, SegmentsKind, SurveyKind, FenceSetKind):
        monkeypatch.setattr(kind, "status_row", lambda self, args, item: row(args, item))
    segments = tmp_path / "segments.yml"
    segments.write_text((EVENTS / "campaigns/segments.yml").read_text())
    assert main(["campaign", "push", str(EVENTS / "campaigns/onboarding.yaml")]) == 0
    assert main(["segments", "push", str(segments)]) == 0
    assert main(["survey", "push", str(EVENTS / "surveys/nps-after-trip.yaml")]) == 0
    assert main(["geofences", "push", str(EVENTS / "geofences/stations.geojson")]) == 0
    assert sorted(uploaded) == [
        "campaigns/onboarding.yaml",
        "geofences/stations.geojson",
        "segments/segments.yaml",
        "surveys/nps-after-trip.yaml",
    ]
    out = capsys.readouterr().out
    assert out.count("is live as version 7") == 3 and "are live as version 7" in out
