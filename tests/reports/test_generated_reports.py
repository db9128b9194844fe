"""Reports made on demand: a job gathers the analytics, the narrator answers each section's prompt,
and the PDF carries the figures, a fan chart and the tables."""

from __future__ import annotations

import calendar
from datetime import datetime, timedelta
from io import BytesIO

from pypdf import PdfReader

from pricewise.core.jobs import huey
from pricewise.reports.data import money, price
from pricewise.reports.tasks import generate, run_due
from tests.analytics.market import make_market
from tests.support import Reply, signup

KEY = "sk-test-good-key-1234"
SECTIONS = [{"name": "Executive Summary", "prompt": "Generate executive summary of key pricing metrics"},
            {"name": "Revenue Analysis", "prompt": "Analyze revenue trends by customer segment"},
            {"name": "Price Recommendations", "prompt": "Explain the recommended prices"}]


def _at(wire: str) -> datetime:
    return datetime.fromisoformat(wire.replace("Z", "+00:00"))


def pdf_text(pdf: bytes) -> tuple[str, int]:
    reader = PdfReader(BytesIO(pdf))
    return "\n".join(p.extract_text() for p in reader.pages), sum(len(p.images) for p in reader.pages)


async def _event(sub, type_: str, **match):
    for _ in range(240):  # the embedded consumer polls at most every second
        ev = await sub.get(1.0)
        if ev and ev.type == type_ and all(ev.data.get(k) == v for k, v in match.items()):
            return ev
    raise AssertionError(f"no {type_} event {match}")


async def test_a_generated_report_carries_the_analytics_a_chart_and_the_sections(make_client):
    client = await make_client(auth_mode="local", embedded_jobs=True)
    ctx = client.app.state.ctx
    sub = ctx.events.subscribe(ctx.local_principal.tenant_id)
    m = await make_market(client)
    contribution = (await client.get("/api/analytics/segment-contribution",
                                     params={"segment_id": m.segment})).json()[0]["_id"]
    await _event(sub, "revenue_data_updated", contribution_id=contribution)  # the forecast job is done
    rec = (await client.post("/api/recommendations/generate", json={"customer_segment": m.segment})).json()
    gap = (await client.post("/api/ai-analysis/gap-diagnosis", json={"pricing_model": m.plan})).json()
    last = m.months[-1]
    start, end = m.months[0].isoformat(), last.replace(day=calendar.monthrange(last.year, last.month)[1]).isoformat()
    attribution = (await client.get("/api/analytics/revenue-attribution", params={
        "product_id": m.product, "start": start, "end": end})).json()
    assert attribution["totalRevenue"] > 0

    r = await client.post("/api/reports/generate", json={
        "name": "Monthly Revenue Report", "product_id": m.product, "sections": SECTIONS,
        "time_range": {"start": start, "end": end}})
    assert r.status_code == 200, r.text
    assert r.json()["generation_status"] == "started"
    report_id = r.json()["report_id"]
    ready = await _event(sub, "report_ready", report_id=report_id)
    assert ready.data["status"] == "completed" and ready.data["product_id"] == m.product

    status = (await client.get(f"/api/reports/{report_id}/status")).json()
    assert status["status"] == "completed"
    assert status["download_url"] == f"/api/reports/{report_id}/download"
    got = await client.get(status["download_url"])
    assert got.status_code == 200 and got.headers["content-type"] == "application/pdf"
    assert got.headers["content-disposition"].startswith('attachment; filename="monthly-revenue-report-')
    text, images = pdf_text(got.content)
    assert images >= 1  # the revenue-and-forecast fan chart
    for title in ("Monthly Revenue Report", "Analytics", f"Period: {start} to {end}", *(s["name"] for s in SECTIONS),
                  "Revenue attribution", "Price recommendations", "Gap diagnoses"):
        assert title in text, title
    assert money(attribution["totalRevenue"]) in text  # the attribution's total, as the table shows it
    item = attribution["items"][0]
    assert money(item["avgRevenue"]) in text and f"{item['users']:,}" in text
    assert price(rec["recommended_price"]) in text and price(rec["current_price"]) in text
    assert f"{rec['elasticity']['value']:.2f}" in text
    assert " ".join(gap["ai_gap_diagnosis_summary"].split()) in " ".join(text.split())
    assert "No revenue data" not in text and "No price recommendations" not in text

    listed = await client.get("/api/reports/history")
    assert listed.headers["x-total-count"] == "1"
    assert listed.json()[0]["report_id"] == report_id and listed.json()[0]["sections"][1]["name"] == "Revenue Analysis"


async def test_status_goes_from_generating_to_completed_and_another_tenant_gets_404(make_client, mailbox):
    client = await make_client()  # no consumer: the job body is run by the test
    ctx = client.app.state.ctx
    a = await signup(client, mailbox, "a@reports.example", name="A")
    b = await signup(client, mailbox, "b@reports.example", name="B")
    product = (await client.post("/product/create", json={"name": "Pools"}, headers=a.bearer)).json()["_id"]
    r = await client.post("/api/reports/generate", headers=a.bearer, json={
        "template_id": "pricing_optimization_report", "product_id": product})
    assert r.status_code == 200, r.text
    rid = r.json()["report_id"]
    status = (await client.get(f"/api/reports/{rid}/status", headers=a.bearer)).json()
    assert status["status"] == "generating" and "download_url" not in status
    early = await client.get(f"/api/reports/{rid}/download", headers=a.bearer)
    assert early.status_code == 409 and early.json()["error"]["code"] == "report_not_ready"
    for path in (f"/api/reports/{rid}/status", f"/api/reports/{rid}/download"):
        other = await client.get(path, headers=b.bearer)
        assert other.status_code == 404 and other.json()["error"]["code"] == "not_found"

    assert await generate(ctx, a.tenant_id, rid) == "completed"
    assert await generate(ctx, a.tenant_id, rid) == "completed"  # a job run twice writes once
    status = (await client.get(f"/api/reports/{rid}/status", headers=a.bearer)).json()
    assert status["status"] == "completed" and status["size_bytes"] > 1000
    pdf = await client.get(status["download_url"], headers=a.bearer)
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
    text, _ = pdf_text(pdf.content)
    for title in ("Pricing Optimization Report", "Executive Summary", "Plan Performance", "Revenue Outlook"):
        assert title in text
    # with no data the report says so instead of failing
    assert "No revenue data for Pools" in text and "no chart" in text
    assert "No price recommendations have been made" in text
    other = await client.get(status["download_url"], headers=b.bearer)
    assert other.status_code == 404
    assert (await client.get("/api/reports/history", headers=b.bearer)).json() == []
    assert [x["report_id"] for x in (await client.get("/api/reports/history", headers=a.bearer)).json()] == [rid]


async def test_a_report_whose_product_is_gone_fails_and_says_why(make_client):
    client = await make_client(auth_mode="local")
    ctx = client.app.state.ctx
    product = (await client.post("/product/create", json={"name": "Spas"})).json()["_id"]
    rid = (await client.post("/api/reports/generate", json={
        "template_id": "revenue_report", "product_id": product})).json()["report_id"]
    assert (await client.request("DELETE", "/product/delete", json={"id": product})).status_code == 200
    sub = ctx.events.subscribe(ctx.local_principal.tenant_id)
    assert await generate(ctx, ctx.local_principal.tenant_id, rid) == "failed"
    status = (await client.get(f"/api/reports/{rid}/status")).json()
    assert status["status"] == "failed" and product in status["error"] and "download_url" not in status
    got = await client.get(f"/api/reports/{rid}/download")
    assert got.status_code == 409 and got.json()["error"]["code"] == "report_failed"
    ev = await sub.get(1.0)
    assert ev is not None and ev.type == "report_ready" and ev.data == {
        "report_id": rid, "status": "failed", "product_id": product}


async def test_bad_requests_name_the_field(make_client, mailbox):
    client = await make_client()
    a = await signup(client, mailbox, "a@bad.example", name="A")
    b = await signup(client, mailbox, "b@bad.example", name="B")
    theirs = (await client.post("/product/create", json={"name": "B's"}, headers=b.bearer)).json()["_id"]
    base = {"name": "R", "sections": [{"name": "S", "prompt": "p"}]}
    cases = [
        ({"product_id": theirs}, 404, None),
        ({"time_range": {"start": "2024-12-01", "end": "2024-01-01"}}, 422, "time_range"),
        ({"time_range": {"start": "2024-13-01"}}, 422, "time_range.start"),
        ({"time_range": {"start": 20240101}}, 422, "time_range.start"),
        ({"sections": []}, 422, "sections"),
        ({"sections": [{"name": f"S{i}", "prompt": "p"} for i in range(21)]}, 422, "sections"),
        ({"sections": [{"name": "x" * 201, "prompt": "p"}]}, 422, "sections.0.name"),
        ({"sections": [{"name": "S", "prompt": "p" * 2001}]}, 422, "sections.0.prompt"),
        ({"sections": [{"prompt": "p"}]}, 422, "sections.0.name"),
        ({"template_id": "no_such_template"}, 422, "template_id"),
        ({"sections": None}, 422, "sections"),
        ({"name": None}, 422, "name"),
    ]
    for change, code, field in cases:
        r = await client.post("/api/reports/generate", json={**base, **change}, headers=a.bearer)
        assert r.status_code == code, (change, r.text)
        if field:
            assert field in [f["field"] for f in r.json()["error"]["fields"]], (change, r.text)
    assert (await client.get("/api/reports/history", headers=a.bearer)).json() == []  # nothing stored
    templates = (await client.get("/api/reports", headers=a.bearer)).json()
    assert {"pricing_optimization_report", "revenue_report", "segment_report"} <= {t["id"] for t in templates}
    assert all(t["name"] and t["description"] and t["sections"] for t in templates)
    viewer = (await client.post("/api-keys", json={"name": "ro", "role": "viewer"}, headers=a.bearer)).json()
    r = await client.post("/api/reports/generate", json=base, headers={"X-API-Key": viewer["api_key"]})
    assert r.status_code == 403


async def test_each_section_prompt_is_answered_by_the_llm_from_the_figures(make_client, openai_stub):
    client = await make_client(auth_mode="local", openai_api_key=KEY, openai_base_url=openai_stub.base_url)
    ctx = client.app.state.ctx
    m = await make_market(client)
    total = (await client.get("/api/analytics/revenue-attribution", params={"product_id": m.product})).json()[
        "totalRevenue"]
    prose = f"Revenue reached {money(total)} over the last twelve months, led by Segment SMB on Pro."
    openai_stub.script(Reply.chat(prose), Reply.chat("Revenue will triple to 9,999,999.00 next year."))
    rid = (await client.post("/api/reports/generate", json={"name": "Board pack", "product_id": m.product, "sections": [
        {"name": "Revenue Analysis", "prompt": "Write it for the board"},
        {"name": "Revenue Outlook", "prompt": "Be bold", "section_type": "forecast"}]})).json()["report_id"]
    assert await generate(ctx, ctx.local_principal.tenant_id, rid) == "completed"
    sent = [p["json"] for p in openai_stub.posts if "chat" in p["path"]]
    assert len(sent) == 2
    first = " ".join(str(msg["content"]) for msg in sent[0]["messages"])
    assert "Write it for the board" in first and str(total) in first  # the steer and the figures
    pdf = (await client.get(f"/api/reports/{rid}/download")).content
    text, _ = pdf_text(pdf)
    flat = " ".join(text.split())
    assert prose in flat  # prose restating the figures is kept
    assert "9,999,999.00" not in flat and "No revenue forecast is available" in flat  # an invented figure is not
    assert "cited figures that were not computed" in flat  # and the report notes why


async def test_a_report_whose_job_was_lost_is_queued_again_then_given_up(make_client):
    client = await make_client(auth_mode="local")  # no consumer: the queued job never runs here
    ctx = client.app.state.ctx
    rid = (await client.post("/api/reports/generate", json={"template_id": "revenue_report"})).json()["report_id"]
    created = _at((await client.get(f"/api/reports/{rid}/status")).json()["created_at"])
    sub = ctx.events.subscribe(ctx.local_principal.tenant_id)

    def queued() -> int:
        return sum(1 for t in huey.pending() if t.name.endswith("generate_report") and t.args[1] == rid)

    assert queued() == 1  # queued when the request committed
    await run_due(ctx, now=created + timedelta(minutes=5))
    assert queued() == 1
    await run_due(ctx, now=created + timedelta(minutes=11))  # queued again, still generating
    assert queued() == 2
    assert (await client.get(f"/api/reports/{rid}/status")).json()["status"] == "generating"
    assert await sub.get(0.2) is None
    await run_due(ctx, now=created + timedelta(minutes=61))
    status = (await client.get(f"/api/reports/{rid}/status")).json()
    assert status["status"] == "failed" and "did not finish" in status["error"]
    ev = await sub.get(1.0)
    assert ev is not None and ev.data == {"report_id": rid, "status": "failed", "product_id": None}
