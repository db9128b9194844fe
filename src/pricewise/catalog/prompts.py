"""The narrator's prompts and templates: the defaults, overridable per tenant (/llmstxt).

The narrator (an LLM when configured, these templates otherwise) is always handed the computed
figures; the prompts tell it to explain them and never to produce numbers of its own.
"""

from __future__ import annotations

from typing import Any

DEFAULTS: dict[str, dict[str, Any]] = {
    "system_prompts": {
        "narrator": (
            "You are a pricing analyst. You explain figures that were computed by tested models. "
            "Use only the numbers given in the input, quoted exactly; never estimate, round "
            "differently or invent a number. If a figure is missing, say it is not available."),
        "extractor": (
            "Extract the requested fields from the user's text as JSON matching the schema. "
            "Leave a field null when the text does not state it."),
    },
    "analysis_templates": {
        "gap_diagnosis": (
            "{plan_name}: ARPU is {arpu} against a list price of {list_price} ({arpu_gap} gap). "
            "{competitor_sentence} {margin_sentence} {trend_sentence}"),
        "recommendation": (
            "For {segment_name} on {plan_name}, the model recommends {recommended_price} "
            "(now {current_price}), with an estimated elasticity of {elasticity} ({elasticity_source}). "
            "Expected revenue change over {horizon} months: {uplift_pct}."),
        "forecast": (
            "Revenue is forecast at {next_value} next month ({model}, backtest MASE {mase}); "
            "the 80% interval is {lo80} to {hi80}."),
        "estimate": (
            "Based on {class_name}, the typical cost is {cost_p50} and 80% of similar projects "
            "cost at most {cost_p80}; the typical timeline is {timeline_p50} weeks."),
    },
    "response_formats": {
        "gap_diagnosis": {"type": "object", "required": ["summary", "reasoning"],
                          "properties": {"summary": {"type": "string"}, "reasoning": {"type": "string"}}},
        "narrative": {"type": "object", "required": ["text"], "properties": {"text": {"type": "string"}}},
    },
}


def merged(overrides: dict[str, dict[str, Any]] | None) -> dict[str, dict[str, Any]]:
    out = {k: dict(v) for k, v in DEFAULTS.items()}
    for section, values in (overrides or {}).items():
        if section in out and isinstance(values, dict):
            out[section].update(values)
    return out
