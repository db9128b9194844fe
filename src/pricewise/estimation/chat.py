"""The scoping conversation's next move: which detail to ask for, the suggestions that go with
it, and when enough is known to estimate. Pure: the service feeds it what was extracted.

The order of questions is the order of information: first what kind of project (without it no
class can be chosen), then the subcategory's required attributes in the order its prior lists
them (the ones that move the cost most first), then the region (a multiplier of 0.85 to 1.00).
A detail the customer does not know is not asked again; the estimate then says what it assumed.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from pricewise.estimation.extract import REGIONS

UNSURE = re.compile(r"\b(not sure|unsure|no idea|don'?t know|dunno|no clue|whatever|recommend\w*|idk)\b",
                    re.IGNORECASE)

KIND_QUESTION = ("What kind of project is it? For example a swimming pool, an ADU, a kitchen or bathroom "
                 "remodel, landscaping, roofing or flooring.")
KIND_SUGGESTIONS = ["Swimming pool", "Kitchen remodel", "Bathroom remodel", "ADU / granny flat", "New roof"]

SIZE_QUESTIONS: dict[str, tuple[str, list[str]]] = {
    "pool": ("What size pool are you thinking? Standard residential pools are usually 15x30 to 20x40 feet.",
             ["15x30 feet", "20x40 feet", "Not sure, need recommendations"]),
    "adu": ("How large should the ADU be? Most are between 400 and 1,200 square feet.",
            ["400 sq ft studio", "750 sq ft one-bedroom", "1,000 sq ft two-bedroom", "Not sure"]),
    "kitchen_remodel": ("About how large is the kitchen, in square feet?",
                        ["100 sq ft", "200 sq ft", "300 sq ft or more", "Not sure"]),
    "bathroom_remodel": ("About how large is the bathroom?", ["40 sq ft", "80 sq ft", "120 sq ft", "Not sure"]),
    "landscaping": ("How much of the yard is being landscaped, roughly in square feet?",
                    ["500 sq ft", "1,500 sq ft", "3,000 sq ft", "Not sure"]),
    "roofing": ("Roughly how many square feet is the roof?", ["1,500 sq ft", "2,000 sq ft", "3,000 sq ft",
                                                              "Not sure"]),
    "flooring": ("How many square feet of floor are you covering?", ["300 sq ft", "800 sq ft", "1,500 sq ft",
                                                                     "Not sure"]),
}
GENERIC_SIZE = ("Roughly how large is the project, in square feet?", ["500 sq ft", "1,000 sq ft", "Not sure"])

QUESTIONS: dict[str, tuple[str, list[str]]] = {
    "quality": ("What level of finish do you have in mind?", ["Basic", "Midrange", "Premium", "Luxury"]),
    "adu_type": ("Will the ADU be detached, attached to the house, or a garage conversion?",
                 ["Detached", "Attached", "Garage conversion"]),
    "includes_spa": ("Would you like a spa with the pool?", ["Yes, add a spa", "No spa"]),
    "heating": ("Should the pool be heated?", ["Yes, heated", "No heating"]),
    "automatic_cover": ("Do you want an automatic pool cover?", ["Yes, automatic cover", "No cover"]),
    "stories": ("How many stories is the house?", ["One story", "Two stories"]),
    "demolition": ("Is there anything to tear out first?", ["Yes, remove the old one", "No, nothing to remove"]),
    "region": ("Where is the project? A city or area is enough.", [*REGIONS]),
}
MATERIAL_QUESTIONS: dict[str, tuple[str, list[str]]] = {
    "roofing": ("Which roofing material would you like?", ["Asphalt shingles", "Tile", "Metal", "Not sure"]),
    "flooring": ("Which flooring do you have in mind?", ["Hardwood", "Luxury vinyl", "Tile", "Carpet", "Not sure"]),
}


@dataclass
class Turn:
    response: str
    suggestions: list[str]
    ready_for_estimate: bool
    asked: str | None  # the detail this turn asks for (so an "I don't know" answer can skip it)
    skipped: list[str] = field(default_factory=list)


def question(attr: str, subcategory: str | None) -> tuple[str, list[str]]:
    if attr == "size_sqft":
        return SIZE_QUESTIONS.get(subcategory or "", GENERIC_SIZE)
    if attr == "material":
        return MATERIAL_QUESTIONS.get(subcategory or "", ("Which material would you like?", ["Not sure"]))
    return QUESTIONS.get(attr, (f"Could you tell me about the {attr.replace('_', ' ')}?", ["Not sure"]))


def missing(required: Sequence[str], known: Mapping[str, Any], skipped: Sequence[str]) -> list[str]:
    return [a for a in required if a not in known and a not in skipped]


def next_turn(*, subcategory: str | None, label: str | None, confident: bool, required: Sequence[str],
              known: Mapping[str, Any], skipped: Sequence[str], last_asked: str | None,
              last_message: str) -> Turn:
    """`required`: the subcategory's attributes in order of importance, "region" appended by the
    caller when the tenant has no single default region."""
    skipped = list(skipped)
    if last_asked and last_asked not in known and UNSURE.search(last_message):
        skipped.append(last_asked)
    if subcategory is None or not confident:
        if last_asked == "kind" and UNSURE.search(last_message):
            return Turn("No problem. Describe what you would like built or changed, in your own words, and "
                        "I will find the closest kind of project.", KIND_SUGGESTIONS, False, "kind", skipped)
        return Turn(KIND_QUESTION, KIND_SUGGESTIONS, False, "kind", skipped)
    todo = missing(required, known, skipped)
    if todo:
        text, suggestions = question(todo[0], subcategory)
        opener = f"Got it: a {label}. " if last_asked in (None, "kind") and label else ""
        return Turn(opener + text, suggestions, False, todo[0], skipped)
    assumed = [a for a in required if a in skipped]
    note = (" Where you were unsure (" + ", ".join(a.replace("_", " ") for a in assumed) +
            ") I will use typical values and say so." if assumed else "")
    return Turn(f"Thanks, I have what I need for a {label or 'project'} estimate.{note}",
                ["Show my estimate"], True, None, skipped)
