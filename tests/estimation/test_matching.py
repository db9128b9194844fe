"""Matching descriptions to reference classes with the platform classes and the real local embedder."""

from __future__ import annotations

import itertools
import random

import pytest

from pricewise.core.embeddings import get_embedder
from pricewise.estimation.extract import REGIONS, extract
from pricewise.estimation.matching import LOW_CONFIDENCE, Candidate, Matcher
from pricewise.estimation.priors import platform_classes
from tests.estimation.descriptions import FIT, HOLDOUT, LABELLED, PROJECTS

COASTAL, INLAND, NORCAL, CENTRAL = REGIONS


def _candidates() -> list[Candidate]:
    return [Candidate(id=f"c{i}", name=c.name, category=c.category, subcategory=c.subcategory,
                      description=c.description, keywords=c.keywords, regions=c.regions, attributes=c.attributes)
            for i, c in enumerate(platform_classes())]


@pytest.fixture(scope="module")
def matcher() -> Matcher:
    # The embedder distils a token's row the first time it sees it; one batch for the whole set is
    # much faster than one per description.
    get_embedder().embed([t for t, _ in LABELLED])
    return Matcher(_candidates(), get_embedder())


def _top(m: Matcher, text: str, region: str | None = None):
    return m.match(text, region, extract(text))[0]


def _accuracy(m: Matcher, rows) -> float:
    projects = [(t, w) for t, w in rows if w is not None]
    return sum(_top(m, t).subcategory == w for t, w in projects) / len(projects)


def test_the_labelled_set_is_large_and_varied():
    assert len(PROJECTS) >= 100
    assert {w for _, w in PROJECTS} == {c.subcategory for c in platform_classes()}
    assert len(LABELLED) == len(FIT) + len(HOLDOUT)


def test_top1_is_at_least_90_percent_on_both_halves(matcher):
    misses = [(t, w, _top(matcher, t).subcategory) for t, w in PROJECTS if _top(matcher, t).subcategory != w]
    assert 1 - len(misses) / len(PROJECTS) >= 0.90, misses
    assert _accuracy(matcher, FIT) >= 0.90
    assert _accuracy(matcher, HOLDOUT) >= 0.90


def test_messages_without_a_project_come_out_low(matcher):
    for text, want in LABELLED:
        if want is None:
            assert _top(matcher, text).confidence < LOW_CONFIDENCE, text
    for text in ("hello", "how much?", "", "   ", "1234 5678", "!!!"):
        assert matcher.match(text, None, {})[0].confidence < LOW_CONFIDENCE


def test_right_matches_are_mostly_confident_and_confidence_is_a_probability(matcher):
    right = [_top(matcher, t) for t, w in PROJECTS if _top(matcher, t).subcategory == w]
    assert sum(m.confidence >= LOW_CONFIDENCE for m in right) / len(right) >= 0.90
    assert all(0.0 <= m.confidence <= 1.0 for t, _ in LABELLED for m in matcher.match(t, None, extract(t)))


@pytest.mark.parametrize(("text", "subcategory", "region"), [
    ("wanna put in a lap pool w/ hot tub in san diego", "pool", COASTAL),
    ("granny flat over the garage", "adu", None),
    ("redo my master bath", "bathroom_remodel", None),
    ("new shingles on a 2 story house in fresno", "roofing", NORCAL),
    ("landscaping in LA", "landscaping", COASTAL),  # "la" in "landscaping" is no place, "LA" is
    ("thinking about a granny flat", "adu", None),   # short chat openers are enough
    ("casita", "adu", None),
    ("I need a pool", "pool", None),
])
def test_examples(matcher, text, subcategory, region):
    attrs = extract(text)
    assert attrs.get("region") == region
    best = matcher.match(text, attrs.get("region"), attrs)[0]
    assert best.subcategory == subcategory
    assert best.confidence >= LOW_CONFIDENCE


@pytest.mark.parametrize(("text", "name"), [
    ("luxury pool", "Residential Pool - Luxury"),
    ("a simple pool, nothing fancy", "Residential Pool - Basic"),
    ("pool", "Residential Pool - Midrange"),                                # no quality, no size: midrange
    ("15x30 pool", "Residential Pool - Midrange"),                          # closest typical size
    ("20x40 pool", "Residential Pool - Luxury"),
    ("20x40 pool, no spa, no heater", "Residential Pool - Midrange"),        # the big tiers include both
    ("luxury kitchen remodel", "Kitchen Remodel - Premium"),                # nearest tier that exists
    ("cheap kitchen remodel", "Kitchen Remodel - Basic"),
    ("tile roof, 2000 sq ft", "Roof Replacement - Premium"),                # the tile-priced tier
    ("asphalt roof, 2000 sq ft", "Roof Replacement - Midrange"),
    ("1,000 sq ft ADU", "ADU Construction - Premium"),
])
def test_the_tier_follows_quality_then_size_then_midrange(matcher, text, name):
    assert _top(matcher, text).name == name


def test_every_class_is_ranked_once_best_subcategory_first(matcher):
    ranked = matcher.match("kitchen remodel with quartz", None, {})
    assert sorted(m.id for m in ranked) == sorted(c.id for c in matcher.candidates)
    subs = [m.subcategory for m in ranked]
    assert subs[:3] == ["kitchen_remodel"] * 3
    # classes of one subcategory stay together and the scores never go up
    assert len(set(subs)) == len([s for i, s in enumerate(subs) if i == 0 or subs[i - 1] != s])
    assert all(a.score >= b.score for a, b in itertools.pairwise(ranked))


def test_results_do_not_depend_on_the_order_of_the_candidates(matcher):
    shuffled = _candidates()
    random.Random(7).shuffle(shuffled)
    other = Matcher(shuffled, get_embedder())
    for text, _ in LABELLED[::7]:
        attrs = extract(text)
        assert [m.id for m in other.match(text, None, attrs)] == [m.id for m in matcher.match(text, None, attrs)]
        assert matcher.match(text, None, attrs) == matcher.match(text, None, attrs)


def test_misspellings_are_corrected_against_the_class_vocabulary_but_real_words_are_kept(matcher):
    assert matcher.query_words("kitchn remodle") == ["kitchen", "remodel"]
    assert matcher.query_words("bathrom shingels roffing lanscaping") == [
        "bathroom", "shingles", "roofing", "landscaping"]
    assert matcher.query_words("first time") == ["first", "time"]  # "time" is a word, not "tile"
    assert matcher.query_words("pool in Walnut Creek") == ["pool"]     # places say where, not what


def test_a_long_description_is_matched_on_its_beginning(matcher):
    text = "new shingles for the roof. " + "blah " * 20_000
    assert _top(matcher, text).subcategory == "roofing"


def _custom() -> list[Candidate]:
    deck = ("Deck building: framing, composite or wood boards, railings and stairs.",
            ("deck", "composite deck", "trex", "wood deck", "railing"))
    paint = ("Interior and exterior house painting: prep, primer and two coats.",
             ("paint", "painting", "painter", "exterior painting", "interior painting"))
    return [
        Candidate("d-mid-north", "Deck - Midrange", "construction", "deck", *deck, regions=[NORCAL],
                  attributes={"tier": "midrange"}),
        Candidate("d-basic", "Deck - Basic", "construction", "deck", *deck, regions=[], attributes={"tier": "basic"}),
        Candidate("p-mid", "Painting - Midrange", "construction", "painting", *paint, regions=[COASTAL, INLAND],
                  attributes={"tier": "midrange"}),
    ]


def test_any_candidate_set_works_and_region_coverage_counts():
    m = Matcher(_custom(), get_embedder())
    assert m.match("composite deck with stairs", NORCAL, {})[0].id == "d-mid-north"
    # the midrange deck class does not serve the coast: the one that serves every region comes first
    assert m.match("composite deck with stairs", COASTAL, {})[0].id == "d-basic"
    assert m.match("exterior painting", COASTAL, {})[0].subcategory == "painting"
    assert m.match("paint the house", NORCAL, {})[0].confidence < m.match("paint the house", COASTAL, {})[0].confidence
    assert m.match("hello", None, {})[0].confidence < LOW_CONFIDENCE
    assert Matcher([], get_embedder()).match("pool", None, {}) == []
