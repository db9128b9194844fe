"""Built-in report templates, and what each section is about: the figures it is given and the
template text that states them (the narrator's answer when no LLM is configured). Pure: the
figures come from a ReportData the service filled from the analytics.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pricewise.reports.data import ReportData, money, pct, period, price

TOPICS = ("summary", "revenue", "forecast", "recommendations", "gaps", "performance")


@dataclass(frozen=True)
class Template:
    id: str
    name: str
    description: str
    sections: tuple[dict[str, str], ...]

    def out(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "description": self.description,
                "sections": [dict(s) for s in self.sections]}


def _s(name: str, prompt: str, topic: str) -> dict[str, str]:
    return {"name": name, "prompt": prompt, "section_type": topic}


TEMPLATES: dict[str, Template] = {t.id: t for t in (
    Template("pricing_optimization_report", "Pricing Optimization Report",
             "Comprehensive analysis of pricing models and recommendations", (
                 _s("Executive Summary", "Summarise the key pricing metrics and the main recommendation", "summary"),
                 _s("Plan Performance", "Compare how efficiently each plan turns subscriptions into revenue",
                    "performance"),
                 _s("Pricing Gaps", "Explain the gaps found in the pricing plans", "gaps"),
                 _s("Price Recommendations", "Explain the recommended prices and their expected effect",
                    "recommendations"),
                 _s("Revenue Outlook", "Describe the revenue forecast and its uncertainty", "forecast"))),
    Template("revenue_report", "Revenue Report",
             "Revenue by segment and plan over the period, with the forecast", (
                 _s("Executive Summary", "Summarise revenue over the period", "summary"),
                 _s("Revenue Analysis", "Analyse revenue by customer segment and plan", "revenue"),
                 _s("Revenue Forecast", "Describe the revenue forecast and its 80% and 95% intervals", "forecast"))),
    Template("segment_report", "Customer Segment Report",
             "How each customer segment contributes, and the prices recommended for it", (
                 _s("Segment Contribution", "Analyse each customer segment's revenue and subscriptions", "revenue"),
                 _s("Segment Pricing", "Explain the price recommendations per segment", "recommendations"))),
    Template("forecast_report", "Revenue Forecast Report",
             "The revenue forecast of each product with its uncertainty bands", (
                 _s("Revenue Forecast", "Describe the forecast and the range it may fall in", "forecast"),
                 _s("Revenue Analysis", "Put the forecast in the context of recent revenue", "revenue"))),
)}

# Words in a section's name or prompt that say what it is about, when its type does not.
_KEYWORDS: dict[str, tuple[str, ...]] = {
    "summary": ("summary", "executive", "overview", "highlight", "key metric"),
    "revenue": ("revenue", "attribution", "segment", "sales", "income", "mrr", "arr", "contribution"),
    "forecast": ("forecast", "projection", "predict", "outlook", "future", "trend"),
    "recommendations": ("recommend", "optimi", "elasticity", "price change", "pricing strateg"),
    "gaps": ("gap", "diagnos", "weakness", "issue", "risk"),
    "performance": ("performance", "efficien", "underperform", "overperform", "compare plan", "plan comparison"),
}


def topics_for(section: Mapping[str, Any]) -> list[str]:
    """The topics of a section: its section_type when it names one, else those its words name,
    else a summary."""
    kind = str(section.get("section_type") or "").strip().lower()
    if kind in TOPICS:
        return [kind]
    words = f"{section.get('name', '')} {section.get('prompt', '')}".lower()
    found = [t for t, keys in _KEYWORDS.items() if any(k in words for k in keys)]
    return found or ["summary"]


# --- figures and template text per topic -------------------------------------------------------

def _revenue(d: ReportData) -> tuple[dict[str, Any], str]:
    if not d.attribution:
        return {"revenue_rows": 0}, f"No revenue data for {d.product} over {period(d.start, d.end)}."
    by_segment: dict[str, float] = {}
    for r in d.attribution:
        by_segment[r.segment] = by_segment.get(r.segment, 0.0) + r.revenue
    segs = sorted(by_segment.items(), key=lambda kv: -kv[1])
    top = d.attribution[:5]
    facts = {"period": period(d.start, d.end), "total_revenue": d.total_revenue, "pairs": len(d.attribution),
             "top_pairs": [{"segment": r.segment, "plan": r.plan, "revenue": r.revenue, "percentage": r.percentage,
                            "users": r.users, "avg_revenue": r.avg_revenue} for r in top],
             "by_segment": {s: round(v, 2) for s, v in segs}}
    text = (f"Total revenue of {d.product} over {period(d.start, d.end)} was {money(d.total_revenue)}, from "
            f"{len(d.attribution)} segment x plan pair(s). ")
    parts = []
    for r in top:
        part = f"{r.segment} on {r.plan}: {money(r.revenue)} ({pct(r.percentage)} of the total"
        if r.users is not None:
            part += f", {r.users:,} subscriptions"
        if r.avg_revenue is not None:
            part += f", {money(r.avg_revenue)} per subscription"
        parts.append(part + ")")
    text += "By pair: " + "; ".join(parts) + "."
    if len(segs) > 1:
        text += " By segment: " + "; ".join(f"{s} {money(v)}" for s, v in segs[:8]) + "."
    return facts, text


def _forecast(d: ReportData) -> tuple[dict[str, Any], str]:
    with_fc = [c for c in d.charts if c.forecast]
    if not with_fc:
        return {"forecasts": 0}, (f"No revenue forecast is available for {d.product} yet: forecasts are computed "
                                  "once revenue history is loaded.")
    facts: dict[str, Any] = {"forecasts": [], "interval_level": 80}
    texts = []
    for c in with_fc:
        first, total = c.forecast[0], sum(f.mean for f in c.forecast)
        item = {"product": c.title, "months": len(c.forecast), "first_month": first.month.isoformat(),
                "first_month_mean": round(first.mean, 2), "first_month_low80": round(first.lo80, 2),
                "first_month_high80": round(first.hi80, 2), "horizon_total": round(total, 2)}
        text = (f"{c.title}: revenue for {first.month.isoformat()} is forecast at {money(first.mean)} "
                f"(80% interval {money(first.lo80)} to {money(first.hi80)}), and {money(total)} in total over the "
                f"next {len(c.forecast)} months.")
        if c.history:
            item.update(last_month=c.history[-1][0].isoformat(), last_month_revenue=round(c.history[-1][1], 2))
            text += f" The last month with data, {c.history[-1][0].isoformat()}, had {money(c.history[-1][1])}."
        facts["forecasts"].append(item)
        texts.append(text)
    return facts, " ".join(texts)


def _recommendations(d: ReportData) -> tuple[dict[str, Any], str]:
    if not d.recommendations:
        return {"recommendations": 0}, (f"No price recommendations have been made for {d.product} yet "
                                        "(POST /api/recommendations/generate).")
    facts = {"recommendations": [
        {"segment": r.segment, "plan": r.plan, "currency": r.currency, "current_price": round(r.current_price, 2),
         "recommended_price": round(r.recommended_price, 2), "elasticity": r.elasticity,
         "revenue_uplift_pct": r.revenue_uplift_pct, "margin_uplift_pct": r.margin_uplift_pct,
         "confidence_pct": r.confidence_pct}
        for r in d.recommendations[:10]]}
    parts = []
    for r in d.recommendations[:10]:
        part = (f"for {r.segment} on {r.plan}, {price(r.current_price)} to {price(r.recommended_price)} "
                f"{r.currency}")
        extra = []
        if r.elasticity is not None:
            extra.append(f"elasticity {r.elasticity:.2f}")
        if r.revenue_uplift_pct is not None:
            extra.append(f"expected revenue {pct(r.revenue_uplift_pct, signed=True)}")
        if r.margin_uplift_pct is not None:
            extra.append(f"expected margin {pct(r.margin_uplift_pct, signed=True)}")
        if r.confidence_pct is not None:
            extra.append(f"confidence that margin improves {pct(r.confidence_pct)}")
        parts.append(part + (f" ({', '.join(extra)})" if extra else ""))
    return facts, "Recommended prices: " + "; ".join(parts) + "."


def _gaps(d: ReportData) -> tuple[dict[str, Any], str]:
    if not d.gaps:
        return {"diagnoses": 0}, f"No gap diagnoses have been made for the plans of {d.product} yet."
    facts = {"diagnoses": len(d.gaps), "summaries": [{"plan": g.plan, "summary": g.summary} for g in d.gaps]}
    return facts, " ".join(g.summary.strip() for g in d.gaps)


def _performance(d: ReportData) -> tuple[dict[str, Any], str]:
    if len(d.performance) < 2:
        return {"plans_compared": len(d.performance)}, (
            "Plan performance needs revenue and subscription history for at least two plans.")
    ranked = sorted(d.performance, key=lambda r: r.efficiency)
    low, high = ranked[0], ranked[-1]
    potential = round(sum(r.potential for r in d.performance), 2)
    facts = {"plans_compared": len(d.performance),
             "most_efficient": {"plan": high.plan, "efficiency": high.efficiency, "revenue_12m": high.revenue_12m},
             "least_efficient": {"plan": low.plan, "efficiency": low.efficiency, "value_gap": low.value_gap,
                                 "potential": low.potential},
             "potential_total": potential, "window_months": 12, "average_efficiency": 1}
    text = (f"Across {len(d.performance)} plans, {high.plan} is the most efficient (efficiency {high.efficiency:.2f}, "
            f"{money(high.revenue_12m)} over 12 months) and {low.plan} the least (efficiency {low.efficiency:.2f}")
    if low.value_gap is not None:
        text += f", value gap {pct(low.value_gap, signed=True)}"
    text += f"). Bringing the plans below 1 to average efficiency would add {money(potential)} over 12 months."
    return facts, text


def _summary(d: ReportData) -> tuple[dict[str, Any], str]:
    facts: dict[str, Any] = {"product": d.product, "period": period(d.start, d.end)}
    parts: list[str] = []
    if d.attribution:
        top = d.attribution[0]
        facts.update(total_revenue=d.total_revenue, pairs=len(d.attribution), top_pair={
            "segment": top.segment, "plan": top.plan, "revenue": top.revenue, "percentage": top.percentage})
        parts.append(f"Total revenue over {period(d.start, d.end)} was {money(d.total_revenue)}; the largest "
                     f"contributor is {top.segment} on {top.plan} with {money(top.revenue)} "
                     f"({pct(top.percentage)}).")
    else:
        parts.append(f"No revenue data for {d.product} over {period(d.start, d.end)}.")
    fc_facts, fc_text = _forecast(d)
    if fc_facts.get("forecasts"):
        facts["forecast"], facts["interval_level"] = fc_facts["forecasts"], fc_facts["interval_level"]
        parts.append(fc_text)
    if d.recommendations:
        r = d.recommendations[0]
        facts["recommendation"] = {"segment": r.segment, "plan": r.plan, "current_price": round(r.current_price, 2),
                                   "recommended_price": round(r.recommended_price, 2),
                                   "revenue_uplift_pct": r.revenue_uplift_pct}
        facts["recommendations"] = len(d.recommendations)
        parts.append(f"{len(d.recommendations)} price recommendation(s); for {r.segment} on {r.plan} the "
                     f"recommended price is {price(r.recommended_price)} {r.currency} "
                     f"(from {price(r.current_price)}).")
    if d.gaps:
        facts["gap_diagnoses"] = len(d.gaps)
        parts.append(f"{len(d.gaps)} plan(s) have a gap diagnosis.")
    return facts, " ".join(parts)


_BUILDERS = {"summary": _summary, "revenue": _revenue, "forecast": _forecast, "recommendations": _recommendations,
             "gaps": _gaps, "performance": _performance}


def section_material(section: Mapping[str, Any], data: ReportData) -> tuple[dict[str, Any], str]:
    """The figures a section is given, keyed by topic, and its template text."""
    facts: dict[str, Any] = {}
    texts: list[str] = []
    for topic in topics_for(section):
        f, t = _BUILDERS[topic](data)
        facts[topic] = f
        texts.append(t)
    return facts, "\n\n".join(texts)


def slug(name: str) -> str:
    """A file name for a report: letters, digits and dashes."""
    return re.sub(r"[^A-Za-z0-9]+", "-", name).strip("-").lower()[:80] or "report"
