"""Alerts raised when data change, through the API as a user sees them: a revenue drop after the
forecast job, price anomalies on plan changes, acknowledging and resolving, and isolation."""

from __future__ import annotations

import math
from datetime import date
from typing import Any

import pytest

from pricewise.analytics.tasks import recompute_for
from tests.analytics.market import months_back
from tests.support import Account, signup


def _iso(d: date) -> str:
    return f"{d.isoformat()}T00:00:00Z"


async def ok(client: Any, method: str, path: str, acct: Account, body: dict[str, Any] | None = None) -> Any:
    r = await client.request(method, path, json=body, headers=acct.bearer)
    assert r.status_code in (200, 201), f"{method} {path}: {r.status_code} {r.text}"
    return r.json()


async def pair(client: Any, acct: Account, uid: str, plan: str = "Pro", price: float = 50.0,
               cogs: float | None = None, product: str | None = None) -> tuple[str, str, str]:
    """(product, segment, plan) of one tenant."""
    if product is None:
        product = (await ok(client, "POST", "/product/create", acct, {"name": f"Product {uid}"}))["_id"]
    seg = await ok(client, "POST", "/customer-segment/create", acct, {
        "product": product, "customer_segment_name": f"Segment {uid}", "customer_segment_uid": uid})
    body: dict[str, Any] = {"product": product, "plan_name": plan, "unit_price": price}
    if cogs is not None:
        body["cogs_per_unit"] = cogs
    made = await ok(client, "POST", "/pricing-plan/create", acct, body)
    return product, seg["_id"], made["_id"]


def revenue(last: float, n: int = 13, base: float = 10_000.0) -> list[float]:
    """n months of revenue around `base` (+/-3%, deterministic), ending with `last`."""
    return [base * (1 + 0.03 * math.sin(3 * i)) for i in range(n - 1)] + [last]


async def contribution(client: Any, acct: Account, product: str, seg: str, plan: str, values: list[float]) -> str:
    months = months_back(len(values))
    subscriptions = [round(v / 50) for v in values]
    saved = await ok(client, "POST", "/api/analytics/segment-contribution", acct, {
        "product": product, "customer_segment": seg, "pricing_plan": plan,
        "revenue_ts_data": [{"date": _iso(m), "value": v} for m, v in zip(months, values, strict=True)],
        "active_subscriptions": [{"date": _iso(m), "value": v} for m, v in zip(months, subscriptions, strict=True)]})
    return str(saved["_id"])


async def alerts(client: Any, acct: Account, **params: Any) -> tuple[list[dict[str, Any]], int]:
    r = await client.get("/api/alerts", params=params, headers=acct.bearer)
    assert r.status_code == 200, r.text
    return r.json(), int(r.headers["X-Total-Count"])


def drain(sub: Any) -> list[Any]:
    out = []
    while not sub.queue.empty():
        out.append(sub.queue.get_nowait())
    return out


@pytest.fixture
async def two(make_client, mailbox):
    client = await make_client(rate_limit_requests_per_minute=100_000)
    a = await signup(client, mailbox, "owner@alerts-a.example", name="A")
    b = await signup(client, mailbox, "owner@alerts-b.example", name="B")
    return client, a, b


async def test_a_sharp_revenue_drop_raises_one_alert_for_its_tenant_only(two):
    client, a, b = two
    ctx = client.app.state.ctx
    product, seg, plan = await pair(client, a, "SMB")
    dropped = await contribution(client, a, product, seg, plan, revenue(5_200.0))
    seg2 = (await ok(client, "POST", "/customer-segment/create", a, {
        "product": product, "customer_segment_name": "Enterprise", "customer_segment_uid": "ENT"}))["_id"]
    normal = await contribution(client, a, product, seg2, plan, revenue(10_150.0))
    sub_a, sub_b = ctx.events.subscribe(a.tenant_id), ctx.events.subscribe(b.tenant_id)
    drain(sub_a)

    await recompute_for(ctx, a.tenant_id, [dropped, normal])  # the forecast job, which then checks

    found, total = await alerts(client, a, type="revenue_drop")
    assert total == 2, found
    by_segment = {x["customer_segment"]: x for x in found}
    assert set(by_segment) == {seg, None}  # the contribution that fell, and its plan; not the normal one
    alert = by_segment[seg]
    assert alert["severity"] == "high"  # 48% below the median of the 6 months before
    assert (alert["product"], alert["pricing_model"]) == (product, plan)
    assert alert["trigger_data"]["revenue"] == 5_200.0 and alert["trigger_data"]["drop"] > 0.45
    assert alert["trigger_data"]["month"] == months_back(1)[0].strftime("%Y-%m")
    assert not alert["is_acknowledged"] and not alert["is_resolved"]
    summed = by_segment[None]  # the plan's two contributions together fell by about a quarter
    assert summed["pricing_model"] == plan and summed["severity"] == "medium"
    assert 0.2 < summed["trigger_data"]["drop"] < 0.3

    events = [e for e in drain(sub_a) if e.type == "alert_created"]
    assert sorted(e.data["alert_id"] for e in events) == sorted(x["_id"] for x in found)
    for e in events:
        x = next(f for f in found if f["_id"] == e.data["alert_id"])
        assert e.data == {"alert_id": x["_id"], "type": "revenue_drop", "severity": x["severity"],
                          "title": x["title"], "product_id": product}
    assert drain(sub_b) == []
    assert (await alerts(client, b)) == ([], 0)

    # detecting again (another job, the sweep) does not duplicate
    await recompute_for(ctx, a.tenant_id, [dropped])
    assert (await alerts(client, a, type="revenue_drop"))[1] == 2
    assert [e for e in drain(sub_a) if e.type == "alert_created"] == []

    # the month is revised back to normal: both alerts resolve themselves
    await contribution(client, a, product, seg, plan, revenue(10_050.0))
    await recompute_for(ctx, a.tenant_id, [dropped])
    for x in found:
        again = await ok(client, "GET", f"/api/alerts/{x['_id']}", a)
        assert again["is_resolved"] is True and again["trigger_data"]["resolution"]["by"] == "auto"
    assert (await alerts(client, a, is_resolved="false", type="revenue_drop"))[1] == 0


async def test_price_changes_beyond_half_below_cogs_or_far_from_competitors(two):
    client, a, _ = two
    product = (await ok(client, "POST", "/product/create", a, {"name": "Analytics", "competitors": [
        {"competitor_name": "X", "website_url": "https://x.example", "unit_price": 40.0},
        {"competitor_name": "Y", "website_url": "https://y.example", "unit_price": 60.0},
        {"competitor_name": "Z", "website_url": "https://z.example"}]}))["_id"]
    _, _, plan = await pair(client, a, "SMB", price=50.0, cogs=20.0, product=product)
    assert (await alerts(client, a))[1] == 0  # created in line with cost and market

    await ok(client, "PUT", "/pricing-plan/update", a, {"id": plan, "unit_price": 90.0})  # +80%
    found, total = await alerts(client, a, type="price_anomaly")
    assert total == 1 and found[0]["severity"] == "medium" and found[0]["pricing_model"] == plan
    assert found[0]["trigger_data"]["change"] == pytest.approx(0.8)
    assert "+80%" in found[0]["title"]
    await ok(client, "PUT", "/pricing-plan/update", a, {"id": plan, "plan_name": "Pro+"})  # same price
    assert (await alerts(client, a))[1] == 1

    await ok(client, "PUT", "/pricing-plan/update", a, {"id": plan, "cogs_per_unit": 95.0})  # now at a loss
    loss = (await alerts(client, a, severity="high"))[0]
    assert [x["title"] for x in loss] == ["plan Pro+ is priced below its unit cost"]
    assert loss[0]["trigger_data"]["gross_margin"] == pytest.approx((90 - 95) / 90, abs=1e-4)
    # fixed: the loss alert resolves itself; the price change stays (an event, resolved by a person)
    await ok(client, "PUT", "/pricing-plan/update", a, {"id": plan, "cogs_per_unit": 30.0})
    assert (await client.get(f"/api/alerts/{loss[0]['_id']}", headers=a.bearer)).json()["is_resolved"] is True
    assert (await alerts(client, a, is_resolved="false"))[1] == 1

    # a past price recorded as history does not change the current one: nothing new
    await ok(client, "POST", "/pricing-plan/price-history", a, {"id": plan, "unit_price": 5.0,
                                                                "effective_at": "2023-01-01T00:00:00Z"})
    assert (await alerts(client, a))[1] == 2
    # 5x the competitors' median (50): low severity, and the change from 90 is one more alert
    await ok(client, "PUT", "/pricing-plan/update", a, {"id": plan, "unit_price": 250.0})
    market = (await alerts(client, a, severity="low"))[0]
    assert len(market) == 1 and "5.0x above its competitors" in market[0]["title"]
    jump = (await alerts(client, a, severity="high", is_resolved="false"))[0]
    assert [x["trigger_data"]["previous_price"] for x in jump] == [90.0]  # 90 -> 250: x2.8


async def test_acknowledge_resolve_delete_and_filters(two):
    client, a, b = two
    product, _, plan = await pair(client, a, "SMB", price=50.0)
    await ok(client, "PUT", "/pricing-plan/update", a, {"id": plan, "unit_price": 100.0})
    (alert,), _ = await alerts(client, a)
    viewer = await client.post("/api-keys", json={"name": "ro", "role": "viewer"}, headers=a.bearer)
    ro = {"X-API-Key": viewer.json()["api_key"]}
    assert (await client.post(f"/api/alerts/{alert['_id']}/acknowledge", headers=ro)).status_code == 403
    assert (await client.get(f"/api/alerts/{alert['_id']}", headers=ro)).status_code == 200  # viewers read

    acked = await ok(client, "POST", f"/api/alerts/{alert['_id']}/acknowledge", a)
    me = (await ok(client, "GET", "/users", a))[0]["id"]
    assert acked["is_acknowledged"] is True and acked["acknowledged_by"] == f"user:{me}"
    assert acked["acknowledged_at"].endswith("Z")
    again = await ok(client, "POST", f"/api/alerts/{alert['_id']}/acknowledge", a)
    assert again["acknowledged_at"] == acked["acknowledged_at"]  # the first acknowledgement stands
    assert (await alerts(client, a, is_acknowledged="true"))[1] == 1
    assert (await alerts(client, a, is_acknowledged="false"))[1] == 0
    assert (await alerts(client, a, product_id=product))[1] == 1
    assert (await alerts(client, a, type="churn_spike"))[1] == 0

    resolved = await ok(client, "POST", f"/api/alerts/{alert['_id']}/resolve", a)
    assert resolved["is_resolved"] is True and resolved["trigger_data"]["resolution"]["by"] == f"user:{me}"
    assert (await alerts(client, a, is_resolved="true"))[1] == 1

    bad = await client.get("/api/alerts", params={"severity": "urgent"}, headers=a.bearer)
    assert bad.status_code == 422 and "severity" in bad.text
    assert (await client.get("/api/alerts", params={"type": "x"}, headers=a.bearer)).status_code == 422

    # tenant B sees none of it, and A's id is not found for B
    for method, path in (("GET", ""), ("POST", "/acknowledge"), ("POST", "/resolve"), ("DELETE", "")):
        r = await client.request(method, f"/api/alerts/{alert['_id']}{path}", headers=b.bearer)
        assert r.status_code == 404 and r.json()["error"]["code"] == "not_found", (method, path)
    assert (await alerts(client, b, product_id=product)) == ([], 0)

    assert (await ok(client, "DELETE", f"/api/alerts/{alert['_id']}", a)) == {"success": True}
    assert (await client.get(f"/api/alerts/{alert['_id']}", headers=a.bearer)).status_code == 404
    assert (await alerts(client, a)) == ([], 0)
    # a deleted alert stays deleted: the same condition in the same period is not raised again
    await ok(client, "PUT", "/pricing-plan/update", a, {"id": plan, "unit_price": 50.0})
    await ok(client, "PUT", "/pricing-plan/update", a, {"id": plan, "unit_price": 100.0})
    assert (await alerts(client, a)) == ([], 0)
