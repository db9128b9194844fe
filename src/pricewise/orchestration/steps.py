"""The steps of pricing_analysis. Each reads through the run's tenant scope and returns a JSON-able
dict; figures come from the analytics models, prose from the narrator (template without an LLM).
"""

from __future__ import annotations

import logging
from typing import Any

from pricewise.analytics import gap_service, pair_data, recommendations
from pricewise.analytics.narrator import narrate
from pricewise.core.errors import AppError
from pricewise.orchestration import product_scope
from pricewise.orchestration.workflows import StepEnv, StepInput

log = logging.getLogger("pricewise.orchestration.steps")
OFFERING_QUERY = "product features, pricing, value proposition and target customers"


def _r(x: float | None, nd: int = 4) -> float | None:
    return None if x is None else round(float(x), nd)


async def offering(env: StepEnv, inp: StepInput) -> dict[str, Any]:
    """What the product offers, from its own fields and the passages of its documentation."""
    ps = await product_scope.load(env.scope, inp)
    p = ps.product
    query = " ".join(x for x in (p.name, p.features_description_summary or "", OFFERING_QUERY) if x)
    try:
        from pricewise.knowledge.service import search_passages
    except ImportError:  # documentation search is not installed in this deployment
        passages: list[Any] = []
        documentation = "documentation search is unavailable: the summary uses the product's own fields only"
    else:
        passages = await search_passages(env.scope, p.id, query, 5)
        documentation = (f"{len(passages)} passage(s) of the product's documentation cited" if passages else
                         "no documentation indexed for this product: the summary uses the product's own fields only")
    citations = [{"ref": i + 1, "source": x.source, "document_id": x.document_id, "ordinal": x.ordinal,
                  "score": _r(x.score), "excerpt": " ".join(x.text.split())[:500]} for i, x in enumerate(passages)]
    competitors = [str(c.get("competitor_name") or c.get("name")) for c in (p.competitors or [])
                   if isinstance(c, dict) and (c.get("competitor_name") or c.get("name"))]
    icp = f"serves {p.icp_description.strip()}" if p.icp_description else "has no ideal customer profile recorded"
    text = f"{p.name} {icp}."
    if p.features_description_summary:
        text += f" Features: {p.features_description_summary.strip()}"
        text += "" if text.endswith(".") else "."
    if competitors:
        text += f" Competitors: {', '.join(competitors)}."
    if citations:
        text += " From its documentation: " + " ".join(f"[{c['ref']}] {c['excerpt'][:200]}" for c in citations)
    else:
        text += f" ({documentation}.)"
    facts = {"product": p.name, "ideal_customer": p.icp_description, "features": p.features_description_summary,
             "competitors": competitors, "passages": {str(c["ref"]): c["excerpt"] for c in citations}}
    story = await narrate(await env.llm(), kind="product offering summary", facts=facts, template=text,
                          steer="Cite documentation passages by their number in brackets, e.g. [1].")
    return {"product_id": p.id, "product_name": p.name, "summary": story.text, "narrator": story.source,
            "narrative_note": story.note, "citations": citations, "documentation": documentation,
            "competitors": competitors, "segments": len(ps.segments), "plans": len(ps.plans)}


async def position(env: StepEnv, inp: StepInput) -> dict[str, Any]:
    """Each plan's price against competitors' known prices, and its margin over COGS."""
    ps = await product_scope.load(env.scope, inp)
    known = [{"name": c.get("competitor_name") or c.get("name"), "unit_price": c["unit_price"]}
             for c in (ps.product.competitors or [])
             if isinstance(c, dict) and isinstance(c.get("unit_price"), int | float) and c["unit_price"] > 0]
    plans = []
    for plan in ps.plans.values():
        m = await gap_service.plan_metrics(env.scope, plan)
        plans.append({"plan_id": plan.id, "plan_name": plan.plan_name, "currency": plan.currency,
                      "unit_price": float(plan.unit_price), "min_unit_count": plan.min_unit_count,
                      "list_price": m["list_price"], "cogs_per_unit": None if plan.cogs_per_unit is None
                      else float(plan.cogs_per_unit), "gross_margin": m["gross_margin"], "arpu": m["arpu"],
                      "competitor_median_price": m["competitor_median_price"],
                      "price_vs_competitors": m["price_vs_competitors"], "months_of_data": m["months_of_data"]})
    lines = []
    for x in plans:
        line = f"{x['plan_name']} lists at {x['list_price']:.2f} {x['currency']}"
        if x["gross_margin"] is not None:
            line += f", gross margin {x['gross_margin'] * 100:.1f}%"
        else:
            line += ", margin unknown (no COGS recorded)"
        if x["price_vs_competitors"] is not None:
            line += f", {x['price_vs_competitors'] * 100:+.1f}% against competitors' median price"
        lines.append(line)
    summary = "; ".join(lines) + "." if lines else "The product has no pricing plans."
    if not known:
        summary += " No competitor prices are recorded, so the position against the market is unknown."
    return {"plans": plans, "competitor_prices": known, "summary": summary}


async def segment_roi(env: StepEnv, inp: StepInput) -> dict[str, Any]:
    """Per segment x plan over the last 12 months: revenue, COGS (cost per unit x units x months of
    subscriptions), gross profit, margin and ROI (gross profit / COGS)."""
    ps = await product_scope.load(env.scope, inp)
    rows: list[dict[str, Any]] = []
    for seg_id, plan_id in ps.pairs:
        plan = ps.plans[plan_id]
        data = await pair_data.load(env.scope, plan, seg_id)
        revenue = sum(data.revenue.values[-12:]) if data.revenue.values else None
        subs = data.subscriptions.values[-12:]
        unit_months = sum(subs) * max(plan.min_unit_count, 1) if subs else None
        estimated = False
        if revenue is None and unit_months is not None:
            revenue, estimated = unit_months * float(plan.unit_price), True
        cogs = (float(plan.cogs_per_unit) * unit_months
                if plan.cogs_per_unit is not None and unit_months is not None else None)
        profit = revenue - cogs if revenue is not None and cogs is not None else None
        rows.append({
            "segment_id": seg_id, "segment_name": ps.segments[seg_id].customer_segment_name, "plan_id": plan_id,
            "plan_name": plan.plan_name, "months": max(len(data.revenue.values[-12:]), len(subs)),
            "revenue_12m": _r(revenue, 2), "revenue_estimated": estimated, "unit_months_12m": _r(unit_months, 2),
            "cogs_12m": _r(cogs, 2), "gross_profit_12m": _r(profit, 2),
            "gross_margin": _r(profit / revenue) if profit is not None and revenue else None,
            "roi": _r(profit / cogs) if profit is not None and cogs else None})
    # Pairs with a gross profit first, by it; then the others, by revenue.
    rows.sort(key=lambda r: (r["gross_profit_12m"] is None, -(r["gross_profit_12m"] or r["revenue_12m"] or 0.0)))
    total_rev = sum(r["revenue_12m"] or 0.0 for r in rows)
    if rows:
        best = rows[0]
        summary = (f"{len(rows)} segment x plan pair(s) with history; {total_rev:.2f} revenue over the last 12 "
                   f"months. Highest gross profit: {best['segment_name']} on {best['plan_name']}"
                   + (f" ({best['gross_profit_12m']:.2f}, ROI {best['roi']:.2f})."
                      if best["gross_profit_12m"] is not None and best["roi"] is not None else "."))
    else:
        summary = "No segment of this product has revenue or subscription history yet."
    if any(r["cogs_12m"] is None for r in rows):
        summary += " Plans without COGS have no profit or ROI."
    return {"pairs": rows, "revenue_12m_total": _r(total_rev, 2), "summary": summary}


async def gap_diagnosis(env: StepEnv, inp: StepInput) -> dict[str, Any]:
    """analytics' gap diagnosis of every plan of the product (each stored as a GapDiagnosis)."""
    ps = await product_scope.load(env.scope, inp)
    llm = await env.llm()
    out = []
    for plan in ps.plans.values():
        d = await gap_service.diagnose(env.scope, llm, plan.id, f"analysis run {inp.invocation_id}")
        out.append({"plan_id": plan.id, "plan_name": plan.plan_name, "diagnosis_id": d.id, "summary": d.summary,
                    "gaps": d.metrics.get("gaps", []), "narrator": d.narrator})
    gaps = sum(len(x["gaps"]) for x in out)
    return {"diagnoses": out, "gaps_found": gaps,
            "summary": f"{gaps} gap(s) found over {len(out)} plan(s)." if out else "The product has no plans."}


async def recommendation(env: StepEnv, inp: StepInput) -> dict[str, Any]:
    """A price recommendation per segment with subscription history (stored as Recommendations),
    each a candidate for an experimental segment-plan link."""
    ps = await product_scope.load(env.scope, inp)
    llm = await env.llm()
    settings = env.ctx.settings
    made, skipped = [], []
    for seg_id in dict.fromkeys(s for s, _ in ps.pairs):
        try:
            rec = await recommendations.generate(
                env.scope, llm, product_id=ps.product.id, segment_id=seg_id, plan_id=None,
                prompt="experimental pricing for this segment", horizon=settings.forecast_horizon_months,
                guardrail=settings.price_guardrail)
        except AppError as exc:  # no usable history for this segment: said, not fatal
            skipped.append({"segment_id": seg_id, "segment_name": ps.segments[seg_id].customer_segment_name,
                            "reason": exc.message})
            continue
        m = rec.model
        made.append({"recommendation_id": rec.id, "segment_id": seg_id,
                     "segment_name": ps.segments[seg_id].customer_segment_name, "plan_id": rec.plan_id,
                     "plan_name": ps.plans[rec.plan_id].plan_name if rec.plan_id in ps.plans else None,
                     "current_price": rec.current_price, "recommended_price": rec.recommended_price,
                     "price_change_pct": _r((rec.recommended_price / rec.current_price - 1) * 100, 1)
                     if rec.current_price else None,
                     "revenue_uplift": _r(m.get("revenue_uplift")), "margin_uplift": _r(m.get("margin_uplift")),
                     "confidence": _r(m.get("confidence")), "rule": m.get("rule"), "narrative": rec.narrative})
    summary = (f"{len(made)} recommendation(s) made" + (f"; {len(skipped)} segment(s) without usable history"
                                                       if skipped else "") + ".")
    return {"recommendations": made, "skipped_segments": skipped, "summary": summary}


async def refinement(env: StepEnv, inp: StepInput) -> dict[str, Any]:
    """The recommendations ranked by expected margin uplift x confidence (the probability that the
    new price earns more margin); those without a margin (no COGS) follow, by revenue uplift."""
    recs = inp.previous.get("recommendation", {}).get("recommendations", [])
    ranked = []
    for r in recs:
        score = (r["margin_uplift"] * r["confidence"]
                 if r.get("margin_uplift") is not None and r.get("confidence") is not None else None)
        ranked.append({**{k: r.get(k) for k in ("recommendation_id", "segment_name", "plan_name", "current_price",
                                                 "recommended_price", "price_change_pct", "margin_uplift",
                                                 "revenue_uplift", "confidence")}, "score": _r(score)})
    ranked.sort(key=lambda r: (r["score"] is None, -(r["score"] or 0.0), -(r["revenue_uplift"] or 0.0)))
    for i, r in enumerate(ranked):
        r["rank"] = i + 1
    if not ranked:
        text = "No recommendation to refine: no segment had usable history."
    else:
        top = ranked[0]
        text = (f"{len(ranked)} recommendation(s) ranked by margin uplift x confidence. First: "
                f"{top['segment_name']} on {top['plan_name']} at {top['recommended_price']:.2f} (from "
                f"{top['current_price']:.2f})")
        if top["score"] is not None:
            text += (f", margin uplift {top['margin_uplift'] * 100:+.1f}% with confidence "
                     f"{top['confidence'] * 100:.1f}%, score {top['score']:.4f}")
        text += "."
        if any(r["score"] is None for r in ranked):
            text += " Recommendations without COGS have no margin and are ranked last, by revenue uplift."
    story = await narrate(await env.llm(), kind="pricing recommendations ranking", facts={"ranking": ranked},
                          template=text)
    return {"ranking": ranked, "summary": story.text, "narrator": story.source, "narrative_note": story.note}


async def report(env: StepEnv, inp: StepInput) -> dict[str, Any]:
    """The Pricing Optimization Report of the product, queued with the reports module (it is
    rendered by its own job once this step commits); the run records its id."""
    ps = await product_scope.load(env.scope, inp)
    try:
        from pricewise.reports.service import create_report
    except ImportError:
        return {"report_id": None, "status": "unavailable", "note": "reports unavailable"}
    row = await create_report(env.scope, env.ctx, f"Pricing analysis: {ps.product.name}", ps.product.id, None,
                              None, template_id="pricing_optimization_report")
    return {"report_id": row.id, "status": row.status, "name": row.name}
