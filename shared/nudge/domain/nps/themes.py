"""Comment themes: group NPS reasons and follow-ups by what they talk about.

Library choice (measured, installed with pip --target, Python 3.11, manylinux):
    scikit-learn 1.9 + numpy + scipy + joblib + narwhals   275 MB  (over Lambda's 250 MB limit)
    yake 0.7 + numpy + networkx + jellyfish + segtok ...     98 MB
    snowballstemmer 3.1 (pure Python, 34 languages)          2.0 MB  <- used
One-line comments are too short for yake's per-document statistics (position, casing,
sentence spread) to mean much, and scikit-learn does not fit in the layer; what grouping them
needs is stemming ("crashes", "crashing", "crashed" -> "crash"), which the Snowball stemmers
do well, plus a small TF-IDF clustering written here: deterministic, no model download, no
external service, imported lazily (only reports load it).

Method
1. Words: lower-case letter runs, minus English stopwords and feedback filler ("app",
   "love", "great", ...), stemmed. The most frequent spelling of each stem labels it.
2. Pinned themes (config) take, in their order, every comment mentioning one of their
   keywords (all stems of a multi-word keyword must be present).
3. The rest: binary TF-IDF vectors (L2-normalised); seeds are chosen greedily (the stem
   found in most not-yet-covered comments, at least `min_size`), then a few rounds of
   spherical k-means settle each comment with its most similar theme. Themes smaller than
   `min_size` are dissolved; comments sharing no word with any theme go to "other".
4. Label: the theme's top keywords by weight (an adjacent pair seen in most of its comments
   becomes a phrase, e.g. "live departures"); renames from config apply to the label or its
   first keyword. Examples are the comments nearest the theme's centre.
Cost is O(comments x themes x rounds): thousands of comments take well under a second.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Any

from nudge.models.survey import ThemesConfig
from nudge.models.survey_responses import ResponseState

OTHER = "other"
MAX_QUOTE_CHARS = 200
ROUNDS = 8
_WORD = re.compile(r"[^\W\d_]+(?:['\u2019][^\W\d_]+)?")
# "log in", "signed in", "log-in" -> "login" (and logout, signup): one word, one theme
_COMPOUNDS = (
    (
        re.compile(r"\b(?:log|logs|logged|logging|sign|signs|signed|signing)[\s-]+(?:in|on)\b"),
        "login",
    ),
    (re.compile(r"\b(?:log|logs|logged|logging|sign|signs|signed|signing)[\s-]+out\b"), "logout"),
    (re.compile(r"\b(?:sign|signs|signed|signing)[\s-]+up\b"), "signup"),
)


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


ENGLISH_STOPWORDS = _words(
    """
    a about above after again against all also am an and any are aren't as at be because
    been before being below between both but by can can't cannot could couldn't did didn't do
    does doesn't doing don't down during each even ever every few for from further get gets
    getting got had hadn't has hasn't have haven't having he her here hers herself him
    himself his how i i'd i'll i'm i've if in into is isn't it it's its itself just let's
    lot lots me more most much must mustn't my myself no nor not now of off on once one only
    or other ought our ours ourselves out over own same shan't she should shouldn't so some
    still such than that that's the their theirs them themselves then there there's these
    they they'd they'll they're they've this those through to too under until up upon us
    very via was wasn't we we'd we'll we're we've were weren't what what's when where
    which while who whom why will with won't would wouldn't yet you you'd you'll you're
    you've your yours yourself yourselves
    """
)
# Words every piece of app feedback uses: they say how people feel, not what about.
FEEDBACK_FILLER = _words(
    """
    app apps application amazing awesome bad best better really great good nice love loved
    loves like likes liked hate hated terrible awful excellent fantastic perfect please
    thanks thank thing things always never sometimes use used uses using work works
    worked working make makes made need needs want wants would could maybe everything
    anything something nothing keep keeps kind pretty quite super way ok okay fine
    """
)
STOPWORDS = ENGLISH_STOPWORDS | FEEDBACK_FILLER


@dataclass(frozen=True)
class CommentInput:
    text: str
    score: int | None = None


@dataclass(frozen=True)
class Theme:
    name: str
    keywords: tuple[str, ...]
    size: int
    average_score: float | None
    examples: tuple[str, ...]
    pinned: bool = False
    members: tuple[int, ...] = ()  # positions of its comments in the input list


@dataclass
class _Doc:
    index: int
    text: str
    score: int | None
    stems: list[str]  # in order, stopwords removed
    vector: dict[str, float]


def comments_of(states: Iterable[ResponseState]) -> list[CommentInput]:
    """Reasons and follow-up answers of merged responses, each with the answer's score."""
    return commented(states)[0]


def commented(states: Iterable[ResponseState]) -> tuple[list[CommentInput], list[int]]:
    """The comments, and for each the position of the response it came from."""
    comments, owners = [], []
    for position, state in enumerate(states):
        for text in (state.reason, state.follow_up):
            if text and text.strip():
                comments.append(CommentInput(text.strip(), state.score))
                owners.append(position)
    return comments, owners


def group_comments(
    comments: Sequence[CommentInput],
    config: ThemesConfig | None = None,
    *,
    max_themes: int = 8,
    min_size: int = 2,
    language: str = "english",
) -> list[Theme]:
    """Themes of `comments`: pinned ones first (config order), then by size, "other" last."""
    import snowballstemmer  # lazy: only reports need it

    config = config or ThemesConfig()
    stemmer = snowballstemmer.stemmer(language)
    cache: dict[str, str] = {}
    spelling: dict[str, Counter[str]] = {}

    def stems_of(text: str, keep_stopwords: bool = False, record: bool = True) -> list[str]:
        result = []
        lowered = text.lower()
        for pattern, replacement in _COMPOUNDS:
            lowered = pattern.sub(replacement, lowered)
        for match in _WORD.finditer(lowered):
            word = match.group().replace("\u2019", "'")
            if len(word) < 2 or (word in STOPWORDS and not keep_stopwords):
                continue
            stem = cache.get(word)
            if stem is None:
                stem = cache[word] = stemmer.stemWord(word)
            result.append(stem)
            if record:
                spelling.setdefault(stem, Counter())[word] += 1
        return result

    docs = [
        _Doc(i, c.text, c.score, stems_of(c.text), {})
        for i, c in enumerate(comments)
        if c.text.strip()
    ]
    _weigh(docs)
    themes: list[Theme] = []
    remaining = list(range(len(docs)))

    for pin in config.pin:
        keys = [
            stems_of(k, record=False) or stems_of(k, keep_stopwords=True, record=False)
            for k in pin.keywords
        ]
        keys = [k for k in keys if k]
        taken = [i for i in remaining if any(set(k) <= set(docs[i].stems) for k in keys)]
        if taken:
            taken_set = set(taken)
            remaining = [i for i in remaining if i not in taken_set]
            themes.append(_theme(pin.name, [docs[i] for i in taken], spelling, pinned=True))

    groups, other = _cluster(docs, remaining, max_themes, min_size)
    generated = [_theme("", [docs[i] for i in group], spelling) for group in groups]
    generated.sort(key=lambda t: (-t.size, t.name))
    themes.extend(_rename(t, config.rename) for t in generated)
    if other:
        other_theme = _theme(OTHER, [docs[i] for i in other], spelling)
        themes.append(_rename(other_theme, config.rename))
    return themes


def _weigh(docs: list[_Doc]) -> None:
    df: Counter[str] = Counter()
    for doc in docs:
        df.update(set(doc.stems))
    n = len(docs)
    for doc in docs:
        weights = {s: math.log((1 + n) / (1 + df[s])) + 1 for s in set(doc.stems)}
        norm = math.sqrt(sum(w * w for w in weights.values())) or 1.0
        doc.vector = {s: w / norm for s, w in weights.items()}


def _cosine(vector: dict[str, float], centre: dict[str, float]) -> float:
    return sum(w * centre.get(s, 0.0) for s, w in vector.items())


def _centre(docs: list[_Doc], members: Iterable[int]) -> dict[str, float]:
    total: dict[str, float] = {}
    for i in members:
        for s, w in docs[i].vector.items():
            total[s] = total.get(s, 0.0) + w
    norm = math.sqrt(sum(w * w for w in total.values())) or 1.0
    return {s: w / norm for s, w in total.items()}


def _cluster(
    docs: list[_Doc], pool: list[int], max_themes: int, min_size: int
) -> tuple[list[list[int]], list[int]]:
    """Greedy seeds, then spherical k-means; returns (groups, unassigned)."""
    usable = [i for i in pool if docs[i].stems]
    uncovered = set(usable)
    seeds: list[set[int]] = []
    while len(seeds) < max_themes and uncovered:
        df: Counter[str] = Counter()
        for i in uncovered:
            df.update(set(docs[i].stems))
        if not df:
            break
        stem, count = min(df.items(), key=lambda item: (-item[1], item[0]))
        if count < max(min_size, 2):
            break
        members = {i for i in usable if stem in docs[i].vector}
        seeds.append(members)
        uncovered -= members
    if not seeds:
        return [], sorted(pool)

    centres = [_centre(docs, sorted(s)) for s in seeds]
    assignment: dict[int, int] = {}
    for _ in range(ROUNDS):
        new: dict[int, int] = {}
        for i in usable:
            best, best_sim = -1, 0.0
            for k, centre in enumerate(centres):
                sim = _cosine(docs[i].vector, centre)
                if sim > best_sim + 1e-12:
                    best, best_sim = k, sim
            if best >= 0:
                new[i] = best
        groups: list[list[int]] = [[] for _ in centres]
        for i, k in new.items():
            groups[k].append(i)
        keep = [k for k, g in enumerate(groups) if len(g) >= min_size]
        stable = new == assignment and len(keep) == len(centres)
        assignment = new
        if stable:
            break
        centres = [_centre(docs, groups[k]) for k in keep]
        if not centres:
            return [], sorted(pool)
    groups = [[] for _ in centres]
    for i, k in sorted(assignment.items()):
        groups[k].append(i)
    groups = [g for g in groups if len(g) >= min_size]
    placed = {i for g in groups for i in g}
    return groups, sorted(i for i in pool if i not in placed)


def _theme(
    name: str, members: list[_Doc], spelling: dict[str, Counter[str]], pinned: bool = False
) -> Theme:
    centre: dict[str, float] = {}
    for doc in members:
        for s, w in doc.vector.items():
            centre[s] = centre.get(s, 0.0) + w
    present: Counter[str] = Counter()
    for doc in members:
        present.update(set(doc.stems))
    floor = 2 if len(members) >= 2 else 1
    ranked = sorted((s for s in centre if present[s] >= floor), key=lambda s: (-centre[s], s))[:3]

    def word(stem: str) -> str:
        return min(spelling[stem].items(), key=lambda item: (-item[1], item[0]))[0]

    keywords = [word(s) for s in ranked]
    phrase = _phrase(members, ranked[:2])
    if phrase:
        keywords = [" ".join(word(s) for s in phrase), *keywords[2:]]
    scores = [d.score for d in members if d.score is not None]
    norm = math.sqrt(sum(w * w for w in centre.values())) or 1.0
    nearest = sorted(members, key=lambda d: (-_cosine(d.vector, centre) / norm, len(d.text)))
    examples: list[str] = []
    for doc in nearest:
        quote = _quote(doc.text)
        if quote not in examples:
            examples.append(quote)
        if len(examples) == 3:
            break
    return Theme(
        name=name or ", ".join(keywords) or OTHER,
        keywords=tuple(keywords),
        size=len(members),
        average_score=sum(scores) / len(scores) if scores else None,
        examples=tuple(examples),
        pinned=pinned,
        members=tuple(sorted(d.index for d in members)),
    )


def _phrase(members: list[_Doc], top: list[str]) -> tuple[str, str] | None:
    """The two top stems as a phrase, in their usual order, if adjacent in most comments."""
    if len(top) < 2:
        return None
    pairs: Counter[tuple[str, str]] = Counter()
    for doc in members:
        seen = set(zip(doc.stems, doc.stems[1:], strict=False))
        pairs.update(p for p in seen if set(p) == set(top))
    if not pairs:
        return None
    pair, count = min(pairs.items(), key=lambda item: (-item[1], item[0]))
    return pair if count * 2 >= len(members) and count >= 2 else None


def _quote(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= MAX_QUOTE_CHARS else text[: MAX_QUOTE_CHARS - 1] + "…"


def _rename(theme: Theme, rename: dict[str, str]) -> Theme:
    lowered = {key.strip().lower(): value for key, value in rename.items()}
    candidates = [theme.name.lower()]
    if theme.keywords:
        candidates.append(theme.keywords[0].lower())
    for candidate in candidates:
        if candidate in lowered:
            return replace(theme, name=lowered[candidate])
    return theme


def themes_as_dicts(themes: Sequence[Theme]) -> list[dict[str, Any]]:
    """JSON-ready themes for the admin API and the CLI."""
    return [
        {
            "name": t.name,
            "keywords": list(t.keywords),
            "size": t.size,
            "average_score": None if t.average_score is None else round(t.average_score, 2),
            "examples": list(t.examples),
            "pinned": t.pinned,
        }
        for t in themes
    ]
