"""Every call of the existing client (ui-client-contract.md) over HTTP, each preceded by the
CORS preflight the browser sends from http://localhost:3000, with field and type checks."""

from __future__ import annotations

from typing import Any

import pytest

ORIGIN = "http://localhost:3000"
HEADERS = {"Origin": ORIGIN, "Content-Type": "application/json"}
STR, NUM, BOOL, OPT_STR = str, (int, float), bool, (str, type(None))


async def call(client, method: str, path: str, body: Any = None, status: int = 200) -> Any:
    pre = await client.options(path.split("?")[0], headers={
        "Origin": ORIGIN, "Access-Control-Request-Method": method,
        "Access-Control-Request-Headers": "content-type"})
    assert pre.status_code == 200, (path, pre.text)
    assert pre.headers["access-control-allow-origin"] == ORIGIN
    assert method in pre.headers["access-control-allow-methods"]
    r = await client.request(method, path, json=body, headers=HEADERS)
    assert r.status_code == status, (path, r.text)
    assert r.headers["access-control-allow-origin"] == ORIGIN
    assert r.headers["content-type"].startswith("application/json")
    return r.json()


def check(obj: dict[str, Any], spec: dict[str, Any]) -> None:
    for key, typ in spec.items():
        assert key in obj, f"missing {key} in {obj}"
        assert isinstance(obj[key], typ), f"{key}={obj[key]!r} is not {typ}"


SEGMENT = {"_id": STR, "customer_segment_uid": STR, "customer_segment_name": STR,
           "customer_segment_description": STR, "product": OPT_STR, "created_at": STR, "updated_at": STR}
PLAN = {"_id": STR, "plan_name": STR, "unit_price": NUM, "min_unit_count": int, "unit_calculation_logic": STR,
        "min_unit_utilization_period": STR, "created_at": STR, "updated_at": STR}
PRODUCT = {"_id": STR, "name": STR, "icp_description": OPT_STR, "unit_level_cogs": OPT_STR,
           "features_description_summary": OPT_STR, "competitors": list, "product_documentations": list,
           "vector_store_id": OPT_STR, "created_at": STR, "updated_at": STR}
LINK = {"_id": STR, "customer_segment_id": STR, "pricing_plan_id": STR, "connection_type": STR,
        "percentage": (int, float, type(None)), "is_active": BOOL, "created_at": STR, "updated_at": STR}
SOURCE = {"_id": STR, "name": STR, "source_type": STR, "connection_status": STR}


@pytest.fixture
async def ui(make_client):
    return await make_client(auth_mode="local")


async def test_home_page_calls_succeed_on_a_fresh_server(ui):
    env = await call(ui, "GET", "/envs/get")
    check(env, {"openai_api_key_configured": BOOL, "database_connected": BOOL, "vector_store_enabled": BOOL,
                "services_status": dict})
    assert env["database_connected"] is True
    assert set(env["services_status"].values()) <= {"running", "stopped", "error"}
    llm = await call(ui, "GET", "/llmstxt/get")
    check(llm, {"system_prompts": dict, "analysis_templates": dict, "response_formats": dict})
    assert "narrator" in llm["system_prompts"]
    for path in ("/pricing-plan/list", "/product/list", "/customer-segment/list",
                 "/customer-segment/pricing-plan/link/listall", "/productsources/list", "/revenuesources/list",
                 "/customersegmentsources/list", "/automation/get"):
        assert await call(ui, "GET", path) == [], path
    health = await call(ui, "GET", "/health")
    check(health, {"status": STR, "timestamp": STR})


async def test_every_contract_row(ui):
    product = await call(ui, "POST", "/product/create", {
        "name": "Advanced Analytics Platform", "icp_description": "Enterprise teams",
        "unit_level_cogs": "Server costs", "features_description_summary": "Dashboards",
        "competitors": [{"competitor_name": "A", "website_url": "https://a.example", "product_description": "x"}],
        "product_documentations": ["https://docs.example.com/api"]})
    check(product, PRODUCT)
    check(product["competitors"][0], {"competitor_name": STR, "website_url": STR, "product_description": STR})
    updated = await call(ui, "PUT", "/product/update", {"id": product["_id"], "name": "Analytics Platform"})
    check(updated, PRODUCT)
    assert updated["name"] == "Analytics Platform"
    products = await call(ui, "GET", "/product/list")
    assert isinstance(products, list) and products[0]["_id"] == product["_id"]

    seg = await call(ui, "POST", "/customer-segment/create", {
        "customer_segment_name": "High-Value Enterprise Users", "customer_segment_uid": "HV_ENTERPRISE_001",
        "customer_segment_description": "Large enterprises", "product": product["_id"]})
    check(seg, SEGMENT)
    check((await call(ui, "GET", "/customer-segment/list"))[0], SEGMENT)
    # ids are interpolated without encoding, as the client does
    check(await call(ui, "GET", f"/customer-segment/read?id={seg['_id']}"), SEGMENT)

    plan = await call(ui, "POST", "/pricing-plan/create", {
        "plan_name": "Premium Plan", "unit_price": 89.99, "min_unit_count": 1,
        "unit_calculation_logic": "per user per month", "min_unit_utilization_period": "monthly"})
    check(plan, PLAN)
    check((await call(ui, "GET", "/pricing-plan/list"))[0], PLAN)
    check(await call(ui, "GET", f"/pricing-plan/read?id={plan['_id']}"), PLAN)

    link = await call(ui, "POST", "/customer-segment/pricing-plan/link/create", {
        "customer_segment_id": seg["_id"], "pricing_plan_id": plan["_id"], "connection_type": "experimental"})
    check(link, LINK)
    link = await call(ui, "PUT", "/customer-segment/pricing-plan/link/update", {"id": link["_id"], "percentage": 25})
    check(link, LINK)
    assert link["percentage"] == 25
    rows = await call(ui, "GET", "/customer-segment/pricing-plan/link/listall")
    check(rows[0], LINK)
    check(rows[0]["customer_segment"], SEGMENT)
    check(rows[0]["pricing_plan"], PLAN)
    plan2 = await call(ui, "POST", "/pricing-plan/create", {"plan_name": "Enterprise", "unit_price": 499,
                                                           "min_unit_count": 5})
    with_sugg = await call(ui, "GET", "/customer-segment/pricing-plan/link/listall?suggestions=true")
    sugg = [r for r in with_sugg if r.get("suggested")]
    assert sugg and sugg[0]["pricing_plan_id"] == plan2["_id"]
    check(sugg[0], {"score": (int, float), "reason": STR, "suggested": BOOL})

    found = await call(ui, "POST", "/search", {"query": "enterprise"})
    check(found, {"results": list, "total_count": int, "query": STR})
    assert found["results"] and {r["type"] for r in found["results"]} <= {
        "customer_segment", "pricing_plan", "product", "other"}
    check(found["results"][0], {"type": STR, "id": STR, "title": STR, "description": STR})

    report = await call(ui, "POST", "/scheduled-reporting/create", {
        "name": "Monthly Revenue Report", "schedule_type": "monthly",
        "schedule_config": {"day_of_month": 1, "time": "09:00"},
        "sections": [{"id": "revenue_summary", "name": "Revenue Summary", "prompt": "Generate revenue summary"}],
        "recipients": ["admin@company.com"]})
    check(report, {"_id": STR, "name": STR, "schedule_type": STR, "schedule_config": dict,
                   "report_sections": list, "recipients": list, "created_at": STR, "status": STR})
    assert report["status"] == "active"

    integ = await call(ui, "POST", "/productintegration/create", {
        "product_id": product["_id"], "integration_type": "api",
        "config": {"endpoint": "https://api.example.com", "auth_token": "tok-secret-123456"}})
    check(integ, {"_id": STR, "product_id": STR, "integration_type": STR, "config": dict, "status": STR,
                  "created_at": STR})
    assert integ["status"] in {"active", "inactive", "pending"}
    assert "tok-secret-123456" not in str(integ) and integ["config"]["endpoint"] == "https://api.example.com"

    auto = {"name": "Weekly pricing run", "automation_type": "workflow",
            "trigger_config": {"type": "cron", "cron": "0 9 * * 1"},
            "action_config": {"type": "run_workflow", "workflow_type": "pricing_analysis"}, "is_active": True}
    assert (await call(ui, "POST", "/automation/push", auto))["success"] is True
    autos = await call(ui, "GET", "/automation/get")
    check(autos[0], {"_id": STR, "name": STR, "automation_type": STR, "trigger_config": dict,
                     "action_config": dict, "is_active": BOOL})
    assert autos[0]["next_run"] is not None

    for path, body in (("/customer-segment/pricing-plan/link/delete", {"id": link["_id"]}),
                       ("/customer-segment/delete", {"id": seg["_id"]}),
                       ("/pricing-plan/delete", {"id": plan["_id"]}),
                       ("/product/delete", {"id": product["_id"]})):
        assert await call(ui, "DELETE", path, body) == {"success": True}


async def test_other_origins_get_no_cors_headers(ui):
    r = await ui.options("/product/list", headers={"Origin": "http://evil.example",
                                                   "Access-Control-Request-Method": "GET"})
    assert "access-control-allow-origin" not in r.headers


async def test_run_rows(ui):
    """startOrchestration, getAllRuns and getRunLogs (no consumer runs in this app: the run is
    admitted and waits for one, which the client shows as running)."""
    product = await call(ui, "POST", "/product/create", {"name": "Analytics Platform"})
    started = await call(ui, "POST", "/orchestration", {
        "workflow_type": "pricing_analysis", "product_id": product["_id"],
        "parameters": {"analysis_depth": "comprehensive", "include_forecasting": True}})
    check(started, {"invocation_id": STR, "status": STR, "message": STR})
    assert started["status"] in {"started", "running", "completed", "failed"}
    runs = await call(ui, "GET", "/historical/allruns")
    check(runs[0], {"_id": STR, "invocation_id": STR, "task_type": STR, "task_name": STR, "status": STR,
                    "started_at": STR, "task_details": STR, "progress": dict})
    assert runs[0]["invocation_id"] == started["invocation_id"] and runs[0]["task_type"] == "pricing_analysis"
    assert runs[0]["status"] in {"running", "completed", "failed", "paused"}
    check(runs[0]["progress"], {"completed_steps": int, "total_steps": int})
    assert runs[0]["progress"]["total_steps"] == 9
    logs = await call(ui, "GET", f"/historical/runlogs?invocation_id={started['invocation_id']}")
    check(logs, {"invocation_id": STR, "logs": list, "status": STR})
    assert logs["status"] in {"running", "completed", "failed", "paused"} and logs["logs"]
    check(logs["logs"][0], {"timestamp": STR, "level": STR, "message": STR})
    assert {x["level"] for x in logs["logs"]} <= {"INFO", "ERROR", "WARNING", "DEBUG"}
