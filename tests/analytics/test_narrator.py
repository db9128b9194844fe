"""The narrator: template text without an LLM; LLM prose only when every number it cites is one of
the computed figures (checked by parsing the prose), else the template with a note saying why."""

from __future__ import annotations

import json

import pytest

from pricewise.analytics.narrator import narrate, numbers_in, numbers_match
from pricewise.core.llm import LLMClient
from tests.support import Reply

FACTS = {"segment_name": "SMB", "plan_name": "Growth", "recommended_price": 54.0, "current_price": 49.0,
         "elasticity": -1.42, "uplift_pct": 0.083, "horizon": 12,
         "points": [{"month": "2025-01", "revenue": 123456.78}]}
TEMPLATE = ("For SMB on Growth, the model recommends 54.0 (now 49.0), with an estimated elasticity of "
            "-1.42 (regression). Expected revenue change over 12 months: 8.3%.")
STEER = "Keep it upbeat and focus on the revenue upside for the sales team."


def make_llm(stub, retries: int = 0) -> LLMClient:
    return LLMClient(base_url=stub.base_url, api_key="sk-test-good-key-1234", model="gpt-test", retries=retries,
                     backoff=0.01)


async def test_without_an_llm_the_template_is_the_narrative():
    got = await narrate(None, kind="recommendation", facts=FACTS, template=TEMPLATE, steer=STEER)
    assert (got.text, got.source, got.note) == (TEMPLATE, "template", None)


async def test_an_llm_narrative_that_restates_the_figures_is_used(openai_stub):
    prose = ("Good news for the sales team: raising Growth for SMB from $49 to $54 should lift revenue by "
             "about 8.3% over the next 12 months, since demand is only moderately sensitive (elasticity -1.42). "
             "Recent monthly revenue was $123.5k.")
    openai_stub.script(Reply.chat(prose))
    got = await narrate(make_llm(openai_stub), kind="recommendation", facts=FACTS, template=TEMPLATE, steer=STEER)
    assert (got.text, got.source, got.note) == (prose, "llm", None)

    [post] = openai_stub.posts
    system, user = post["json"]["messages"]
    assert system["role"] == "system" and "recommendation" in system["content"]
    assert "ONLY" in system["content"] and "never" in system["content"]
    # the computed figures were handed over as JSON, and the user's prompt steers
    figures = json.loads(user["content"].split("Figures (JSON):\n", 1)[1].split("\n\nThe plain template", 1)[0])
    assert figures == FACTS
    assert STEER in user["content"]


async def test_an_invented_number_falls_back_to_the_template_with_a_note(openai_stub):
    invented = ("Raising Growth from $49 to $54 lifts revenue by 8.3% over 12 months, and churn should "
                "stay under 3%.")
    openai_stub.script(Reply.chat(invented))
    got = await narrate(make_llm(openai_stub), kind="recommendation", facts=FACTS, template=TEMPLATE, steer=STEER)
    assert got.source == "template" and got.text == TEMPLATE
    assert got.note is not None and "not computed" in got.note and "3" in got.note


async def test_false_precision_is_an_invented_number(openai_stub):
    openai_stub.script(Reply.chat("Revenue should grow 8.31% at $54."))  # the model said 0.083
    got = await narrate(make_llm(openai_stub), kind="recommendation", facts=FACTS, template=TEMPLATE)
    assert got.source == "template" and "8.31" in (got.note or "")


async def test_a_failing_llm_falls_back_to_the_template_with_a_note(openai_stub):
    openai_stub.script(Reply(500, {"error": {"message": "overloaded"}}))
    got = await narrate(make_llm(openai_stub), kind="forecast", facts=FACTS, template=TEMPLATE)
    assert got.source == "template" and got.text == TEMPLATE
    assert got.note == "the LLM call failed (the model server answered 500); template used"


async def test_an_empty_llm_reply_falls_back_to_the_template(openai_stub):
    openai_stub.script(Reply.chat("   "))
    got = await narrate(make_llm(openai_stub), kind="forecast", facts=FACTS, template=TEMPLATE)
    assert got.source == "template" and "no text" in (got.note or "")


async def test_constants_of_the_template_may_be_restated(openai_stub):
    template = "Revenue is forecast at 1,250 next month; the 80% interval is 1,100 to 1,400."
    facts = {"next_value": 1250.0, "lo80": 1100.0, "hi80": 1400.0}
    openai_stub.script(Reply.chat("Next month should bring about $1.25k, with an 80% interval of 1,100-1,400."))
    got = await narrate(make_llm(openai_stub), kind="forecast", facts=facts, template=template)
    assert got.source == "llm", got.note


@pytest.mark.parametrize(("text", "expected"), [
    ("Revenue was 1,234.5 last month", [1234.5]),
    ("up 12% to $3.4k", [12.0, 3400.0]),
    ("ARR reached 2.1M, or €2.1 million", [2_100_000.0, 2_100_000.0]),
    ("a change of -5% (\u22123.2 points) and -$1.2k", [-5.0, -3.2, -1200.0]),
    ("between 10-20 seats, or 10\u201320", [10.0, 20.0, 10.0, 20.0]),
    ("P50 is 40 and P80 is 55 in Q3 for B2B", [40.0, 55.0]),
    ("the 3rd plan grew 2x", [2.0]),
    ("12.5 percent, then 0.75", [12.5, 0.75]),
    ("plans at 10,20 and 30.", [10.0, 20.0, 30.0]),
    ("no figures here", []),
])
def test_numbers_in(text, expected):
    assert numbers_in(text) == pytest.approx(expected)


@pytest.mark.parametrize(("text", "ok"), [
    ("The price is $54.00 and the uplift 8.3%", True),       # 0.083 shown as a percentage
    ("The uplift is 8%", True),                              # rounded to the precision shown
    ("The uplift is 8.4%", False),
    ("Revenue was $123.5k, i.e. 123,457", True),             # 123456.78 at two precisions
    ("Revenue was $123k", True),
    ("Revenue was $124k", False),             # 123,456.78 is not 124k at that precision
    ("Elasticity is 1.42 in magnitude", True),               # the sign is in the words
    ("A 12-month horizon", True),
    ("A 13-month horizon", False),
    ("P50 and Q3 are names, not figures", True),
    ("Prices between 49-54", True),
    ("Prices between 49-55", False),
])
def test_numbers_match(text, ok):
    assert numbers_match(text, FACTS) is ok


def test_facts_are_flattened_recursively_including_numeric_strings():
    facts = {"a": {"b": [{"c": 7.25}], "d": ("x", "$1,999")}, "flag": True}
    assert numbers_match("7.25 and $1,999", facts)
    assert not numbers_match("1 and 7.25", facts)  # True is not the number 1


async def test_a_reply_that_cites_no_figure_is_not_a_narrative(openai_stub):
    openai_stub.script(Reply.chat("ok"))
    got = await narrate(make_llm(openai_stub), kind="recommendation", facts=FACTS, template=TEMPLATE)
    assert got.source == "template" and got.text == TEMPLATE
    assert got.note == "the LLM narrative cited none of the computed figures; template used"
    # the template's own constants alone cite no fact either
    openai_stub.script(Reply.chat("An 80% interval applies."))
    got = await narrate(make_llm(openai_stub), kind="forecast", facts={"next_value": 1250.0},
                        template="Revenue is forecast at 1,250; the 80% interval is shown.")
    assert got.source == "template" and "none of the computed figures" in (got.note or "")


@pytest.mark.parametrize(("text", "ok"), [
    ("Revenue reached $27,000", True),       # 26,994.01 rounded to thousands, like "$27k"
    ("Revenue reached $27k", True),
    ("Revenue reached $26,990", False),      # one trailing zero is not a rounding to thousands
    ("Revenue reached $28,000", False),
    ("Revenue reached $30,000", True),       # four zeros: rounded to ten thousands
    ("Revenue reached $100,000", False),
])
def test_trailing_zeros_are_the_precision_shown(text, ok):
    assert numbers_match(text, {"revenue": 26994.01}) is ok


def test_iso_dates_in_the_facts_are_not_figures():
    facts = {"data_through": "2026-11-24", "month": "2026-11", "at": "2026-11-24T00:00:00Z", "revenue": 500.0}
    for invented in ("24 customers churned", "2026 new seats", "11 plans", "revenue of 500 from 2026"):
        assert not numbers_match(invented, facts), invented
    # the dates themselves may be restated as written, and other dates are still checked
    assert numbers_match("Revenue was 500 through 2026-11-24.", facts)
    assert numbers_match("Revenue was 500 in 2026-11", facts)
    assert not numbers_match("Revenue was 500 through 2026-12-24", facts)


async def test_an_llm_slower_than_the_budget_gives_the_template(openai_stub):
    openai_stub.script(Reply.chat("Revenue grows 8.3%.", delay=3.0))
    llm = LLMClient(base_url=openai_stub.base_url, api_key="sk-test-good-key-1234", model="gpt-test",
                    timeout=30.0, retries=0)
    got = await narrate(llm, kind="forecast", facts=FACTS, template=TEMPLATE, budget_seconds=0.2)
    assert got.source == "template" and got.text == TEMPLATE
    assert got.note == "the LLM did not answer within 0.2s; template used"
