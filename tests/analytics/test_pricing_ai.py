"""Price recommendations, gap diagnosis and performance insights through the API, on a market
whose price response is known."""

from __future__ import annotations

import pytest

from pricewise.analytics.narrator import numbers_in, unknown_numbers
from tests.analytics.market import make_market
from tests.support import signup


@pytest.fixture
async def local(make_client):
    return await make_client(auth_mode="local")


def _figures(rec: dict) -> dict:
    """Every figure the response reports: what a narrative may cite."""
    return {k: rec[k] for k in ("current_price", "recommended_price", "elasticity", "expected_uplift",
                                "confidence", "guardrail", "price_change")} | {
        "pct": {k: None if v is None else v * 100 for k, v in rec["expected_uplift"].items()},
        "change_pct": rec["price_change"] * 100, "confidence_pct": rec["confidence"] * 100,
        "horizon": len(rec["new_revenue_forecast_ts_data"]), "level": 80}


async def test_known_elasticity_moves_the_price_the_right_way(local):
    bus = local.app.state.ctx.events
    sub = bus.subscribe(local.app.state.ctx.local_principal.tenant_id)
    m = await make_market(local, elasticity=-1.5)  # prices 40 -> 46 -> 36, unit cost 20
    r = await local.post("/api/recommendations/generate", json={
        "product": m.product, "customer_segment": m.segment, "analysis_prompt": "Focus on margin"})
    assert r.status_code == 200, r.text
    rec = r.json()
    assert rec["pricing_plan"] == m.plan and rec["customer_segment"] == m.segment and rec["product"] == m.product
    e = rec["elasticity"]
    assert e["source"] in ("regression", "regression+prior") and e["price_changes"] == 2
    assert abs(e["value"] - (-1.5)) <= 0.3
    # p* = c e / (1 + e) = 20 * 1.5 / 0.5 = 60 > 36: up, capped by the 30% guardrail at 46.8
    assert rec["current_price"] == 36 and rec["recommended_price"] == pytest.approx(46.8)
    assert rec["expected_uplift"]["margin"] > 0 and rec["confidence"] > 0.5
    series = rec["new_revenue_forecast_ts_data"]
    assert len(series) == 12 and all(p["value"] > 0 for p in series)
    for p in rec["forecast_intervals"]:
        assert p["lower95"] <= p["lower80"] <= p["value"] <= p["upper80"] <= p["upper95"]
    assert rec["narrator"] == "template" and rec["analysis_prompt"] == "Focus on margin"
    # every number in the narrative is one of the computed figures
    assert numbers_in(rec["narrative"]) and unknown_numbers(rec["narrative"], _figures(rec)) == []
    assert "46.8" in rec["narrative"] and str(round(e["value"], 2)) in rec["narrative"]
    events = [await sub.get(1.0) for _ in range(3)]
    assert any(ev and ev.type == "ai_analysis_completed" and ev.data["id"] == rec["_id"] for ev in events)
    listed = await local.get("/api/recommendations/pricing", params={"customer_segment_id": m.segment})
    assert listed.status_code == 200 and [x["_id"] for x in listed.json()] == [rec["_id"]]
    assert listed.headers["X-Total-Count"] == "1"


async def test_without_price_variation_the_prior_is_used_and_said(local):
    m = await make_market(local, prices=[40.0] * 30)
    rec = (await local.post("/api/recommendations/generate", json={"customer_segment": m.segment})).json()
    assert rec["elasticity"]["source"] == "prior" and rec["elasticity"]["price_changes"] == 0
    assert rec["recommended_price"] == rec["current_price"] == 40
    assert any("prior" in a for a in rec["assumptions"]) and "prior" in rec["narrative"]
    assert unknown_numbers(rec["narrative"], _figures(rec)) == []


async def test_inelastic_demand_without_cost_raises_to_the_guardrail(local):
    m = await make_market(local, elasticity=-0.4, cogs=None)
    rec = (await local.post("/api/recommendations/generate", json={"customer_segment": m.segment})).json()
    assert rec["elasticity"]["value"] > -1
    assert rec["recommended_price"] == pytest.approx(36 * 1.3)
    assert rec["expected_uplift"]["revenue"] > 0


async def test_recommendation_bad_input(local, make_client, mailbox):
    m = await make_market(local)
    empty = (await local.post("/customer-segment/create", json={"customer_segment_name": "Empty",
                                                                "customer_segment_uid": "E"})).json()
    cases = [({"customer_segment": "0" * 24}, 404, None),
             ({"customer_segment": "nope"}, 422, "customer_segment"),
             ({"customer_segment": empty["_id"]}, 422, "customer_segment"),
             ({"customer_segment": m.segment, "analysis_prompt": "x" * 6000}, 422, "analysis_prompt"),
             ({"customer_segment": m.segment, "analysis_prompt": 5}, 422, "analysis_prompt"),
             ({"customer_segment": m.segment, "product": "0" * 24}, 404, None)]
    for body, status, field in cases:
        r = await local.post("/api/recommendations/generate", json=body)
        assert r.status_code == status, (body, r.text)
        if field:
            assert field in r.text
    # another tenant's segment is not found
    other = await make_client()
    acct = await signup(other, mailbox, "b@example.com")
    r = await other.post("/api/recommendations/generate", json={"customer_segment": m.segment},
                         headers=acct.bearer)
    assert r.status_code == 404
    assert (await local.get("/api/recommendations/pricing")).json() == []


async def test_gap_diagnosis_cites_its_metrics(local):
    product = (await local.post("/product/create", json={"name": "Suite", "competitors": [
        {"competitor_name": "Rival", "website_url": "https://rival.example.com", "unit_price": 22.5}]})).json()
    # falling subscriptions at a high price with a thin margin: three gaps
    m = await make_market(local, prices=[40.0] * 24, cogs=30.0, product=product["_id"], elasticity=-1.0)
    await local.post("/api/analytics/segment-contribution", json={
        "customer_segment": m.segment, "pricing_plan": m.plan,
        "active_subscriptions": [{"date": f"{d.isoformat()}T00:00:00Z", "value": v * (0.8 if i > 20 else 1)}
                                 for i, (d, v) in enumerate(zip(m.months, m.subscriptions, strict=True))]})
    r = await local.post("/api/ai-analysis/gap-diagnosis", json={"pricing_model": m.plan, "context": "Q4 review"})
    assert r.status_code == 200, r.text
    d = r.json()
    assert d["pricing_model"] == m.plan and d["narrator"] == "template"
    metrics = {g["metric"] for g in d["gaps"]}
    assert {"gross_margin", "price_vs_competitors", "subscription_growth"} <= metrics
    assert d["metrics"]["gross_margin"] == pytest.approx(0.25)
    assert d["metrics"]["price_vs_competitors"] == pytest.approx(40 / 22.5 - 1, abs=1e-4)
    assert "25.0%" in d["ai_gap_diagnosis_summary"] and "77.8%" in d["ai_gap_diagnosis_summary"]
    facts = {**d["metrics"], "gaps": len(d["gaps"])} | {
        "pct": {k: v * 100 for k, v in d["metrics"].items() if isinstance(v, float)}}
    for text in (d["ai_gap_diagnosis_summary"], d["ai_gap_diagnosis_reasoning"]):
        assert unknown_numbers(text, facts) == [], text
    listed = (await local.get("/api/ai-analysis/gap-diagnosis", params={"pricing_model_id": m.plan})).json()
    assert [x["_id"] for x in listed] == [d["_id"]]
    modal = (await local.get(f"/api/pricing-models/{m.plan}")).json()
    assert modal["ai_gap_diagnosis"]["_id"] == d["_id"]
    assert (await local.post("/api/ai-analysis/gap-diagnosis", json={"pricing_model": "0" * 24})).status_code == 404
    bad = await local.post("/api/ai-analysis/gap-diagnosis", json={"pricing_model": m.plan, "context": ["x"]})
    assert bad.status_code == 422 and "context" in bad.text


async def test_performance_insights_compare_plans(local):
    a = await make_market(local, prices=[40.0] * 24, plan_name="Basic", segment_uid="A")
    # the second plan on the same product earns more per subscription
    b = await make_market(local, prices=[90.0] * 24, plan_name="Premium", segment_uid="B", product=a.product,
                          seed=5)
    r = await local.get("/api/analytics/performance-insights", params={"product_id": a.product})
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["underperformingPlan"]["plan_name"] == "Basic"
    assert out["overperformingPlan"]["plan_name"] == "Premium"
    rows = {p["plan_name"]: p for p in out["plans"]}
    ra, rb = rows["Basic"], rows["Premium"]
    share = lambda x: (x["revenue"] / (ra["revenue"] + rb["revenue"])) / (  # noqa: E731
        x["subscriptions"] / (ra["subscriptions"] + rb["subscriptions"]))
    assert ra["efficiency"] == pytest.approx(share(ra), abs=1e-3) and ra["efficiency"] < 1 < rb["efficiency"]
    assert out["potentialCapture"] == pytest.approx(ra["revenue"] * (1 / ra["efficiency"] - 1), rel=1e-3)
    assert out["underperformingPlan"]["valueGap"] == pytest.approx(0.0, abs=0.5)  # revenue = subs x price
    assert out["recommendations"] and "Premium" in out["recommendations"][0]
    assert b.plan in {p["plan_id"] for p in out["plans"]}
    assert (await local.get("/api/analytics/performance-insights")).status_code == 422
    assert (await local.get("/api/analytics/performance-insights",
                            params={"product_id": "0" * 24})).status_code == 404
    one = (await local.get("/api/analytics/performance-insights", params={"product_id": a.product,
                                                                           "plan_id": b.plan})).json()
    assert [p["plan_name"] for p in one["plans"]] == ["Premium"]


KEY = "sk-test-good-key-1234"


async def test_llm_writes_the_narrative_from_the_computed_figures(make_client, openai_stub):
    from tests.support import Reply

    local = await make_client(auth_mode="local", openai_api_key=KEY, openai_base_url=openai_stub.base_url)
    m = await make_market(local, elasticity=-1.5)
    # an LLM that invents a figure is overruled: the template is served, and the response says why
    openai_stub.script(Reply.chat("Raise the price to 49.99 USD; revenue will grow 250%."))
    first = (await local.post("/api/recommendations/generate", json={
        "customer_segment": m.segment, "analysis_prompt": "Keep it short for the board"})).json()
    assert first["narrator"] == "template" and "49.99" not in first["narrative"] and first["narrative_note"]
    sent = openai_stub.posts[-1]["json"]
    text = " ".join(str(msg["content"]) for msg in sent["messages"])
    assert "Keep it short for the board" in text and "46.8" in text  # the figures and the steer are handed over
    # prose that restates the computed figures is kept as written
    margin = round(first["expected_uplift"]["margin"] * 100, 1)
    prose = (f"Raise the Pro price for Segment SMB from 36.0 to {first['recommended_price']} USD: with elasticity "
             f"{round(first['elasticity']['value'], 2)} the margin rises {margin}%.")
    openai_stub.script(Reply.chat(prose))
    second = (await local.post("/api/recommendations/generate", json={"customer_segment": m.segment})).json()
    assert (second["narrator"], second["narrative"]) == ("llm", prose)
    assert second["recommended_price"] == first["recommended_price"]  # the LLM never moves the numbers
    assert numbers_in(prose) and unknown_numbers(second["narrative"], _figures(second)) == []


async def test_ai_routes_have_their_own_rate_limit(make_client):
    local = await make_client(auth_mode="local", rate_limit_ai_requests_per_minute=2)
    m = await make_market(local, elasticity=-1.5)
    codes = [(await local.post("/api/recommendations/generate", json={"customer_segment": m.segment})).status_code
             for _ in range(3)]
    assert codes == [200, 200, 429]
    assert (await local.get("/api/recommendations/pricing")).status_code == 200  # reads are not AI calls
