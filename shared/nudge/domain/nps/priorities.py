"""Which comment themes cost the score most ("fix first"), and which ones promoters praise.

Per theme T, over the scored responses of the period (a response mentions T when its reason
or follow-up was grouped into T):

    share   detractors mentioning T / all detractors            (praise: promoters)
    gap     mean score of responses not mentioning T
              - mean score of those mentioning T                 (praise: the other way round)
    impact  share x gap: how far the theme pulls the average score down (or up), in points
            of the 0-10 scale, weighted by how many of the unhappy (happy) say it

The interval is the delta method on the product of a proportion and a difference of means
(taken as independent): var = gap^2 p(1-p)/D + p^2 (s1^2/n1 + s0^2/n0). A theme is "fix
first" only when its interval is above zero and it has `MIN_MENTIONS` mentions; small themes
are listed as "too few to rank", never ranked on noise. Quotes are the mentioning
detractors' (promoters') own words.

The scale is a parameter: NPS (0-10, detractors 0-6, promoters 9-10) by default; CSAT and
CES pass theirs (`nudge.models.survey.BANDS`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from nudge.domain.nps.themes import MAX_QUOTE_CHARS, Theme, commented
from nudge.domain.stats import Z95
from nudge.models.survey import BANDS, Scale
from nudge.models.survey_responses import ResponseState

MIN_MENTIONS = 5  # a theme fewer responses mention is shown, not ranked
MAX_QUOTES = 3
Band = Callable[[int], bool]


@dataclass(frozen=True)
class Priority:
    theme: str
    mentions: int  # scored responses mentioning it
    share: float  # of the detractors (praise: promoters) who mention it
    gap: float  # average score points between those who don't and those who do
    impact: float | None  # share x gap; None when too few to rank
    ci_low: float | None
    ci_high: float | None
    verdict: str  # "fix first" | "not clear yet" | "too few to rank" (praise: "praised")
    quotes: tuple[str, ...]


def _mean_var(values: Sequence[int]) -> tuple[float, float]:
    mean = sum(values) / len(values)
    if len(values) < 2:
        return mean, 0.0
    return mean, sum((v - mean) ** 2 for v in values) / (len(values) - 1)


def _rank(
    theme: Theme,
    mentioned: dict[int, list[str]],  # scored answer -> its comments that are in the theme
    scored: list[ResponseState],
    in_band: Band,
    praise: bool,
) -> Priority:
    inside = [s.score for i, s in enumerate(scored) if i in mentioned and s.score is not None]
    outside = [s.score for i, s in enumerate(scored) if i not in mentioned and s.score is not None]
    band = [i for i, s in enumerate(scored) if s.score is not None and in_band(s.score)]
    band_mentioning = [i for i in band if i in mentioned]
    share = len(band_mentioning) / len(band) if band else 0.0
    quotes: list[str] = []
    for i in band_mentioning:
        for text in mentioned[i]:  # the words that put them in the theme, not their other ones
            quote = " ".join(text.split())[:MAX_QUOTE_CHARS]
            if quote and quote not in quotes and len(quotes) < MAX_QUOTES:
                quotes.append(quote)
    if len(inside) < MIN_MENTIONS or len(outside) < 2 or not band:
        gap = 0.0
        if inside and outside:
            gap = sum(outside) / len(outside) - sum(inside) / len(inside)
        return Priority(
            theme.name, len(inside), share, -gap if praise else gap,
            None, None, None, "too few to rank", tuple(quotes),
        )  # fmt: skip
    mean_in, var_in = _mean_var(inside)
    mean_out, var_out = _mean_var(outside)
    gap = (mean_in - mean_out) if praise else (mean_out - mean_in)
    impact = share * gap
    variance = gap * gap * share * (1 - share) / len(band) + share * share * (
        var_in / len(inside) + var_out / len(outside)
    )
    margin = Z95 * math.sqrt(variance)
    low, high = impact - margin, impact + margin
    verdict = ("praised" if praise else "fix first") if low > 0 else "not clear yet"
    return Priority(theme.name, len(inside), share, gap, impact, low, high, verdict, tuple(quotes))


def rank_themes(
    states: Sequence[ResponseState],
    themes: Sequence[Theme],
    owners: Sequence[int],
    scale: Scale = BANDS["nps"],
) -> dict[str, list[Priority]]:
    """{"fix_first": [...], "praised": [...]}: every theme but "other", ranked by impact
    (ranked ones first, largest impact first; the too-few after them).

    `owners[k]` is the index in `states` of the response that comment k (the `members` of
    the themes) came from."""
    scored_positions = [i for i, s in enumerate(states) if s.score is not None]
    scored_index = {position: n for n, position in enumerate(scored_positions)}
    scored = [states[i] for i in scored_positions]
    comments, _ = commented(states)
    fix, praise = [], []
    for theme in themes:
        if theme.name == "other" and not theme.pinned:
            continue
        mentioned: dict[int, list[str]] = {}
        for k in theme.members:
            if owners[k] in scored_index:
                mentioned.setdefault(scored_index[owners[k]], []).append(comments[k].text)
        fix.append(_rank(theme, mentioned, scored, lambda s: s < scale.passive_from, False))
        praise.append(_rank(theme, mentioned, scored, lambda s: s >= scale.promoter_from, True))

    def order(p: Priority) -> tuple[bool, float, str]:
        return (p.impact is None, -(p.impact or 0.0), p.theme)

    return {"fix_first": sorted(fix, key=order), "praised": sorted(praise, key=order)}


def priorities_as_dicts(ranked: dict[str, list[Priority]]) -> dict[str, list[dict[str, Any]]]:
    def rounded(value: float | None) -> float | None:
        return None if value is None else round(value, 2)

    return {
        side: [
            {
                "theme": p.theme,
                "mentions": p.mentions,
                "share": round(p.share, 3),
                "gap": round(p.gap, 2),
                "impact": rounded(p.impact),
                "ci_low": rounded(p.ci_low),
                "ci_high": rounded(p.ci_high),
                "verdict": p.verdict,
                "quotes": list(p.quotes),
            }
            for p in priorities
        ]
        for side, priorities in ranked.items()
    }
