"""Hostile config files (issue 20): alias bombs, nesting bombs, values the YAML constructor
chokes on, oversized files. Each is refused fast with a located problem, never a hang or a
traceback: by the parsers and by `nudge ... validate` (which checks a file's size before
reading it).

Time is this process's CPU time: the bombs burn CPU, and other work on a shared machine then
cannot make the tests flaky."""

from __future__ import annotations

import time
import tracemalloc
from datetime import UTC, datetime
from pathlib import Path

import pytest

from nudge.clock import ManualClock
from nudge.configfiles import MAX_CONFIG_DEPTH, ConfigError, load_config
from nudge.domain.geofencing.importing import parse_csv, parse_geojson
from nudge.models.campaign import Campaign
from nudge.models.segment import NamedSegments
from nudge.models.survey import SurveyConfig
from nudge.services.configs.loading import load_config_object
from nudge.services.configs.store import ConfigStore
from nudge_cli.main import main
from tests.fakes.memory import InMemoryConfigTable

EVENTS = Path(__file__).resolve().parents[2] / "events"

# The classic "billion laughs": 9 levels of 9 aliases each, 369 bytes, 9**9 strings once expanded.
BILLION_LAUGHS = "\n".join(
    [
        "# billion laughs 369 bytes",
        'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]',
        *(
            f"{name}: &{name} [{','.join([f'*{prev}'] * 9)}]"
            for prev, name in zip("abcdefgh", "bcdefghi", strict=True)
        ),
        "",
    ]
)
DEEP_FLOW = "[" * 4096  # 4 KB: today a RecursionError in PyYAML's composer


def deep_block(levels: int) -> str:
    """`a:` nested `levels` deep in block style: level n is on line n."""
    return "".join(f"{' ' * depth}a:\n" for depth in range(levels)) + " " * levels + "x\n"


def refused(text: str, model: type = Campaign, source: str = "bomb.yaml") -> ConfigError:
    started = time.process_time()
    with pytest.raises(ConfigError) as error:
        load_config(text, model, source)
    assert time.process_time() - started < 1.0
    return error.value


def test_billion_laughs_is_refused_before_expansion_at_its_first_anchor() -> None:
    assert len(BILLION_LAUGHS.encode()) == 369
    (problem,) = refused(BILLION_LAUGHS).problems
    assert (problem.source, problem.line) == ("bomb.yaml", 2)
    assert "anchors and aliases" in problem.message


def test_an_alias_without_its_anchor_in_view_is_refused_too() -> None:
    (problem,) = refused("id: x\nname: *elsewhere\n").problems
    assert problem.line == 2 and "anchors and aliases" in problem.message


@pytest.mark.parametrize("model", [Campaign, NamedSegments, SurveyConfig])
def test_a_4kb_flow_nesting_bomb_is_a_located_problem_not_a_recursion_error(model: type) -> None:
    (problem,) = refused(DEEP_FLOW, model).problems
    assert problem.line == 1
    assert f"nested more than {MAX_CONFIG_DEPTH} levels deep" in problem.message


def test_block_nesting_past_the_limit_names_the_line_where_it_goes_too_deep() -> None:
    (problem,) = refused(deep_block(MAX_CONFIG_DEPTH + 20)).problems
    assert problem.line == MAX_CONFIG_DEPTH + 1
    assert "nested more than" in problem.message


def test_nesting_up_to_the_limit_still_parses_and_real_configs_still_load() -> None:
    error = refused(deep_block(MAX_CONFIG_DEPTH - 1))  # parses: only the model refuses it
    assert "nested" not in str(error)
    for path in sorted((EVENTS / "campaigns").glob("*.yaml")):
        load_config(path.read_text(), Campaign, str(path))
    load_config((EVENTS / "campaigns/segments.yml").read_text(), NamedSegments, "segments.yml")
    load_config((EVENTS / "surveys/nps-after-trip.yaml").read_text(), SurveyConfig, "s.yaml")


@pytest.mark.parametrize(
    ("value", "words"),
    [
        ("2024-13-45", "not a valid value"),  # a timestamp PyYAML's resolver accepts
        ("9" * 5000, "not a valid value"),  # past Python's int digits limit
    ],
    ids=["bad-date", "huge-int"],
)
def test_values_the_yaml_constructor_cannot_build_are_located(value: str, words: str) -> None:
    (problem,) = refused(f"id: welcome\nname: Welcome\npriority: {value}\n").problems
    assert problem.line == 3 and words in problem.message


def test_a_json_nesting_bomb_in_a_fence_set_is_a_located_problem() -> None:
    text = '{"type": "FeatureCollection",\n"features": ' + "[" * 100_000
    started = time.process_time()
    with pytest.raises(ConfigError) as error:
        parse_geojson(text, source="deep.geojson", set_id="deep")
    assert time.process_time() - started < 1.0
    (problem,) = error.value.problems
    assert (problem.source, problem.line) == ("deep.geojson", 2)
    assert "nested more than" in problem.message


def test_a_csv_field_past_the_csv_modules_limit_is_a_located_problem() -> None:
    text = "id,name,lat,lng,radius_m\n# a comment\nshop," + '"' + "x" * 200_000 + '",1,2,3\n'
    with pytest.raises(ConfigError) as error:
        parse_csv(text, source="big.csv", set_id="big")
    (problem,) = error.value.problems
    assert (problem.source, problem.line) == ("big.csv", 3)
    assert "longer than" in problem.message


# ---- the CLI's generic validate -----------------------------------------------------------


VALID = {
    "campaign": EVENTS / "campaigns/onboarding.yaml",
    "survey": EVENTS / "surveys/nps-after-trip.yaml",
    "geofences": EVENTS / "geofences/stations.geojson",
}


def warm_up(command: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    """A valid file first: the imports it pulls in are not what is timed or measured."""
    assert main([*command, "validate", str(VALID[command[0]])]) == 0
    capsys.readouterr()


def validate(
    command: list[str], path: Path, capsys: pytest.CaptureFixture[str], warm: bool = True
) -> str:
    if warm:
        warm_up(command, capsys)
    started = time.process_time()
    with pytest.raises(SystemExit) as exit_:
        main([*command, "validate", str(path)])
    assert time.process_time() - started < 1.0
    assert exit_.value.code == 1
    return capsys.readouterr().err


@pytest.mark.parametrize("command", [["campaign"], ["survey"]])
def test_cli_validate_refuses_the_billion_laughs_and_the_nesting_bomb(
    command: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    laughs, deep = tmp_path / "laughs.yaml", tmp_path / "deep.yaml"
    laughs.write_text(BILLION_LAUGHS)
    deep.write_text(DEEP_FLOW)
    err = validate(command, laughs, capsys)
    assert f"  ✗ {laughs}:2: anchors and aliases" in err
    err = validate(command, deep, capsys)
    assert f"  ✗ {deep}:1: nested more than {MAX_CONFIG_DEPTH} levels deep" in err


def test_cli_validate_refuses_a_json_nesting_bomb(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    deep = tmp_path / "deep.geojson"
    deep.write_text("[" * 100_000)
    err = validate(["geofences"], deep, capsys)
    assert f"  ✗ {deep}:1: nested more than" in err


@pytest.mark.parametrize(
    ("command", "name", "size", "words"),
    [
        (["campaign"], "big.yaml", 64 << 20, "larger than 512 KB"),
        (["survey"], "big.yaml", 64 << 20, "larger than 512 KB"),
        (["geofences"], "big.geojson", 64 << 20, "larger than 50 MB"),
    ],
    ids=["campaign", "survey", "geofences"],
)
def test_cli_validate_checks_the_size_before_reading_the_file(
    command: list[str],
    name: str,
    size: int,
    words: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    big = tmp_path / name
    with big.open("wb") as handle:  # sparse: costs no disk
        handle.truncate(size)
    warm_up(command, capsys)
    tracemalloc.start()
    try:
        err = validate(command, big, capsys, warm=False)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert f"  ✗ {big}: file is {words}" in err
    assert peak < 4 << 20, f"read {peak} bytes of a file it should have refused unread"


# ---- config_loader's use case ---------------------------------------------------------------


def test_content_that_breaks_a_publish_past_the_parsers_is_recorded_not_retried() -> None:
    """A deterministic failure of the content (not AWS) would fail every retry, then
    dead-letter: it is a load error on the key instead, and nothing is published."""
    store = ConfigStore(InMemoryConfigTable(), ManualClock(datetime(2026, 1, 1, tzinfo=UTC)))

    def publish(text: str) -> None:
        raise RecursionError("maximum recursion depth exceeded")

    outcome = load_config_object(store, "campaigns/x.yaml", b"id: x\n", "v1", 100, publish)
    assert outcome.result == "rejected"
    (problem,) = outcome.problems
    assert problem.message.startswith("could not be loaded: maximum recursion depth")
    error = store.errors()["campaigns/x.yaml"]
    assert (error.s3_version_id, error.problems[0]["source"]) == ("v1", "campaigns/x.yaml")
    assert store.head("campaign", "x") is None
