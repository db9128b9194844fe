"""Rule-based extraction of project details from free text: region, size, quality, add-ons.

Pure and linear in the input: place names are looked up token by token in a dictionary (whole
words, so "la" inside "landscaping" is never Los Angeles), and every regular expression below is
anchored on a word or a digit run with bounded repetitions, so no input makes it backtrack
quadratically. Negation is read from the four words before a mention within its clause
("no spa", "without heating", "don't need a heater").
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator, Mapping
from typing import Any

from pricewise.estimation import gazetteer

REGIONS = ["SoCal - Coastal", "SoCal - Inland", "NorCal", "Central Coast"]
QUALITIES = ("basic", "midrange", "premium", "luxury")
SQM_TO_SQFT = 10.7639
ACRE_SQFT = 43560.0
MIN_SQFT, MAX_SQFT = 20.0, 2_000_000.0  # "2x4 studs" is lumber, not an area

# --- regions -----------------------------------------------------------------------------------

_ANY, _CAP, _UPPER = 0, 1, 2
_TOKEN = re.compile(r"(?:[A-Za-z]\.){2,}|[^\W_]+")


def _keyed(name: str) -> tuple[str, ...]:
    return tuple(t.casefold() for t in _TOKEN.findall(name.replace("-", " ")))


def _build() -> tuple[dict[tuple[str, ...], tuple[str, int]], frozenset[str], int]:
    places: dict[tuple[str, ...], tuple[str, int]] = {}
    for region, block in zip(REGIONS, (gazetteer.COASTAL, gazetteer.INLAND, gazetteer.NORCAL,
                                       gazetteer.CENTRAL_COAST), strict=True):
        for raw in block.split(","):
            name = raw.strip()
            rule = {"^": _CAP, "=": _UPPER}.get(name[:1], _ANY)
            key = _keyed(name.lstrip("^="))
            if key:
                places[key] = (region, rule)
    firsts = frozenset(k[0] for k in places if len(k) > 1)
    return places, firsts, max(len(k) for k in places)


_PLACES, _FIRSTS, _LONGEST = _build()


_PLAIN = str.maketrans("\u2019\u2018\u2032\u2013\u2014\u00d7\u00b2", "'''--x2")


def _fold(text: str) -> str:
    """Accents off ("San José" -> "San Jose"), typographic quotes and dashes made plain."""
    text = unicodedata.normalize("NFKD", text)
    text = "".join(c for c in text if not unicodedata.combining(c))
    return text.translate(_PLAIN)


def _rule_ok(tokens: list[str], i: int, rule: int) -> bool:
    word = tokens[i]
    if rule == _CAP:
        return word[:1].isupper()
    if rule == _UPPER:
        return word.isupper() and not (i > 0 and tokens[i - 1].isdigit())
    return True


def _place_at(tokens: list[str], folded: list[str], i: int) -> tuple[str, int] | None:
    """(region, number of tokens) of the longest place name starting at token i."""
    longest = min(_LONGEST, len(tokens) - i) if folded[i] in _FIRSTS else 1
    for n in range(longest, 0, -1):
        hit = _PLACES.get(tuple(folded[i:i + n]))
        if hit is not None and _rule_ok(tokens, i, hit[1]):
            return hit[0], n
    return None


def places(text: str) -> Iterator[tuple[int, int, str]]:
    """(start, end, region) of each California place named in the text, in order; offsets are
    into the accent-folded text (`without_places` blanks them)."""
    spans = [(m.start(), m.end(), m.group(0)) for m in _TOKEN.finditer(_fold(text))]
    tokens = [t for _, _, t in spans]
    folded = [t.casefold() for t in tokens]
    i = 0
    while i < len(tokens):
        hit = _place_at(tokens, folded, i)
        if hit is None:
            i += 1
            continue
        region, n = hit
        yield spans[i][0], spans[i + n - 1][1], region
        i += n


def find_region(text: str) -> str | None:
    """The region of the first California place named in the text, or None."""
    return next((region for _, _, region in places(text)), None)


def without_places(text: str) -> str:
    """The accent-folded text with place names blanked: they say where, not what."""
    folded = _fold(text)
    parts, last = [], 0
    for start, end, _ in places(folded):
        parts += [folded[last:start], " "]
        last = end
    return "".join(parts) + folded[last:]


_REGION_ALIASES = {
    "socalcoastal": 0, "coastalsocal": 0, "socalcoast": 0, "coastal": 0, "southerncaliforniacoastal": 0,
    "coastalsoutherncalifornia": 0, "socalinland": 1, "inlandsocal": 1, "inland": 1, "inlandempire": 1,
    "southerncaliforniainland": 1, "inlandsoutherncalifornia": 1, "norcal": 2, "northerncalifornia": 2,
    "north": 2, "northern": 2, "centralcoast": 3, "central": 3, "centralcalifornia": 3,
}


def canonical_region(name: str | None) -> str | None:
    """One of REGIONS for a region written any way ("socal coastal", "SoCal-Coastal", "NorCal")
    or for a single place name ("San Diego"); None when it is neither."""
    if not name or not name.strip():
        return None
    key = re.sub(r"[^a-z]", "", _fold(name).casefold())
    if key in _REGION_ALIASES:
        return REGIONS[_REGION_ALIASES[key]]
    tokens = _TOKEN.findall(_fold(name))
    folded = [t.casefold() for t in tokens]
    hit = _PLACES.get(tuple(folded))
    return hit[0] if hit is not None and _rule_ok(tokens, 0, hit[1]) else None


# --- negation ----------------------------------------------------------------------------------

_NEGATORS = frozenset({"no", "not", "nothing", "without", "w/o", "dont", "don't", "doesnt", "doesn't", "never",
                       "none", "non", "nor", "skip", "minus", "excluding", "isnt", "isn't", "wont", "won't"})
_CLAUSE_END = re.compile(r"[.;:!?,()\n]|\b(?:but|however|though|although|plus|also|except)\b")
_NEG_WORD = re.compile(r"w/o|[a-z']+")
_LOOKBACK = 40


def _negated(low: str, start: int) -> bool:
    before = low[max(0, start - _LOOKBACK):start]
    ends = list(_CLAUSE_END.finditer(before))
    if ends:
        before = before[ends[-1].end():]
    return any(w in _NEGATORS for w in _NEG_WORD.findall(before)[-4:])


def _mentions(pattern: re.Pattern[str], low: str) -> Iterator[tuple[int, bool]]:
    """(position, affirmed) of each mention."""
    for m in pattern.finditer(low):
        yield m.start(), not _negated(low, m.start())


# --- sizes -------------------------------------------------------------------------------------

_NUM = r"(?<![\d.,])(\d{1,3}(?:,\d{3}){1,2}|\d{1,6}(?:\.\d{1,2})?)"
_LEN = r"(?:'|ft\b\.?|feet\b|foot\b|(m\b|meters?\b|metres?\b))"
_DIMS = re.compile(_NUM + r"\s{0,3}(?:" + _LEN + r")?\s{0,3}(?:x|\*|by\b)\s{0,3}" + _NUM
                   + r"(?:\s{0,3}" + _LEN + r")?", re.IGNORECASE)
_AREA = re.compile(
    _NUM + r"\s{0,3}(k\s{0,2})?(?:(sq\.?\s{0,2}(?:ft|feet|foot)\b\.?|square\s{1,3}f(?:ee|oo)t\b|sq\.?\s{0,2}ft\b|"
    r"sqft\b|sq\.?ft\.?|sf\b|s\.f\.|ft2\b|square\s{1,3}ft\b)|(sq\.?\s{0,2}m\b|m2\b|square\s{1,3}met(?:er|re)s?\b)|"
    r"(acres?\b))", re.IGNORECASE)


def _number(s: str) -> float:
    return float(s.replace(",", ""))


def _size(text: str) -> tuple[float, str] | None:
    """The first plausible area in the text: dimensions multiplied, or an area with its unit."""
    found: list[tuple[int, float, str]] = []
    for m in _DIMS.finditer(text):
        metric = bool(m.group(2) or m.group(4))
        area = _number(m.group(1)) * _number(m.group(3)) * (SQM_TO_SQFT if metric else 1.0)
        if MIN_SQFT <= area <= MAX_SQFT:
            found.append((m.start(), area, m.group(0).strip()))
            break
    for m in _AREA.finditer(text):
        unit = SQM_TO_SQFT if m.group(4) else ACRE_SQFT if m.group(5) else 1.0
        area = _number(m.group(1)) * (1000.0 if m.group(2) else 1.0) * unit
        if MIN_SQFT <= area <= MAX_SQFT:
            found.append((m.start(), area, m.group(0).strip()))
            break
    if not found:
        return None
    _, area, label = min(found)
    return round(area, 1), label


# --- vocabularies ------------------------------------------------------------------------------

def _words(*alternatives: str) -> re.Pattern[str]:
    return re.compile(r"\b(?:" + "|".join(alternatives) + r")\b")


_QUALITY = {
    "luxury": _words(r"luxury(?!\s+vinyl|\s+plank)", "luxurious", "luxe", "lux",
                     r"ultra[\s-]?(?:high[\s-]?end|premium|luxury)", r"resort[\s-]?(?:style|like)",
                     r"no\s+expense\s+spared", r"money\s+(?:is\s+)?no\s+object", r"sky'?s\s+the\s+limit",
                     r"top\s+dollar", "opulent", "lavish"),
    "premium": _words("premium", r"high[\s-]?end", "highend", "upscale", r"top[\s-]of[\s-]the[\s-]line",
                      r"top[\s-]?notch", r"top[\s-]?tier", r"high[\s-]?quality", r"top[\s-]quality", "custom",
                      "designer", "fancy", "deluxe", r"high[\s-]?grade", "elegant", "quality finishes"),
    "basic": _words("basic", "budget", "cheap", "cheapest", "cheaply", "inexpensive", "economy", "economical",
                    "affordable", "simple", "simplest", r"entry[\s-]?level", r"no[\s-]frills", r"bare[\s-]bones",
                    r"low[\s-]?cost", r"low[\s-]?budget", r"low[\s-]?end", r"builder[\s-]?grade",
                    r"nothing\s+(?:too\s+)?fancy", r"not\s+(?:too\s+)?fancy", "modest", "minimal",
                    r"tight\s+budget", r"small\s+budget", "frugal", "barebones"),
    "midrange": _words(r"mid[\s-]?range", r"mid[\s-]?grade", r"mid[\s-]?level", r"mid[\s-]?tier",
                       r"mid[\s-]?priced", r"middle[\s-]of[\s-]the[\s-]road", "moderate", "moderately", "standard",
                       "average", "typical", "normal", "regular", "decent", r"medium[\s-]?(?:budget|quality)"),
}
_SPA = _words(r"(?:spa|spas|jacuzzi|jacuzzis|jacuzi|jaccuzi|jacuzzy|jakuzzi|hot[\s-]?tubs?|hottubs?)"
              r"(?![\s-]?(?:like|style|inspired|feel|vibe|bath|bathroom|shower|retreat|day|treatment)\b)")
_HEAT = _words(r"heated(?!\s+(?:floors?|towel|seats?|toilet))", "heater", "heaters", "heating", r"heat\s+pump",
               r"solar\s+heat\w*", r"gas\s+heat\w*", r"heat\s+(?:the|my|our)\s+pool")
_UNHEATED = _words("unheated", r"non[\s-]?heated")
_NOT_POOL_HEAT = frozenset({"floor", "floors", "radiant", "water", "tankless", "space", "patio", "towel"})
_AUTO_COVER = _words(r"(?:automatic|automated|auto|electric|electronic|motori[sz]ed|powered|power|retractable)"
                     r"[\s-]?(?:(?:pool|safety|safety\s+pool)\s+)?covers?", "autocover")
_MANUAL_COVER = _words(r"manual\s+(?:pool\s+|safety\s+)?covers?")
_GARAGE_CONV = _words(r"garage\s+(?:conversion|convert\w*|to\s+(?:an?\s+)?adu|into)",
                      r"(?:convert\w*|turn\w*|transform\w*)\s+(?:\S+\s+){0,3}garage")
_ADU_TYPES = (
    ("detached", _words(r"detached(?!\s+garage)", r"free[\s-]?standing", r"stand[\s-]?alone",
                        r"backyard\s+(?:cottage|home|house|unit|studio|adu|apartment)", "casita", "cottage",
                        r"tiny\s+(?:home|house)", r"guest\s*house", r"(?:over|above|on\s+top\s+of)\s+(?:the\s+|my\s+|"
                        r"our\s+|a\s+)?garage")),
    ("attached", _words(r"attached(?!\s+garage)", r"jadu", r"junior\s+adu", r"attached\s+to\s+the\s+house",
                        r"(?:home|house)\s+addition", r"room\s+addition")),
)
_ROOF_CONTEXT = _words(r"roof\w*", r"re-?roof\w*", r"shingles?")
_FLOOR_CONTEXT = _words(r"floor\w*", "lvp", "lvt", r"carpet\w*", "hardwood", r"laminate\w*")
_ROOF_MATERIALS = (
    ("wood", _words("wood", "wooden", "cedar", "shakes?", "redwood")),
    ("tile", _words("tiles?", "clay", r"concrete\s+tiles?", r"spanish\s+tiles?", r"terra[\s-]?cotta", "slate")),
    ("metal", _words("metal", r"standing\s+seam", "steel", "aluminum", "aluminium", "tin", "copper")),
    ("asphalt", _words("asphalt", "composition", "comp", "shingles?", "architectural", r"3[\s-]?tab",
                       r"three[\s-]?tab")),
)
_FLOOR_MATERIALS = (
    ("hardwood", _words("hardwood", r"hard\s+wood", r"wood(?![\s-]?look)", "oak", "maple", "walnut", "hickory",
                        r"engineered(?:\s+wood)?", "bamboo", "parquet")),
    ("laminate", _words(r"laminate\w*")),
    ("vinyl", _words("vinyl", "lvp", "lvt", "linoleum")),
    ("tile", _words("tiles?", "tiled", "porcelain", "ceramic", "stone", "marble", "travertine", "slate")),
    ("carpet", _words(r"carpet\w*", "rugs?")),
)
_NUMBER_WORDS = {"one": 1, "single": 1, "two": 2, "double": 2, "second": 2, "2nd": 2, "three": 3, "third": 3,
                 "3rd": 3, "four": 4}
_STORIES = re.compile(r"\b(one|single|two|double|second|2nd|three|third|3rd|four|[1-4])[\s-]?"
                      r"(?:story|stories|storey|storeys|level)\b")
_RANCH = _words(r"ranch[\s-](?:style|house|home)", r"single[\s-]level")
_DEMO = _words(r"tear\w*[\s-]?(?:out|off|down)", r"tore\s+(?:out|off|down)", r"rip\w*\s+(?:out|off)", "demo",
               "demos", "demoing", r"demolish\w*", "demolition", "gutting", "gutted", r"full\s+gut",
               r"gut\s+(?:job|remodel|renovation|reno|it|the|my|our|everything)",
               r"remov\w+\s+(?:the\s+|my\s+|our\s+|an?\s+|all\s+(?:the\s+)?)?(?:existing|old|current)",
               r"take\s+out\s+(?:the\s+)?(?:existing|old)", r"haul[\s-]?away", "teardown", "tearout", "tearoff")
_NO_DEMO = _words("overlay", r"over\s+the\s+(?:existing|old)\s+(?:roof|shingles)", r"layover",
                  r"(?:empty|vacant|bare)\s+lot")


def _first(options: tuple[tuple[str, re.Pattern[str]], ...], low: str) -> str | None:
    best: tuple[int, str] | None = None
    for value, pattern in options:
        for pos, affirmed in _mentions(pattern, low):
            if affirmed:
                if best is None or pos < best[0]:
                    best = (pos, value)
                break
    return best[1] if best else None


def _last_flag(low: str, positive: re.Pattern[str], negative: re.Pattern[str] | None = None,
               skip_before: frozenset[str] = frozenset()) -> bool | None:
    """The last mention decides ("spa... actually no spa"); a negated mention means False."""
    found: list[tuple[int, bool]] = []
    for pos, affirmed in _mentions(positive, low):
        if skip_before:
            prev = low[max(0, pos - 12):pos].split()
            if prev and prev[-1] in skip_before:
                continue
        found.append((pos, affirmed))
    if negative is not None:
        found += [(m.start(), False) for m in negative.finditer(low)]
    return max(found)[1] if found else None


def _material(low: str) -> str | None:
    roof = _ROOF_CONTEXT.search(low)
    floor = _FLOOR_CONTEXT.search(low)
    if roof and (floor is None or roof.start() <= floor.start()):
        return _first(_ROOF_MATERIALS, low) or (_first(_FLOOR_MATERIALS, low) if floor else None)
    if floor:
        return _first(_FLOOR_MATERIALS, low)
    return None


def extract(text: str) -> dict[str, Any]:
    """Attributes found in the text; keys (only those found): region, size_sqft, size_label, quality,
    includes_spa, heating, automatic_cover, adu_type, material, stories, demolition."""
    folded = _fold(text or "")
    low = folded.casefold()
    out: dict[str, Any] = {}
    region = find_region(folded)
    if region:
        out["region"] = region
    size = _size(folded)
    if size:
        out["size_sqft"], out["size_label"] = size
    quality = _first(tuple(_QUALITY.items()), low)
    if quality:
        out["quality"] = quality
    for key, flag in (("includes_spa", _last_flag(low, _SPA)),
                      ("heating", _last_flag(low, _HEAT, _UNHEATED, _NOT_POOL_HEAT)),
                      ("automatic_cover", _last_flag(low, _AUTO_COVER, _MANUAL_COVER)),
                      ("demolition", _last_flag(low, _DEMO, _NO_DEMO))):
        if flag is not None:
            out[key] = flag
    if any(affirmed for _, affirmed in _mentions(_GARAGE_CONV, low)):
        out["adu_type"] = "garage_conversion"
    else:
        adu = _first(_ADU_TYPES, low)
        if adu:
            out["adu_type"] = adu
    material = _material(low)
    if material:
        out["material"] = material
    m = _STORIES.search(low)
    if m:
        word = m.group(1)
        out["stories"] = int(word) if word.isdigit() else _NUMBER_WORDS[word]
    elif _RANCH.search(low):
        out["stories"] = 1
    return out


def merge(old: Mapping[str, Any], new: Mapping[str, Any]) -> dict[str, Any]:
    """Details gathered so far updated by a later message: new values win, including a False
    ("actually, no spa"); a new size replaces both its number and its label."""
    merged = dict(old)
    if "size_sqft" in new or "size_label" in new:
        merged.pop("size_sqft", None)
        merged.pop("size_label", None)
    merged.update(new)
    return merged
