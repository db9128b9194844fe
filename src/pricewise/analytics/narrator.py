"""Narratives over computed figures: the template text by default, LLM prose when one is configured.

The LLM is handed the figures and may only restate them; a narrative whose numbers are not among
the figures given, or that cites none of them, is rejected and the template text is used instead
(and the response says so). So is an answer that takes longer than the narrative's time budget.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from numbers import Integral, Real
from typing import Any, Literal

from pricewise.core.llm import LLMClient, LLMError

log = logging.getLogger("pricewise.narrator")


@dataclass(frozen=True)
class Narrative:
    text: str
    source: Literal["template", "llm"]
    note: str | None = None


SYSTEM_PROMPT = (
    "You are a pricing analyst writing a short {kind} narrative (at most 5 sentences, plain prose, "
    "no headings or lists) for the people who run this business. The figures were computed by "
    "tested models and are given to you as JSON. Use ONLY those figures: quote them as given (you "
    "may round them, add thousands separators or a currency sign, or show a fraction such as 0.123 "
    "as 12.3%), and never compute, estimate or invent any other number, date or count. Refer to "
    "names such as P50 or Q3 as they are written. If something is not among the figures, say it is "
    "not available. The analyst's request, if any, may steer emphasis and tone, never the numbers."
)

# A number as written: optional sign and currency, digits (1,234.5 or .5), then a percent sign,
# attached letters (k/M/bn magnitudes, ordinals, units) or a magnitude word. Digits preceded by a
# letter (P50, Q3, B2B) or a dot (v1.2) are part of a name, not a figure. A hyphen after a digit
# is a range (10-20 is two numbers), not a minus.
_NUMBER = re.compile(r"""
    (?<![\w.])
    (?P<sign>[-+\u2212](?=[$\u20ac\u00a3\u00a5]?\.?\d))?
    (?P<cur>[$\u20ac\u00a3\u00a5])?
    (?P<num>\d{1,3}(?:,\d{3})+(?!\d)(?:\.\d+)?|\d+(?:\.\d+)?|\.\d+)
    (?:
        (?P<pct>\s?%|\s+per\s?cent\b)
      | (?P<word>\s+(?:thousand|million|billion|trillion)\b)
      | (?P<tail>[A-Za-z]+)
    )?
""", re.VERBOSE | re.IGNORECASE)
_MAGNITUDE = {"k": 1e3, "thousand": 1e3, "m": 1e6, "mn": 1e6, "mm": 1e6, "million": 1e6,
              "b": 1e9, "bn": 1e9, "billion": 1e9, "trillion": 1e12}
_ORDINALS = frozenset({"st", "nd", "rd", "th"})


# An ISO date or datetime (2026-11-24, 2026-11, 2026-11-24T00:00:00Z): a date, not three numbers.
_ISO_DATE = re.compile(r"""
    (?<![\w.])(?P<day>\d{4}-\d{2}(?:-\d{2})?)
    (?:[T\s]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?)?(?!\w|\.\d)
""", re.VERBOSE)


@dataclass(frozen=True)
class _Figure:
    value: float  # signed and scaled; a percentage keeps its percent value (12% -> 12.0)
    decimals: int  # digits shown after the point
    scale: float  # 1e3 for "3.4k": the shown precision is in that unit
    percent: bool
    zeros: int = 0  # trailing zeros of an integer as shown: "27,000" is 27 thousand, rounded


def _figures(text: str) -> list[_Figure]:
    out: list[_Figure] = []
    for m in _NUMBER.finditer(text):
        raw = m.group("num").replace(",", "")
        tail = (m.group("tail") or "").lower()
        if tail in _ORDINALS:
            continue
        word = (m.group("word") or "").strip().lower()
        scale = _MAGNITUDE.get(word or tail, 1.0)  # other attached letters (x, h, mo): a plain number
        percent = m.group("pct") is not None or tail == "pp"
        sign = -1.0 if m.group("sign") in ("-", "\u2212") else 1.0
        decimals = len(raw.split(".", 1)[1]) if "." in raw else 0
        zeros = len(raw) - len(raw.rstrip("0")) if decimals == 0 and raw.strip("0") else 0
        out.append(_Figure(sign * float(raw) * scale, decimals, scale, percent, zeros))
    return out


def numbers_in(text: str) -> list[float]:
    """Every figure a reader would see in the text, e.g. "$3.4k" -> 3400.0, "12%" -> 12.0."""
    return [f.value for f in _figures(text)]


def _fact_values(facts: Any) -> list[float]:
    """All numbers in a structure of facts, recursively (strings are parsed like prose, except
    ISO dates: "2026-11-24" does not make 2026, 11 and 24 figures a narrative may cite)."""
    if isinstance(facts, bool) or facts is None:
        return []
    if isinstance(facts, Real | Decimal):  # numbers.Real: numpy scalars too
        try:
            value = float(facts)
        except OverflowError:  # an int beyond any float
            return []
        return [value] if math.isfinite(value) else []
    if isinstance(facts, str):
        return [] if _ISO_DATE.fullmatch(facts.strip()) else numbers_in(facts)
    if isinstance(facts, Mapping):
        return [v for item in facts.values() for v in _fact_values(item)]
    if isinstance(facts, list | tuple | set | frozenset):
        return [v for item in facts for v in _fact_values(item)]
    return []


def _fact_days(facts: Any) -> set[str]:
    """The ISO dates among the facts (their date part), which a narrative may restate as written."""
    if isinstance(facts, str):
        m = _ISO_DATE.fullmatch(facts.strip())
        return {m.group("day")} if m else set()
    if isinstance(facts, Mapping):
        facts = list(facts.values())
    if isinstance(facts, list | tuple | set | frozenset):
        return {d for item in facts for d in _fact_days(item)}
    return set()


def _without_known_days(text: str, days: set[str]) -> str:
    """The text with the dates that restate a fact's date blanked out; other dates stay and
    their numbers are checked like any other."""
    return _ISO_DATE.sub(lambda m: " " if m.group("day") in days else m.group(0), text)


def _close(fact: float, shown: float, tolerance: float) -> bool:
    return abs(fact - shown) <= tolerance * (1 + 1e-9) + 1e-9 * max(1.0, abs(shown))


def _known(fig: _Figure, facts: list[float]) -> bool:
    # Signs are compared loosely: "revenue fell 5%" states the fact -0.05 without a minus.
    shown = abs(fig.value)
    # "27,000" rounds 26,994.01 as "27k" does: three or more trailing zeros are the precision shown.
    places = -fig.decimals if fig.zeros < 3 else fig.zeros
    tolerance = 0.5 * 10.0 ** places * fig.scale
    for fact in facts:
        if _close(abs(fact), shown, tolerance) or (fig.percent and _close(abs(fact) * 100, shown, tolerance)):
            return True
    return False


def _check(text: str, facts: Any, template: str = "") -> tuple[list[float], list[float]]:
    """The figures in the text that are none of the facts (within the precision shown), and those
    that are facts. The template is our own text over the same facts: its constants ("80%
    interval") and dates may be restated too, but citing them alone cites no fact."""
    days = _fact_days(facts) | {m.group("day") for m in _ISO_DATE.finditer(template)}
    known = _fact_values(facts)
    constants = numbers_in(_ISO_DATE.sub(" ", template))
    figures = _figures(_without_known_days(text, days))
    invented = [f.value for f in figures if not _known(f, known) and not _known(f, constants)]
    return invented, [f.value for f in figures if _known(f, known)]


def unknown_numbers(text: str, facts: Any) -> list[float]:
    """The figures in the text that are none of the facts (within the precision shown)."""
    return _check(text, facts)[0]


def numbers_match(text: str, facts: Any) -> bool:
    """Whether every number in the text is one of the facts, as rounded to the precision shown
    (a fractional fact may be shown as a percentage: 0.123 as 12.3%)."""
    return not unknown_numbers(text, facts)


def _plain(value: Any) -> Any:
    if isinstance(value, Integral):
        return int(value)
    if isinstance(value, Real):
        return float(value)
    return str(value)


def _messages(kind: str, facts: Mapping[str, Any], template: str, steer: str | None) -> list[dict[str, Any]]:
    figures = json.dumps(facts, ensure_ascii=False, default=_plain, indent=1)
    user = (f"Figures (JSON):\n{figures}\n\nThe plain template version, for reference:\n{template}\n\n"
            f"Analyst's request: {steer.strip() if steer and steer.strip() else '(none)'}\n\n"
            f"Write the {kind} narrative now.")
    return [{"role": "system", "content": SYSTEM_PROMPT.format(kind=kind)},
            {"role": "user", "content": user}]


def _clean(text: str) -> str:
    text = text.strip()
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "\"'":
        text = text[1:-1].strip()
    return text


def _shown(values: list[float]) -> str:
    return ", ".join(f"{v:g}" for v in values[:5])


async def narrate(llm: LLMClient | None, *, kind: str, facts: Mapping[str, Any], template: str,
                  steer: str | None = None, budget_seconds: float = 20.0) -> Narrative:
    """`budget_seconds` bounds the whole LLM call, retries included: the request waits no longer."""
    if llm is None:
        return Narrative(template, "template")
    try:
        reply = await asyncio.wait_for(llm.chat(_messages(kind, facts, template, steer),
                                                purpose=f"narrative:{kind}"[:60], max_tokens=400), budget_seconds)
    except LLMError as exc:
        log.warning("narrative %s: LLM call failed (%s); template used", kind, exc.reason)
        return Narrative(template, "template", note=f"the LLM call failed ({exc.reason}); template used")
    except TimeoutError:
        log.warning("narrative %s: no LLM answer within %gs; template used", kind, budget_seconds)
        return Narrative(template, "template",
                         note=f"the LLM did not answer within {budget_seconds:g}s; template used")
    text = _clean(reply.text)
    if not text:
        return Narrative(template, "template", note="the LLM returned no text; template used")
    invented, cited = _check(text, facts, template)
    if invented:
        log.warning("narrative %s: LLM cited figures that were not computed (%s); template used", kind,
                    _shown(invented))
        return Narrative(template, "template",
                         note=f"the LLM narrative cited figures that were not computed ({_shown(invented)}); "
                              "template used")
    # A reply that cites none of the figures ("ok", a refusal, a generic sentence) is no narrative.
    if not cited and _fact_values(facts):
        log.warning("narrative %s: LLM cited none of the computed figures; template used", kind)
        return Narrative(template, "template", note="the LLM narrative cited none of the computed figures; "
                                                    "template used")
    return Narrative(text, "llm")
