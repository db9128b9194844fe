"""Forecasts are recomputed by a background job when a series changes, stored with their model and
MASE, and served with the contributions."""

from __future__ import annotations

from datetime import date

from pricewise.analytics.tasks import _sweep, recompute_for
from tests.analytics.market import months_back


def _body(seg: str, plan: str, months: list[date], values: list[float]) -> dict:
    pts = [{"date": f"{m.isoformat()}T00:00:00Z", "value": v} for m, v in zip(months, values, strict=True)]
    return {"customer_segment": seg, "pricing_plan": plan, "revenue_ts_data": pts,
            "active_subscriptions": [{"date": p["date"], "value": round(p["value"] / 50)} for p in pts]}


async def _pair(client) -> tuple[str, str]:
    seg = (await client.post("/customer-segment/create", json={"customer_segment_name": "SMB",
                                                               "customer_segment_uid": "SMB"})).json()
    plan = (await client.post("/pricing-plan/create", json={"plan_name": "Pro", "unit_price": 50})).json()
    return seg["_id"], plan["_id"]


async def _forecast_event(sub, contribution_id: str):
    for _ in range(180):  # the embedded consumer polls at most every second; fitting takes a moment
        ev = await sub.get(1.0)
        if ev and ev.type == "revenue_data_updated" and "forecasts" in ev.data \
                and ev.data["contribution_id"] == contribution_id:
            return ev
    raise AssertionError("no forecast event")


async def test_a_change_queues_a_recompute_that_is_stored_and_served(make_client):
    client = await make_client(auth_mode="local", embedded_jobs=True)
    ctx = client.app.state.ctx
    sub = ctx.events.subscribe(ctx.local_principal.tenant_id)
    seg, plan = await _pair(client)
    months = months_back(30)
    values = [10_000 + 300 * i + (800 if m.month in (11, 12) else 0) for i, m in enumerate(months)]
    saved = (await client.post("/api/analytics/segment-contribution", json=_body(seg, plan, months, values))).json()
    ev = await _forecast_event(sub, saved["_id"])
    assert set(ev.data["forecasts"]) == {"revenue", "subscriptions"}
    got = (await client.get("/api/analytics/segment-contribution", params={"segment_id": seg})).json()[0]
    fc = got["revenue_forecast_ts_data"]
    assert len(fc) == 12 and fc[0]["date"] > got["revenue_ts_data"][-1]["date"]
    assert all(p["value"] > values[0] for p in fc)  # a rising series is not forecast to collapse
    details = got["forecast_details"]["revenue"]
    assert details["status"] == "current" and details["observations"] == 30
    assert details["model"] in details["candidates"] and details["mase"] == details["candidates"][details["model"]]
    for p in details["intervals"]:
        assert p["lower95"] <= p["lower80"] <= p["value"] <= p["upper80"] <= p["upper95"]
    # the last month revised: a new forecast
    more = _body(seg, plan, [months[-1]], [values[-1] + 5_000])
    await client.post("/api/analytics/segment-contribution", json=more)
    await _forecast_event(sub, saved["_id"])
    again = (await client.get("/api/analytics/segment-contribution", params={"segment_id": seg})).json()[0]
    assert again["forecast_details"]["revenue"]["status"] == "current"
    assert again["revenue_forecast_ts_data"] != fc


async def test_recompute_is_idempotent_and_short_series_say_their_fallback(make_client):
    client = await make_client(auth_mode="local")
    ctx = client.app.state.ctx
    seg, plan = await _pair(client)
    saved = (await client.post("/api/analytics/segment-contribution",
                               json=_body(seg, plan, months_back(1), [4_000.0]))).json()
    tenant = ctx.local_principal.tenant_id
    # no consumer runs in this app: the sweep catches the series that have no forecast
    assert await _sweep(ctx) == 2
    assert await recompute_for(ctx, tenant, [saved["_id"]]) == 0  # nothing changed since
    got = (await client.get("/api/analytics/segment-contribution", params={"segment_id": seg})).json()[0]
    details = got["forecast_details"]["revenue"]
    assert details["model"] == "Flat" and "single observation" in details["fallback"]
    assert [p["value"] for p in got["revenue_forecast_ts_data"]] == [4_000.0] * 12
    # a deleted contribution's queued job does nothing
    assert await recompute_for(ctx, tenant, ["f" * 24]) == 0


async def test_the_sweep_catches_revisions_and_a_bad_series_does_not_block_others(make_client):
    from sqlalchemy import insert

    from pricewise.analytics.models import Contribution, SeriesPoint

    client = await make_client(auth_mode="local")
    ctx = client.app.state.ctx
    tenant = ctx.local_principal.tenant_id
    seg, plan = await _pair(client)
    months = months_back(12)
    good = (await client.post("/api/analytics/segment-contribution",
                              json=_body(seg, plan, months, [1000.0 + i for i in range(12)]))).json()
    # a series that no model can fit (values written straight to the table, past the API's checks)
    async with ctx.db.session() as s:
        bad = Contribution(id="b" * 24, tenant_id=tenant, segment_id=seg, plan_id=plan)
        s.add(bad)
        await s.flush()
        await s.execute(insert(SeriesPoint), [
            {"tenant_id": tenant, "contribution_id": bad.id, "metric": "revenue", "date": m,
             "value": 1.7e308 * (-1) ** i} for i, m in enumerate(months)])
        await s.commit()
    assert await recompute_for(ctx, tenant, ["b" * 24, good["_id"]]) >= 2  # the good one still computed
    got = {c["_id"]: c for c in (await client.get("/api/analytics/segment-contribution")).json()}
    assert got["b" * 24]["forecast_details"]["revenue"]["model"] == "Unavailable"
    assert "cannot be forecast" in got["b" * 24]["forecast_details"]["revenue"]["fallback"]
    assert len(got[good["_id"]]["revenue_forecast_ts_data"]) == 12
    assert await _sweep(ctx) == 0  # nothing is stale, and the bad series is not retried
    # a revision written while no consumer runs is caught by the sweep
    await client.post("/api/analytics/segment-contribution", json=_body(seg, plan, months[-1:], [9000.0]))
    stale = (await client.get("/api/analytics/segment-contribution")).json()
    assert {c["_id"]: c for c in stale}[good["_id"]]["forecast_details"]["revenue"]["status"] == "recomputing"
    assert await _sweep(ctx) >= 1
    fresh = {c["_id"]: c for c in (await client.get("/api/analytics/segment-contribution")).json()}
    assert fresh[good["_id"]]["forecast_details"]["revenue"]["status"] == "current"
