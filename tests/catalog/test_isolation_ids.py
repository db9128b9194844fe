"""Isolation for routes that take an object id in the query (?id=) or in the JSON body, as the
pricing client sends them: another tenant's id is 404 and changes nothing. The table is checked
against the OpenAPI description, so a new route with an id in its query or body must be added."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from tests.support import Account, signup

ID_FIELDS = {"id", "product", "product_id", "customer_segment", "customer_segment_id", "pricing_plan",
             "pricing_plan_id", "data_source_id", "pricing_model", "pricing_model_id"}

# (method, path) -> list of (location, field, kind, extra body)
ROUTES: dict[tuple[str, str], list[tuple[str, str, str, dict[str, Any]]]] = {
    ("GET", "/product/read"): [("query", "id", "product", {})],
    ("PUT", "/product/update"): [("body", "id", "product", {"name": "x"})],
    ("DELETE", "/product/delete"): [("body", "id", "product", {})],
    ("POST", "/product/restore"): [("body", "id", "product", {})],
    ("GET", "/customer-segment/read"): [("query", "id", "segment", {})],
    ("POST", "/customer-segment/create"): [("body", "product", "product",
                                            {"customer_segment_name": "S", "customer_segment_uid": "U1"})],
    ("PUT", "/customer-segment/update"): [("body", "id", "segment", {"customer_segment_name": "x"})],
    ("DELETE", "/customer-segment/delete"): [("body", "id", "segment", {})],
    ("GET", "/pricing-plan/read"): [("query", "id", "plan", {})],
    ("GET", "/pricing-plan/price-history"): [("query", "id", "plan", {})],
    ("POST", "/pricing-plan/create"): [("body", "product", "product", {"plan_name": "P", "unit_price": 1})],
    ("PUT", "/pricing-plan/update"): [("body", "id", "plan", {"unit_price": 2})],
    ("DELETE", "/pricing-plan/delete"): [("body", "id", "plan", {})],
    ("POST", "/customer-segment/pricing-plan/link/create"): [
        ("body", "customer_segment_id", "segment", {"pricing_plan_id": "$plan"}),
        ("body", "pricing_plan_id", "plan", {"customer_segment_id": "$segment"})],
    ("PUT", "/customer-segment/pricing-plan/link/update"): [("body", "id", "link", {"percentage": 5})],
    ("DELETE", "/customer-segment/pricing-plan/link/delete"): [("body", "id", "link", {})],
    ("POST", "/productintegration/create"): [("body", "product_id", "product",
                                              {"integration_type": "api", "config": {}})],
    ("DELETE", "/productintegration/delete"): [("body", "id", "integration", {})],
    ("DELETE", "/datasources/delete"): [("body", "id", "source", {})],
    ("POST", "/automation/push"): [("body", "id", "automation", {
        "name": "a", "automation_type": "w", "trigger_config": {"type": "interval", "every_minutes": 60},
        "action_config": {"type": "send_alert"}})],
    ("POST", "/scheduled-reporting/create"): [("body", "product_id", "product", {
        "name": "r", "schedule_type": "daily", "sections": [{"id": "s", "name": "S", "prompt": "p"}]})],
    ("POST", "/scheduled-reporting/pause"): [("body", "id", "report", {})],
    ("POST", "/scheduled-reporting/resume"): [("body", "id", "report", {})],
    ("DELETE", "/scheduled-reporting/delete"): [("body", "id", "report", {})],
    ("POST", "/api/reports/generate"): [("body", "product_id", "product", {"name": "r",
                                                                         "sections": [{"name": "S", "prompt": "p"}]})],
    ("POST", "/api/analytics/segment-contribution"): [
        ("body", "customer_segment", "segment", {"pricing_plan": "$plan"}),
        ("body", "pricing_plan", "plan", {"customer_segment": "$segment"}),
        ("body", "product", "product", {"customer_segment": "$segment", "pricing_plan": "$plan"})],
    ("POST", "/pricing-plan/price-history"): [("body", "id", "plan", {"unit_price": 5,
                                                                       "effective_at": "2024-01-01T00:00:00Z"})],
    ("POST", "/api/recommendations/generate"): [
        ("body", "customer_segment", "segment", {}),
        ("body", "product", "product", {"customer_segment": "$segment"}),
        ("body", "pricing_plan", "plan", {"customer_segment": "$segment"})],
    ("POST", "/api/ai-analysis/gap-diagnosis"): [("body", "pricing_model", "plan", {})],
    ("GET", "/api/analytics/performance-insights"): [("query", "product_id", "product", {})],
    ("POST", "/imports/{kind}"): [],  # multipart; its data_source_id is covered in test_imports
    ("POST", "/api/knowledge/documents"): [("body", "product_id", "product", {"url": "http://127.0.0.1:9/a.md"})],
    ("POST", "/api/knowledge/upload"): [],  # multipart; its product_id is covered in tests/knowledge
    ("POST", "/api/knowledge/search"): [("body", "product_id", "product", {"query": "pricing"})],
    ("POST", "/api/usage-analysis"): [
        ("body", "product", "product", {"customer_uid": "c", "customer_task_to_agent": "t",
                                        "predicted_customer_satisfaction_response": 5}),
        ("body", "customer_segment", "segment", {"product": "$product", "customer_uid": "c",
                                                 "customer_task_to_agent": "t",
                                                 "predicted_customer_satisfaction_response": 5})],
    ("POST", "/api/usage-analysis/predict"): [
        ("body", "product", "product", {"customer_uid": "c", "customer_task_to_agent": "t"}),
        ("body", "customer_segment", "segment", {"product": "$product", "customer_uid": "c",
                                                 "customer_task_to_agent": "t"})],
    ("PUT", "/api/usage-analysis/{analysis_id}"): [],  # id in the path: covered in test_usage_analysis
    ("POST", "/api/experiments"): [("body", "product", "product", {
        "name": "e", "experiment_type": "price_change", "baseline_pricing": "$plan",
        "experimental_pricing": {"unit_price": 5}})],
    ("POST", "/api/scenarios"): [("body", "product", "product", {"name": "s", "scenario_type": "realistic"})],
    ("POST", "/api/scenarios/compare"): [("body", "product", "product", {})],
    ("POST", "/api/notification-preferences"): [("body", "product", "product", {})],
    ("POST", "/orchestration"): [("body", "product_id", "product", {"workflow_type": "pricing_analysis"})],
    ("POST", "/api/orchestration/start"): [("body", "product_id", "product", {"workflow_type": "revenue_forecast"})],
}

# List filters: another tenant's id filters to nothing (200 and an empty list), never its rows.
FILTERS: dict[tuple[str, str], tuple[str, str]] = {
    ("GET", "/customer-segment/list"): ("product_id", "product"),
    ("GET", "/pricing-plan/list"): ("product_id", "product"),
    ("GET", "/productintegration/list"): ("product_id", "product"),
    ("GET", "/api/analytics/segment-contribution"): ("segment_id", "segment"),
    ("GET", "/api/analytics/revenue-attribution"): ("product_id", "product"),
    ("GET", "/api/usage-analysis"): ("product_id", "product"),
    ("GET", "/api/recommendations/pricing"): ("customer_segment_id", "segment"),
    ("GET", "/api/ai-analysis/gap-diagnosis"): ("pricing_model_id", "plan"),
    ("GET", "/api/experiments"): ("product_id", "product"),
    ("GET", "/api/scenarios"): ("product_id", "product"),
    ("GET", "/api/alerts"): ("product_id", "product"),
    ("GET", "/api/knowledge/documents"): ("product_id", "product"),
    ("GET", "/api/orchestration/runs"): ("product_id", "product"),
}


def _id_fields(op: dict[str, Any], schemas: dict[str, Any]) -> set[str]:
    found = {p["name"] for p in op.get("parameters", []) if p["in"] == "query" and p["name"] in ID_FIELDS}
    content = op.get("requestBody", {}).get("content", {})
    for media in content.values():
        ref = media.get("schema", {}).get("$ref", "")
        props = schemas.get(ref.rsplit("/", 1)[-1], {}).get("properties", {})
        found |= set(props) & ID_FIELDS
    return found


async def _makers(client: Any, acct: Account) -> dict[str, Callable[[], Awaitable[str]]]:
    h = acct.bearer

    async def post(path: str, body: dict[str, Any]) -> str:
        r = await client.post(path, json=body, headers=h)
        assert r.status_code in (200, 201), r.text
        return str(r.json()["_id"])

    counter = iter(range(10_000))

    async def segment() -> str:
        return await post("/customer-segment/create", {"customer_segment_name": "S",
                                                       "customer_segment_uid": f"u{next(counter)}"})

    async def plan() -> str:
        return await post("/pricing-plan/create", {"plan_name": "P", "unit_price": 3})

    async def product() -> str:
        return await post("/product/create", {"name": "Prod"})

    async def link() -> str:
        return await post("/customer-segment/pricing-plan/link/create", {
            "customer_segment_id": await segment(), "pricing_plan_id": await plan()})

    async def integration() -> str:
        return await post("/productintegration/create", {"product_id": await product(), "integration_type": "api",
                                                         "config": {"k": "v"}})

    async def source() -> str:
        return await post("/datasources/create", {"name": "s", "category": "revenue", "source_type": "api"})

    async def automation() -> str:
        r = await client.post("/automation/push", headers=h, json={
            "name": "a", "automation_type": "w", "trigger_config": {"type": "interval", "every_minutes": 60},
            "action_config": {"type": "send_alert"}})
        return str(r.json()["_id"])

    async def report() -> str:
        return await post("/scheduled-reporting/create", {
            "name": "r", "schedule_type": "daily", "sections": [{"id": "s", "name": "S", "prompt": "p"}]})

    return {"segment": segment, "plan": plan, "product": product, "link": link, "integration": integration,
            "source": source, "automation": automation, "report": report}


@pytest.fixture
async def two(make_client, mailbox):
    client = await make_client(rate_limit_requests_per_minute=100_000)
    a = await signup(client, mailbox, "a@iso.example", name="A")
    b = await signup(client, mailbox, "b@iso.example", name="B")
    return client, a, b


async def test_table_covers_every_query_or_body_id(two):
    client, _, _ = two
    spec = client.app.openapi()
    schemas = spec.get("components", {}).get("schemas", {})
    missing = []
    for path, ops in spec["paths"].items():
        for method, op in ops.items():
            if _id_fields(op, schemas) and (method.upper(), path) not in ROUTES | FILTERS.keys():
                missing.append(f"{method.upper()} {path}")
    assert not missing, f"routes taking an id in query or body without an isolation row: {missing}"


async def test_other_tenants_ids_in_query_or_body_are_not_found(two):
    client, a, b = two
    mk_a, mk_b = await _makers(client, a), await _makers(client, b)
    b_listing_before = {p: (await client.get(p, headers=b.bearer)).json() for p in (
        "/product/listall", "/customer-segment/list", "/pricing-plan/list",
        "/customer-segment/pricing-plan/link/listall", "/scheduled-reporting/list", "/automation/get")}
    for (method, path), cases in ROUTES.items():
        for location, field, kind, extra in cases:
            foreign = await mk_b[kind]()
            body = {k: (await mk_a[v[1:]]() if isinstance(v, str) and v.startswith("$") else v)
                    for k, v in extra.items()}
            if location == "query":
                r = await client.request(method, f"{path}?{field}={foreign}", headers=a.bearer)
            else:
                r = await client.request(method, path, json={**body, field: foreign}, headers=a.bearer)
            assert r.status_code == 404, f"{method} {path} with B's {field} answered {r.status_code}: {r.text}"
            assert r.json()["error"]["code"] == "not_found"
    after = {p: (await client.get(p, headers=b.bearer)).json() for p in b_listing_before}
    for p, before in b_listing_before.items():
        assert [x.get("_id") for x in after[p] if x.get("_id") in {y.get("_id") for y in before}] == [
            x.get("_id") for x in before], f"tenant B's {p} changed"
        assert all(x == y for x, y in zip(before, after[p], strict=False)), f"tenant B's {p} changed"


async def test_list_filters_with_other_tenants_ids_return_nothing(two):
    client, a, b = two
    mk_b = await _makers(client, b)
    product = await mk_b["product"]()
    seg = (await client.post("/customer-segment/create", headers=b.bearer, json={
        "customer_segment_name": "S", "customer_segment_uid": "F", "product": product})).json()["_id"]
    await client.post("/productintegration/create", headers=b.bearer, json={
        "product_id": product, "integration_type": "api", "config": {}})
    plan = (await client.post("/pricing-plan/create", headers=b.bearer, json={
        "plan_name": "P", "unit_price": 1, "product": product})).json()["_id"]
    await client.post("/api/analytics/segment-contribution", headers=b.bearer, json={
        "customer_segment": seg, "pricing_plan": plan,
        "revenue_ts_data": [{"date": "2024-01-01", "value": 1}],
        "active_subscriptions": [{"date": "2024-01-01", "value": 3}]})
    for path, body in (("/api/recommendations/generate", {"customer_segment": seg, "pricing_plan": plan}),
                       ("/api/ai-analysis/gap-diagnosis", {"pricing_model": plan})):
        assert (await client.post(path, headers=b.bearer, json=body)).status_code == 200
    await client.post("/api/usage-analysis", headers=b.bearer, json={
        "product": product, "customer_uid": "c", "customer_task_to_agent": "t",
        "predicted_customer_satisfaction_response": 5})
    await client.post("/api/experiments", headers=b.bearer, json={
        "name": "e", "product": product, "experiment_type": "price_change", "baseline_pricing": plan,
        "experimental_pricing": {"unit_price": 2}})
    await client.post("/api/scenarios", headers=b.bearer, json={"name": "s", "product": product,
                                                                "scenario_type": "realistic"})
    await client.post("/api/knowledge/upload", headers=b.bearer, data={"product_id": product},
                      files={"file": ("notes.md", b"# Notes\n", "text/markdown")})
    await client.put("/pricing-plan/update", headers=b.bearer, json={"id": plan, "unit_price": 5})  # an alert
    await client.post("/orchestration", headers=b.bearer, json={"workflow_type": "revenue_forecast",
                                                                "product_id": product})
    ids = {"product": product, "segment": seg, "plan": plan}
    for (method, path), (param, kind) in FILTERS.items():
        mine = await client.request(method, f"{path}?{param}={ids[kind]}", headers=a.bearer)
        theirs = await client.request(method, f"{path}?{param}={ids[kind]}", headers=b.bearer)
        assert mine.status_code == 200 and theirs.status_code == 200, f"{path}: {mine.text} {theirs.text}"
        if path.endswith("revenue-attribution"):
            assert mine.json()["items"] == [] and len(theirs.json()["items"]) == 1, f"{path}: {mine.text}"
            continue
        assert mine.json() == [], f"{path}: {mine.text}"
        assert len(theirs.json()) == 1, f"{path} for B: {theirs.text}"
