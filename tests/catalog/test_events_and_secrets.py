"""Link changes are published to the tenant's subscribers after commit; integration secrets are
encrypted at rest and masked in every response."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from pricewise.catalog.models import ProductIntegration


@pytest.fixture
async def local(make_client):
    return await make_client(auth_mode="local")


async def test_link_changes_reach_subscribers_of_the_tenant_only(local):
    bus = local.app.state.ctx.events
    tenant = local.app.state.ctx.local_principal.tenant_id
    mine, other = bus.subscribe(tenant), bus.subscribe("f" * 24)
    seg = (await local.post("/customer-segment/create", json={"customer_segment_name": "S",
                                                              "customer_segment_uid": "S"})).json()
    plan = (await local.post("/pricing-plan/create", json={"plan_name": "P", "unit_price": 1})).json()
    link = (await local.post("/customer-segment/pricing-plan/link/create", json={
        "customer_segment_id": seg["_id"], "pricing_plan_id": plan["_id"], "connection_type": "finalized"})).json()
    await local.request("DELETE", "/customer-segment/pricing-plan/link/delete", json={"id": link["_id"]})
    first, second = await mine.get(1.0), await mine.get(1.0)
    assert first is not None and first.type == "canvas_connection_updated"
    assert first.data["action"] == "created" and first.data["link"]["_id"] == link["_id"]
    assert second is not None and second.data["action"] == "deleted"
    assert await other.get(0.05) is None
    # a refused change publishes nothing
    over = await local.post("/customer-segment/pricing-plan/link/create", json={
        "customer_segment_id": seg["_id"], "pricing_plan_id": plan["_id"], "connection_type": "experimental",
        "percentage": 101})
    assert over.status_code == 422
    assert await mine.get(0.05) is None


async def test_integration_secrets_encrypted_and_masked(local):
    ctx = local.app.state.ctx
    prod = (await local.post("/product/create", json={"name": "P"})).json()
    r = await local.post("/productintegration/create", json={
        "product_id": prod["_id"], "integration_type": "stripe",
        "config": {"account": "acct_1", "api_key": "sk_live_PLANTED_987654", "webhook_secret": "whsec_PLANTED"}})
    assert r.status_code == 200
    assert "PLANTED" not in r.text and r.json()["config"]["account"] == "acct_1"
    assert r.json()["config"]["api_key"] == "********"
    listed = await local.get("/productintegration/list")
    assert "PLANTED" not in listed.text and len(listed.json()) == 1
    async with ctx.db.session() as s:
        row = (await s.execute(select(ProductIntegration))).scalar_one()
        assert "PLANTED" not in (row.config_secret or "") and "PLANTED" not in str(row.config_public)
        from pricewise.catalog.sources import integration_secrets

        assert integration_secrets(ctx, row)["api_key"] == "sk_live_PLANTED_987654"
    bad = await local.post("/productintegration/create", json={"product_id": "0" * 24, "integration_type": "x",
                                                                "config": {}})
    assert bad.status_code == 404


async def test_registered_sources_listed_by_category_with_status(local):
    r = await local.post("/datasources/create", json={
        "name": "Stripe", "category": "revenue", "source_type": "api",
        "config": {"endpoint": "https://api.stripe.example", "api_key": "sk_PLANTED_src"}})
    assert r.status_code == 200 and "PLANTED" not in r.text
    listed = (await local.get("/revenuesources/list")).json()
    assert [(x["name"], x["connection_status"], x["last_sync"]) for x in listed] == [("Stripe", "disconnected", None)]
    assert (await local.get("/productsources/list")).json() == []
    bad = await local.post("/datasources/create", json={"name": "x", "category": "revenue", "source_type": "api",
                                                        "config": {"endpoint": "file:///etc/passwd"}})
    assert bad.status_code == 422 and "endpoint" in bad.text
    gone = await local.request("DELETE", "/datasources/delete", json={"id": r.json()["_id"]})
    assert gone.json() == {"success": True} and (await local.get("/revenuesources/list")).json() == []


async def test_nested_and_url_credentials_are_secret(local):
    prod = (await local.post("/product/create", json={"name": "P"})).json()
    r = await local.post("/productintegration/create", json={
        "product_id": prod["_id"], "integration_type": "db",
        "config": {"region": "eu", "conn": {"host": "db", "password": "hunter2-PLANTED"},
                   "url": "postgresql://app:s3cret-PLANTED@db.internal/x", "hosts": ["https://a.example"]}})
    assert r.status_code == 200 and "PLANTED" not in r.text
    cfg = r.json()["config"]
    assert cfg["region"] == "eu" and cfg["hosts"] == ["https://a.example"]
    assert cfg["conn"] == "********" and cfg["url"] == "********"
    from pricewise.accounts.models import AuditLog

    async with local.app.state.ctx.db.session() as s:
        audit = " ".join(str(a.new_values) for a in (await s.execute(select(AuditLog))).scalars())
        assert "PLANTED" not in audit


async def test_repeated_canvas_node_refused(local):
    seg = (await local.post("/customer-segment/create", json={"customer_segment_name": "S",
                                                              "customer_segment_uid": "S"})).json()
    node = f"cs-{seg['_id']}"
    r = await local.put("/api/canvas/positions", json={"positions": [{"id": node, "x": 1, "y": 1},
                                                                     {"id": node, "x": 2, "y": 2}]})
    assert r.status_code == 422 and "once" in r.text


async def test_nul_characters_in_configs_are_422_on_the_field_and_nothing_is_stored(local):
    prod = (await local.post("/product/create", json={"name": "P"})).json()
    configs = ({"k": "a\x00b"}, {"a\x00": 1}, {"nested": {"list": ["ok", "\x00"]}})
    for config in configs:
        src = await local.post("/datasources/create", json={"name": "S", "category": "product",
                                                            "source_type": "database", "config": config})
        integ = await local.post("/productintegration/create", json={"product_id": prod["_id"],
                                                                     "integration_type": "db", "config": config})
        for r in (src, integ):
            assert r.status_code == 422, r.text  # PostgreSQL's JSON refused it: a 503 before
            assert [f["field"] for f in r.json()["error"]["fields"]] == ["config"]
    assert (await local.get("/productsources/list")).json() == []
    assert (await local.get("/productintegration/list", params={"product_id": prod["_id"]})).json() == []
