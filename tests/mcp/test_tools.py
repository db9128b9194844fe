"""The MCP tools through the SDK's client, against the app served on a loopback port: each one gives
what the HTTP API gives for the same tenant, and sees only the tenant its token names."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
import uvicorn

from pricewise.analytics.tasks import recompute_for
from pricewise.core.context import AppContext
from pricewise.core.errors import AppError
from pricewise.mcp.client import call_tool, connect
from pricewise.mcp.server import standalone_app
from tests.mcp.conftest import keys_of
from tests.support import free_port, signup

POOL = "We want an inground pool, about 15x30, with a quartz finish"
TOOLS = {"match_reference_class", "compute_estimate", "calibration_summary", "forecast_revenue",
         "revenue_attribution", "gap_diagnosis"}


def _months(n: int) -> list[str]:
    return [f"{2023 + (i // 12)}-{i % 12 + 1:02d}-01T00:00:00Z" for i in range(n)]


async def _pricing_data(client: Any, headers: dict[str, str] | None = None) -> dict[str, str]:
    """A product with one segment on one plan and 24 months of revenue, through the HTTP API."""
    product = (await client.post("/product/create", json={"name": "Pool Care Cloud"}, headers=headers)).json()
    seg = (await client.post("/customer-segment/create", headers=headers, json={
        "customer_segment_name": "SMB", "customer_segment_uid": "SMB"})).json()
    plan = (await client.post("/pricing-plan/create", json={"plan_name": "Pro", "unit_price": 50},
                              headers=headers)).json()
    months = _months(24)
    r = await client.post("/api/analytics/segment-contribution", headers=headers, json={
        "product": product["_id"], "customer_segment": seg["_id"], "pricing_plan": plan["_id"],
        "revenue_ts_data": [{"date": d, "value": 10_000 + 250 * i} for i, d in enumerate(months)],
        "active_subscriptions": [{"date": d, "value": 200 + 5 * i} for i, d in enumerate(months)]})
    assert r.status_code == 200, r.text
    return {"product": product["_id"], "segment": seg["_id"], "plan": plan["_id"], "contribution": r.json()["_id"]}


async def test_the_sdk_client_lists_and_calls_every_tool(served):
    client, url = await served(auth_mode="local")
    ctx = client.app.state.ctx
    tenant = ctx.local_principal.tenant_id
    est = (await client.post("/estimate/start", json={"description": POOL})).json()
    ids = await _pricing_data(client)
    assert await recompute_for(ctx, tenant, [ids["contribution"]]) == 2  # as the job does: revenue, subscriptions

    async with connect(url, keys_of(client), tenant) as session:
        listed = await session.list_tools()
        assert {t.name for t in listed.tools} == TOOLS
        assert all(t.description and t.annotations and t.annotations.read_only_hint for t in listed.tools)

        async def call(name: str, **args: Any) -> dict[str, Any]:
            result = await session.call_tool(name, args)
            assert not result.is_error, result.content
            data: dict[str, Any] = result.structured_content
            return data

        matched = await call("match_reference_class", description=POOL)
        assert matched["matches"][0]["id"] == est["matched_reference_class"]["id"]
        assert matched["matches"][0]["confidence"] == est["matched_reference_class"]["confidence"]

        computed = await call("compute_estimate", description=POOL)
        for k in ("cost_p50", "cost_p80", "cost_p95", "timeline_weeks_p50", "timeline_weeks_p80",
                  "cost_breakdown"):
            assert computed["estimate"][k] == est["estimate"][k], k
        assert computed["narrative"] == est["narrative"]
        in_la = await call("compute_estimate", description=POOL, region="SoCal - Inland")
        assert in_la["region"] == "SoCal - Inland" and in_la["estimate"]["cost_p50"] < computed["estimate"]["cost_p50"]

        assert await call("calibration_summary") == (await client.get("/feedback/summary")).json()
        # compute_estimate stored nothing: the API still counts the one estimate it made.
        assert (await client.get("/feedback/summary")).json()["total_estimates"] == 1

        fc = await call("forecast_revenue", product_id=ids["product"])
        api = (await client.get("/api/analytics/segment-contribution",
                                params={"product_id": ids["product"]})).json()[0]
        assert fc["contributions"][0]["contribution_id"] == ids["contribution"]
        assert fc["contributions"][0]["forecasts"] == api["forecast_details"]
        assert fc["contributions"][0]["forecasts"]["revenue"]["status"] == "current"

        attributed = await call("revenue_attribution", product_id=ids["product"], time_range="12m")
        assert attributed == (await client.get("/api/analytics/revenue-attribution", params={
            "product_id": ids["product"], "timeRange": "12m"})).json()
        assert attributed["totalRevenue"] == sum(10_000 + 250 * i for i in range(12, 24))

        gaps = await call("gap_diagnosis", plan_id=ids["plan"])
        assert (await client.get("/api/ai-analysis/gap-diagnosis")).json() == []  # computed, not stored
        stored = (await client.post("/api/ai-analysis/gap-diagnosis", json={"pricing_model": ids["plan"]})).json()
        assert gaps["metrics"] == stored["metrics"]
        assert [g["text"] for g in gaps["gaps"]] == [g["text"] for g in stored["gaps"]]

        missing = await session.call_tool("forecast_revenue", {"product_id": "0" * 24})
        assert missing.is_error and "404 not_found: product" in missing.content[0].text  # type: ignore[union-attr]
        bad_region = await session.call_tool("compute_estimate", {"description": POOL, "region": "Atlantis"})
        assert bad_region.is_error and "unknown region" in bad_region.content[0].text  # type: ignore[union-attr]


async def test_a_token_for_one_tenant_sees_only_that_tenant(served, mailbox):
    client, url = await served(auth_mode="local")
    a = client.app.state.ctx.local_principal.tenant_id
    b = await signup(client, mailbox, "b@example.com")
    r = await client.post("/estimate/start", json={"description": POOL}, headers=b.key_headers)
    assert r.status_code == 200, r.text
    theirs = await _pricing_data(client, b.key_headers)
    keys = keys_of(client)

    # B's token: B's estimate is counted; A's token: it is not.
    assert (await call_tool(url, keys, b.tenant_id, "calibration_summary", {}))["total_estimates"] == 1
    assert (await call_tool(url, keys, a, "calibration_summary", {}))["total_estimates"] == 0
    assert (await call_tool(url, keys, b.tenant_id, "forecast_revenue",
                            {"product_id": theirs["product"]}))["product_id"] == theirs["product"]
    for name, args in (("forecast_revenue", {"product_id": theirs["product"]}),
                       ("gap_diagnosis", {"plan_id": theirs["plan"]}),
                       ("revenue_attribution", {"product_id": theirs["product"]})):
        with pytest.raises(AppError) as caught:
            await call_tool(url, keys, a, name, args)
        assert caught.value.status == 404 and "not found" in caught.value.message, name
    # Without a product, A's attribution covers A's data only: none.
    assert (await call_tool(url, keys, a, "revenue_attribution", {}))["totalRevenue"] == 0.0


async def test_a_deactivated_tenant_is_refused(served, mailbox):
    client, url = await served(auth_mode="required")
    b = await signup(client, mailbox, "gone@example.com")
    keys = keys_of(client)
    assert (await call_tool(url, keys, b.tenant_id, "calibration_summary", {}))["total_estimates"] == 0
    r = await client.post("/tenants/deactivate", headers=b.bearer)
    assert r.status_code == 200, r.text
    with pytest.raises(AppError) as caught:
        await call_tool(url, keys, b.tenant_id, "calibration_summary", {})
    assert caught.value.status == 503 and "unknown or inactive tenant" in caught.value.message



async def test_the_standalone_mcp_server_serves_the_same_tenant_data(served):
    """`pricewise mcp`: only /mcp, on a port of its own, over the API's database and secret."""
    client, _ = await served(auth_mode="local")
    ctx = client.app.state.ctx
    tenant = ctx.local_principal.tenant_id
    await client.post("/estimate/start", json={"description": POOL})
    app = standalone_app(AppContext.build(ctx.settings))
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    task = asyncio.create_task(server.serve())
    try:
        while not server.started:
            if task.done():
                task.result()
            await asyncio.sleep(0.01)
        url = f"http://127.0.0.1:{port}/mcp"
        got = await call_tool(url, keys_of(client), tenant, "calibration_summary", {})
        assert got == (await client.get("/feedback/summary")).json() and got["total_estimates"] == 1
        async with httpx.AsyncClient() as http:  # and nothing else is served there
            assert (await http.get(f"http://127.0.0.1:{port}/feedback/summary")).status_code == 404
            assert (await http.post(url, json={})).status_code == 401
    finally:
        server.should_exit = True
        await task
