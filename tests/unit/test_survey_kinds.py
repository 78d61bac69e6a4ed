"""CSAT (1-5) and CES (1-7) beside NPS: their scales, bands, scores and the same rules."""

from __future__ import annotations

import math
from typing import Any

import pytest

from nudge.clock import ManualClock
from nudge.configfiles import ConfigError, load_config
from nudge.domain.nps.score import ScoreCounts, summary
from nudge.domain.stats import wilson
from nudge.models.survey import Category, SurveyConfig, category_of
from nudge.services.nps.reports import NpsReportService
from nudge.services.nps.surveys import ScoreOffScale
from tests.unit.test_survey_service import Env, survey

DETRACTOR, PASSIVE, PROMOTER = Category.DETRACTOR, Category.PASSIVE, Category.PROMOTER
CSAT_QUESTIONS = {
    "score": "How satisfied are you with your trip planning today?",
    "reason": {"promoter": "What worked?", "passive": "What was missing?", "detractor": "Sorry!"},
}


def csat(**changes: Any) -> SurveyConfig:
    return survey(id="csat-checkout", kind="csat", questions=CSAT_QUESTIONS, **changes)


def ces(**changes: Any) -> SurveyConfig:
    questions = {"score": "How easy was it to buy a ticket?"}
    return survey(id="ces-ticket", kind="ces", questions=questions, **changes)


@pytest.mark.parametrize(
    ("kind", "score", "band"),
    [
        ("nps", 6, DETRACTOR), ("nps", 7, PASSIVE), ("nps", 9, PROMOTER),
        ("csat", 2, DETRACTOR), ("csat", 3, PASSIVE), ("csat", 4, PROMOTER),
        ("ces", 3, DETRACTOR), ("ces", 4, PASSIVE), ("ces", 5, PROMOTER),
    ],
)  # fmt: skip
def test_each_kind_splits_its_scale_into_three_bands(kind: str, score: int, band: Category) -> None:
    assert category_of(score, kind) is band


@pytest.mark.parametrize(("kind", "score"), [("csat", 0), ("csat", 6), ("ces", 8), ("ces", 0)])
def test_a_score_off_the_scale_has_no_band(kind: str, score: int) -> None:
    with pytest.raises(ValueError, match="outside"):
        category_of(score, kind)


def test_csat_is_the_share_satisfied_with_its_wilson_interval() -> None:
    counts = ScoreCounts.of([5] * 30 + [4] * 20 + [3] * 10 + [2] * 25 + [1] * 15)
    result = summary(counts, "csat", min_responses=30)
    assert (result.promoters, result.passives, result.detractors) == (50, 10, 40)
    assert result.score == pytest.approx(50.0) and result.nps is None
    low, high = wilson(50, 100)
    assert (result.ci_low, result.ci_high) == pytest.approx((100 * low, 100 * high))
    assert result.label.startswith("CSAT 50% satisfied (n=100, 95% CI 40 to 60")


def test_ces_is_the_mean_with_a_normal_interval() -> None:
    answers = [7] * 10 + [6] * 20 + [5] * 10 + [4] * 5 + [2] * 5
    result = summary(ScoreCounts.of(answers), "ces", min_responses=100)
    mean = sum(answers) / len(answers)
    sd = math.sqrt(sum((a - mean) ** 2 for a in answers) / (len(answers) - 1))
    assert result.score == pytest.approx(mean)
    assert result.ci_low == pytest.approx(mean - 1.96 * sd / math.sqrt(50))
    assert (result.promoters, result.passives, result.detractors) == (40, 5, 5)
    assert result.insufficient and "fewer than 100" in result.label


def test_an_empty_survey_of_any_kind_has_no_score_and_no_nan() -> None:
    for kind in ("nps", "csat", "ces"):
        result = summary(ScoreCounts(), kind)
        assert result.n == 0 and result.score is None and result.label == "no responses"


def test_the_promoter_action_must_fire_on_a_top_score_of_the_kind() -> None:
    text = (
        "id: csat-x\nkind: csat\ntrigger: {event: trip_completed}\n"
        "questions:\n  score: How satisfied?\non_promoter:\n  emit_event: happy\n  min_score: 9\n"
    )
    with pytest.raises(ConfigError) as caught:
        load_config(text, SurveyConfig, "surveys/csat-x.yaml")
    assert "on_promoter.min_score: 9 is not a top score of a csat survey (4-5)" in str(caught.value)
    assert csat().promoter_min_score == 4 and ces().promoter_min_score == 5
    assert survey().promoter_min_score == 9


def test_a_csat_survey_asks_on_its_scale_routes_low_scores_and_refuses_off_scale(
    clock: ManualClock,
) -> None:
    env = Env(clock, csat())
    prompt = env.prompt()
    shown = env.service.next_for("ann", None)
    assert shown is not None
    assert shown["kind"] == "csat" and shown["scale"] == {"min": 1, "max": 5}
    assert shown["questions"]["score"] == CSAT_QUESTIONS["score"]
    with pytest.raises(ScoreOffScale, match=r"score: 7 is not on the csat scale \(1-5\)"):
        env.answer(prompt, survey_id="csat-checkout", score=7)
    outcome = env.answer(prompt, survey_id="csat-checkout", score=2, reason="Too many steps")
    assert outcome.public()["category"] == "detractor"
    assert outcome.routed and len(env.jobs.bodies) == 1  # routed like an NPS detractor


def test_a_satisfied_csat_answer_fires_the_promoter_action(clock: ManualClock) -> None:
    env = Env(clock, csat())
    outcome = env.answer(env.prompt(), survey_id="csat-checkout", score=4)
    assert outcome.public()["category"] == "promoter" and not outcome.routed
    assert [e.name for batch in env.events.sent for e in batch.events] == ["nps_promoter"]


def test_the_report_of_a_ces_survey_scores_its_mean(clock: ManualClock) -> None:
    env = Env(clock, ces())
    for n, score in enumerate([7, 6, 6, 2]):
        user = f"user-{n}"
        env.answer(env.prompt(user), user, survey_id="ces-ticket", score=score)
    report = NpsReportService(env.store, clock).report(ces(), "daily", min_responses=1)
    assert report["kind"] == "ces"
    overall = report["overall"]
    assert overall["kind"] == "ces" and overall["score"] == pytest.approx(5.2, abs=0.05)
    assert overall["nps"] is None and overall["label"].startswith("CES 5.2 of 7 (n=4")
    assert report["trend"][-1]["score"] == overall["score"]
