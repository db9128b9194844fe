"""Rule-based extraction: regions by gazetteer on whole words, sizes, quality, add-ons with negation."""

from __future__ import annotations

import pytest

from pricewise.estimation.extract import REGIONS, canonical_region, extract, find_region, merge, without_places

COASTAL, INLAND, NORCAL, CENTRAL = REGIONS


@pytest.mark.parametrize(("text", "region"), [
    ("pool in Los Angeles", COASTAL),
    ("kitchen remodel in L.A.", COASTAL),
    ("kitchen remodel in l.a.", COASTAL),
    ("ADU in LA, 600 sq ft", COASTAL),
    ("roof in La Jolla", COASTAL),
    ("we're in SD", COASTAL),
    ("house in the OC", COASTAL),
    ("Riverside", INLAND),
    ("yard in the IE", INLAND),
    ("Rancho Cucamonga pool", INLAND),
    ("pool in palm springs", INLAND),
    ("bath remodel in SF", NORCAL),
    ("Bay Area kitchen", NORCAL),
    ("new shingles on a 2 story house in fresno", NORCAL),
    ("floors in San José", NORCAL),
    ("roof in Santa Barbara", CENTRAL),
    ("casita in SLO", CENTRAL),
    ("house in Carmel-by-the-Sea", CENTRAL),
    ("inland socal pool", INLAND),
])
def test_places_map_to_their_region(text, region):
    assert find_region(text) == region
    assert extract(text)["region"] == region


@pytest.mark.parametrize("text", [
    "landscaping the backyard",          # "la" inside a word
    "a salad bar and a lab",             # "la" / "sd" never inside words
    "la casa con piscina",               # lowercase "la" is an article, not Los Angeles
    "800 SF of flooring",                # square feet, not San Francisco
    "1,200 sf laminate",
    "studs 16 O.C.",                     # on center
    "fancy stuff, i.e. marble",          # not the Inland Empire
    "house by the riverside",            # the common noun, not the city
    "carmel colored cabinets",
    "Cambria quartz countertops",        # a brand, not the town
    "sd card in the camera",
    "somewhere in southern california",  # no single region
    "pool in Phoenix",
    "",
])
def test_no_region_from_substrings_or_common_words(text):
    assert find_region(text) is None
    assert "region" not in extract(text)


def test_the_first_place_named_decides_and_places_can_be_blanked():
    assert find_region("moving from San Diego to Sacramento") == COASTAL
    assert without_places("pool in Palm Springs near Walnut Creek").split() == ["pool", "in", "near"]


@pytest.mark.parametrize(("name", "region"), [
    ("SoCal - Coastal", COASTAL), ("socal coastal", COASTAL), ("SoCal-Coastal", COASTAL), ("  coastal ", COASTAL),
    ("SoCal - Inland", INLAND), ("inland empire", INLAND), ("norcal", NORCAL), ("Northern California", NORCAL),
    ("Central Coast", CENTRAL), ("central-coast", CENTRAL), ("San Diego", COASTAL), ("LA", COASTAL),
    ("Fresno", NORCAL),
])
def test_canonical_region_accepts_variants(name, region):
    assert canonical_region(name) == region


@pytest.mark.parametrize("name", ["Narnia", "la", "Texas", "", "   ", None, "SoCal"])
def test_canonical_region_rejects_unknown_names(name):
    assert canonical_region(name) is None


@pytest.mark.parametrize(("text", "sqft", "label"), [
    ("a 15x30 pool", 450.0, "15x30"),
    ("15 x 30 ft pool", 450.0, "15 x 30 ft"),
    ("20 by 40 feet", 800.0, "20 by 40 feet"),
    ("pool 16' x 32'", 512.0, "16' x 32'"),
    ("an 800 sq ft ADU", 800.0, "800 sq ft"),
    ("800 square feet", 800.0, "800 square feet"),
    ("1,200 sqft of LVP", 1200.0, "1,200 sqft"),
    ("about 600sf", 600.0, "600sf"),
    ("1.5k sq ft", 1500.0, "1.5k sq ft"),
    ("50 m2 studio", 538.2, "50 m2"),
    ("half an acre, 0.5 acres", 21780.0, "0.5 acres"),
    ("15\u00d730 pool", 450.0, "15x30"),          # multiplication sign
    ("\uff11\uff15x\uff13\uff10 pool", 450.0, "15x30"),  # full-width digits
])
def test_sizes(text, sqft, label):
    found = extract(text)
    assert found["size_sqft"] == sqft
    assert found["size_label"] == label


def test_implausible_or_missing_sizes_are_not_areas():
    assert "size_sqft" not in extract("framing with 2x4 studs")
    assert "size_sqft" not in extract("a pool for 4 kids, 3 x the fun")
    assert extract("2x4 framing for a 10 x 12 deck")["size_sqft"] == 120.0  # the first plausible one


@pytest.mark.parametrize(("text", "quality"), [
    ("cheap pool", "basic"), ("on a budget", "basic"), ("nothing fancy", "basic"), ("no frills", "basic"),
    ("simple bathroom", "basic"), ("mid-range kitchen", "midrange"), ("standard finishes", "midrange"),
    ("high-end kitchen", "premium"), ("top of the line appliances", "premium"), ("upscale bath", "premium"),
    ("luxury pool", "luxury"), ("resort-style backyard", "luxury"), ("ultra high end", "luxury"),
])
def test_quality_words(text, quality):
    assert extract(text)["quality"] == quality


@pytest.mark.parametrize("text", ["not cheap at all", "luxury vinyl plank floors", "doesn't need to be high end",
                                  "a remodel"])
def test_negated_or_product_quality_words_are_not_quality(text):
    assert "quality" not in extract(text)


@pytest.mark.parametrize(("text", "expected"), [
    ("pool with spa", {"includes_spa": True}),
    ("lap pool w/ hot tub", {"includes_spa": True}),
    ("pool and jacuzzi", {"includes_spa": True}),
    ("pool and a jacuzi", {"includes_spa": True}),
    ("pool, no spa", {"includes_spa": False}),
    ("pool without a spa but heated", {"includes_spa": False, "heating": True}),
    ("pool with a heater, no spa", {"includes_spa": False, "heating": True}),
    ("without heating", {"heating": False}),
    ("don\u2019t need a heater", {"heating": False}),
    ("unheated pool", {"heating": False}),
    ("automatic cover", {"automatic_cover": True}),
    ("electric pool cover", {"automatic_cover": True}),
    ("auto-cover please", {"automatic_cover": True}),
    ("no auto cover", {"automatic_cover": False}),
    ("spa, actually no spa", {"includes_spa": False}),  # the last mention decides
])
def test_pool_addons_and_negation(text, expected):
    found = extract(text)
    assert {k: found.get(k) for k in expected} == expected


@pytest.mark.parametrize("text", ["pool cover", "spa-like bathroom", "new water heater", "heated floors",
                                  "spa bath with a soaking tub"])
def test_look_alikes_are_not_addons(text):
    found = extract(text)
    assert not {"includes_spa", "heating", "automatic_cover"} & found.keys()


@pytest.mark.parametrize(("text", "adu_type"), [
    ("garage conversion", "garage_conversion"), ("convert my old detached garage into an ADU", "garage_conversion"),
    ("turn the garage into a studio", "garage_conversion"), ("detached ADU", "detached"),
    ("backyard cottage", "detached"), ("granny flat over the garage", "detached"), ("a JADU", "attached"),
    ("attached ADU", "attached"),
])
def test_adu_type(text, adu_type):
    assert extract(text)["adu_type"] == adu_type


@pytest.mark.parametrize(("text", "material"), [
    ("tile roof", "tile"), ("new shingles", "asphalt"), ("metal roof", "metal"), ("standing seam roof", "metal"),
    ("cedar shake roof", "wood"), ("clay tile reroof", "tile"), ("tile floor", "tile"), ("LVP flooring", "vinyl"),
    ("hardwood floors", "hardwood"), ("wood floors", "hardwood"), ("wood-look tile floors", "tile"),
    ("replace carpet", "carpet"), ("laminate floors", "laminate"),
])
def test_material_reads_the_roofing_or_flooring_vocabulary(text, material):
    assert extract(text)["material"] == material


def test_material_needs_a_roof_or_floor_context():
    assert "material" not in extract("metal railing and tile backsplash")


@pytest.mark.parametrize(("text", "stories"), [
    ("2 story house", 2), ("two-story home", 2), ("single story ranch", 1), ("3-storey", 3),
    ("ranch style house", 1), ("second-story addition", 2),
])
def test_stories(text, stories):
    assert extract(text)["stories"] == stories


@pytest.mark.parametrize(("text", "demo"), [
    ("tear out the old tub", True), ("roof tear-off", True), ("remove the existing deck", True),
    ("gut the kitchen", True), ("demolition of the shed", True), ("no demo needed", False),
    ("overlay on the existing roof", False), ("nothing to tear out", False),
])
def test_demolition(text, demo):
    assert extract(text)["demolition"] is demo


def test_a_full_description():
    assert extract("I want to install a 15x30 pool with spa in my backyard in San Diego, nothing fancy") == {
        "region": COASTAL, "size_sqft": 450.0, "size_label": "15x30", "quality": "basic", "includes_spa": True}
    assert extract("🏊‍♀️ wanna put in a lap pool w/ hot tub 😎") == {"includes_spa": True}


def test_merge_lets_new_values_win():
    old = {"region": COASTAL, "includes_spa": True, "size_sqft": 450.0, "size_label": "15x30"}
    assert merge(old, {"includes_spa": False, "heating": True}) == {
        "region": COASTAL, "includes_spa": False, "heating": True, "size_sqft": 450.0, "size_label": "15x30"}
    assert merge(old, {"size_sqft": 800.0}) == {"region": COASTAL, "includes_spa": True, "size_sqft": 800.0}
    assert merge({}, {}) == {}
    assert old["includes_spa"] is True  # inputs are not modified


@pytest.mark.parametrize("filler", ["1" * 100_000, "1 " * 50_000, "la " * 33_000, "L." * 50_000, "convert " * 12_000,
                                    "no spa, " * 12_000, " " * 100_000, "1," * 50_000, "é" * 100_000])
def test_100kb_of_adversarial_input_is_read_to_the_end(filler):
    """Each of these makes a careless regex backtrack quadratically; here the details after 100 KB
    of it are still found (bench/matching_accuracy.py times the same inputs)."""
    assert extract(filler + " 20 by 40 ft pool with a spa in Fresno") == {
        "region": NORCAL, "size_sqft": 800.0, "size_label": "20 by 40 ft", "includes_spa": True}


def test_100kb_of_tiny_dimensions_gives_no_size():
    assert extract("1x" * 50_000) == {}
