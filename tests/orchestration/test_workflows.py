"""The spec's workflows end to end: a market loaded through the API, a run started as the client
starts it, executed by the app's embedded job consumer, read back through the routes."""

from __future__ import annotations

from collections import Counter

from tests.analytics.market import make_market
from tests.orchestration.helpers import logs, start, wait_until

PRICING_STEPS = ["Product offering summary", "Competitive and cost position", "Segment ROI", "Forecast refresh",
                 "Revenue forecast", "Gap diagnosis", "Experimental pricing recommendation", "Refinement", "Report"]


async def _market(client):
    m = await make_market(client)
    r = await client.put("/product/update", json={
        "id": m.product, "icp_description": "Mid-size analytics teams",
        "features_description_summary": "Dashboards and alerts",
        "competitors": [{"competitor_name": "Rival", "website_url": "https://rival.example", "unit_price": 50.0},
                        {"competitor_name": "Other", "website_url": "https://other.example", "unit_price": 30.0}]})
    assert r.status_code == 200, r.text
    return m


async def test_pricing_analysis_runs_every_step_once_and_records_its_outputs(make_client):
    client = await make_client(auth_mode="local", embedded_jobs=True)
    ctx = client.app.state.ctx
    sub = ctx.events.subscribe(ctx.local_principal.tenant_id, maxsize=10_000)
    m = await _market(client)
    started = await start(client, "pricing_analysis", m.product, analysis_depth="comprehensive",
                          include_forecasting=True)
    assert started["status"] == "started" and started["message"]
    iid = started["invocation_id"]
    run = await wait_until(client, iid)
    assert run["status"] == "completed", run
    assert run["progress"] == {"completed_steps": 9, "total_steps": 9, "current_step": None}
    steps = run["steps"]
    assert [s["step_name"] for s in steps] == PRICING_STEPS
    assert [s["step_order"] for s in steps] == list(range(9))
    assert {s["status"] for s in steps} == {"completed"}
    for s in steps:
        assert s["invocation_id"] == iid and s["product_id"] == m.product and s["_id"] and s["created_at"]
        assert s["step_input"]["workflow_type"] == "pricing_analysis"
    out = {s["step_name"]: s["step_output"] for s in steps}

    offering = out["Product offering summary"]
    assert offering["citations"] == [] and "no documentation" in offering["documentation"]
    assert "Mid-size analytics teams" in offering["summary"] and "Rival" in offering["summary"]
    plan = out["Competitive and cost position"]["plans"][0]
    assert plan["list_price"] == 36.0 and plan["cogs_per_unit"] == 20.0
    assert plan["gross_margin"] == round((36 - 20) / 36, 4)
    assert plan["competitor_median_price"] == 40.0 and plan["price_vs_competitors"] == -0.1
    roi = out["Segment ROI"]["pairs"][0]
    revenue = sum(q * p for q, p in zip(m.subscriptions[-12:], m.prices[-12:], strict=True))
    assert abs(roi["revenue_12m"] - revenue) < 0.01
    assert abs(roi["cogs_12m"] - 20.0 * sum(m.subscriptions[-12:])) < 0.01
    assert abs(roi["roi"] - (roi["revenue_12m"] - roi["cogs_12m"]) / roi["cogs_12m"]) < 1e-3
    assert out["Forecast refresh"]["contributions"] == 1
    fc = out["Revenue forecast"]["forecasts"][0]
    assert fc["model"] and len(fc["points"]) == 12 and fc["revenue_next_12m"] > 0
    gap = out["Gap diagnosis"]["diagnoses"][0]
    assert gap["plan_id"] == m.plan and gap["diagnosis_id"]
    recs = out["Experimental pricing recommendation"]["recommendations"]
    assert len(recs) == 1 and recs[0]["segment_id"] == m.segment and recs[0]["recommendation_id"]
    ranking = out["Refinement"]["ranking"]
    assert ranking[0]["recommendation_id"] == recs[0]["recommendation_id"] and ranking[0]["rank"] == 1
    assert abs(ranking[0]["score"] - recs[0]["margin_uplift"] * recs[0]["confidence"]) < 1e-3
    report = out["Report"]
    assert report["report_id"], report
    # what the steps made is stored where the rest of the API serves it
    recs_api = (await client.get("/api/recommendations/pricing", params={"product_id": m.product})).json()
    assert recs[0]["recommendation_id"] in {r["_id"] for r in recs_api}
    gaps_api = (await client.get("/api/ai-analysis/gap-diagnosis", params={"pricing_model_id": m.plan})).json()
    assert gap["diagnosis_id"] in {g["_id"] for g in gaps_api}
    status = await client.get(f"/api/reports/{report['report_id']}/status")
    assert status.status_code == 200, status.text

    lines = await logs(client, iid)
    messages = [x["message"] for x in lines]
    assert messages[0].startswith("Run queued") and messages[1].startswith("Run started")
    assert messages[-1] == "Run completed: 9 step(s)"
    assert sum(m.startswith("Step completed") for m in messages) == 9
    # (a step may have been retried: the forecast job of the market's series writes at the same time)
    assert "ERROR" not in {x["level"] for x in lines}

    # the events, in order: one step_completed per step, then the final update
    seen = []
    while (ev := await sub.get(0.01)) is not None:
        if ev.data.get("invocation_id") == iid:
            seen.append(ev)
    done = [e.data for e in seen if e.type == "orchestration_step_completed"]
    assert [d["step_order"] for d in done] == list(range(9))
    assert all(d["run_id"] == run["_id"] and d["product_id"] == m.product for d in done)
    updates = [e.data["status"] for e in seen if e.type == "orchestration_updated"]
    assert updates[0] == "queued" and updates[-1] == "completed"
    assert sum(e.type == "orchestration_log" for e in seen) == len(lines)


async def test_parameters_change_what_runs(make_client):
    client = await make_client(auth_mode="local", embedded_jobs=True)
    m = await _market(client)
    other = await make_market(client, product=m.product, segment_uid="ENT", plan_name="Enterprise", seed=5)
    basic = await start(client, "pricing_analysis", m.product, analysis_depth="basic", include_forecasting=False,
                        target_segments=["ENT"])
    run = await wait_until(client, basic["invocation_id"])
    assert run["status"] == "completed", run
    by_name = {s["step_name"]: s for s in run["steps"]}
    skipped = {n: s["step_output"]["reason"] for n, s in by_name.items() if s["status"] == "skipped"}
    assert skipped == {"Forecast refresh": "include_forecasting is false", "Revenue forecast":
                       "include_forecasting is false", "Refinement": "analysis_depth is basic",
                       "Report": "analysis_depth is basic"}
    assert run["parameters"]["target_segments"] == [other.segment]
    recs = by_name["Experimental pricing recommendation"]["step_output"]["recommendations"]
    assert [r["segment_id"] for r in recs] == [other.segment]
    assert [p["segment_id"] for p in by_name["Segment ROI"]["step_output"]["pairs"]] == [other.segment]
    # plan-level steps still see every plan of the product
    assert len(by_name["Competitive and cost position"]["step_output"]["plans"]) == 2

    full = await start(client, "full_analysis", m.product)
    run = await wait_until(client, full["invocation_id"])
    assert run["status"] == "completed", run
    names = [s["step_name"] for s in run["steps"]]
    assert len(names) == len(set(names)) == 11
    assert names[-2:] == ["Refinement", "Report"] and "Customer clustering" in names
    recs = {s["step_name"]: s for s in run["steps"]}["Experimental pricing recommendation"]["step_output"]
    assert {r["segment_id"] for r in recs["recommendations"]} == {m.segment, other.segment}

    forecast = await start(client, "revenue_forecast", m.product, include_forecasting=False)
    run = await wait_until(client, forecast["invocation_id"])
    assert [s["status"] for s in run["steps"]] == ["completed", "completed"]
    assert len(run["steps"][1]["step_output"]["forecasts"]) == 2


async def test_bad_starts_name_the_field(make_client):
    client = await make_client(auth_mode="local")
    r = await client.post("/orchestration", json={"workflow_type": "pricing_analysis"})
    assert r.status_code == 422 and r.json()["error"]["fields"][0]["field"] == "product_id"
    m = await make_market(client)
    cases = [({"workflow_type": "astrology", "product_id": m.product}, "workflow_type"),
             ({"workflow_type": "pricing_analysis", "product_id": m.product,
               "parameters": {"analysis_depth": "deep"}}, "parameters.analysis_depth"),
             ({"workflow_type": "pricing_analysis", "product_id": m.product,
               "parameters": {"include_forecasting": "yes"}}, "parameters.include_forecasting"),
             ({"workflow_type": "pricing_analysis", "product_id": m.product,
               "parameters": {"target_segments": ["Nobody"]}}, "parameters.target_segments"),
             ({"workflow_type": "pricing_analysis", "product_id": m.product, "parameters": []}, "parameters")]
    for body, field in cases:
        r = await client.post("/api/orchestration/start", json=body)
        assert r.status_code == 422, (body, r.text)
        assert r.json()["error"]["fields"][0]["field"] == field, r.text
    r = await client.post("/orchestration", json={"workflow_type": "pricing_analysis", "product_id": "f" * 24})
    assert r.status_code == 404
    assert (await client.get("/api/orchestration/runs", params={"status": "sleeping"})).status_code == 422
    r = await client.get("/historical/runlogs")
    assert r.status_code == 422 and r.json()["error"]["fields"][0]["field"] == "invocation_id", r.text
    # with one product, the client may leave product_id out
    ok = await start(client, "revenue_forecast")
    assert (await client.get(f"/api/orchestration/runs/{ok['invocation_id']}")).json()["product_id"] == m.product
    listed = await client.get("/api/orchestration/runs", params={"product_id": m.product})
    assert listed.headers["X-Total-Count"] == "1"
    # admitted (a slot was free), its first step queued for a consumer, which this app does not run
    assert Counter(r["status"] for r in listed.json()) == {"running": 1}


async def test_steps_ask_the_configured_llm_and_keep_the_figures_when_it_invents(make_client, openai_stub):
    client = await make_client(auth_mode="local", embedded_jobs=True, openai_api_key="sk-test-good-key-1234",
                               openai_base_url=openai_stub.base_url)
    m = await _market(client)
    openai_stub.chat_reply = "Margins will grow by 999%."  # a figure no model computed
    iid = (await start(client, "pricing_analysis", m.product, include_forecasting=False))["invocation_id"]
    run = await wait_until(client, iid)
    assert run["status"] == "completed", run
    out = {s["step_name"]: s["step_output"] for s in run["steps"]}
    assert openai_stub.posts  # the narratives were asked for
    refinement = out["Refinement"]
    assert refinement["narrator"] == "template" and "999" in refinement["narrative_note"]
    assert "999" not in refinement["summary"] and refinement["summary"].startswith("1 recommendation(s) ranked")
