"""The steps of revenue_forecast (also the forecasting stage of pricing_analysis): recompute the
stored forecasts of the product's contributions, then report them."""

from __future__ import annotations

from typing import Any

from sqlalchemy.exc import IntegrityError

from pricewise.analytics import forecast_service
from pricewise.analytics.contributions import series_of
from pricewise.analytics.series import to_monthly
from pricewise.core.db import commit
from pricewise.core.events import emit
from pricewise.core.schemas import iso_day
from pricewise.core.tenancy import system_scope
from pricewise.orchestration import product_scope
from pricewise.orchestration.workflows import StepEnv, StepInput


async def forecast_refresh(env: StepEnv, inp: StepInput) -> dict[str, Any]:
    """forecast_service.recompute on every contribution in scope: a series unchanged since its
    forecast keeps it (the hash matches), a changed one is refitted. Forecasts are derived data, so
    each contribution commits in its own short transaction, as the forecast job does: a long step
    transaction would hold SQLite's write lock, and the job may write the same rows meanwhile."""
    ps = await product_scope.load(env.scope, inp)
    ctx, horizon = env.ctx, env.ctx.settings.forecast_horizon_months
    refreshed, unchanged = [], 0
    for c in ps.contributions:
        async with ctx.db.session() as session:
            scope = await system_scope(session, env.scope.tenant_id, "system:orchestration")
            try:
                rows = await forecast_service.recompute(scope, c.id, horizon)
                if rows:
                    emit(session, scope.tenant_id, "revenue_data_updated", {
                        "contribution_id": c.id,
                        "forecasts": {r.metric: {"model": r.model, "mase": r.mase} for r in rows}})
                await commit(session)
            except IntegrityError:  # the forecast job wrote the same forecast meanwhile: it is current
                await session.rollback()
                rows = []
            await ctx.events.publish_all(session.info.pop("events", []))
        if not rows:
            unchanged += 1
            continue
        refreshed += [{"contribution_id": c.id, "pair": ps.pair_label(c.segment_id, c.plan_id), "metric": r.metric,
                       "model": r.model, "mase": r.mase, "observations": r.observations, "fallback": r.fallback}
                      for r in rows]
    return {"contributions": len(ps.contributions), "refreshed": refreshed, "unchanged": unchanged,
            "horizon_months": horizon,
            "summary": f"{len(refreshed)} forecast(s) recomputed, {unchanged} contribution(s) already current."}


async def revenue_forecast(env: StepEnv, inp: StepInput) -> dict[str, Any]:
    """The stored revenue forecast of each contribution: model, MASE, the next months' means with
    80% bounds, and the total against the last 12 months' actual revenue."""
    ps = await product_scope.load(env.scope, inp)
    ids = [c.id for c in ps.contributions]
    stored = await forecast_service.stored(env.scope, ids)
    series = await series_of(env.scope, ids)
    out = []
    total_next = total_last = 0.0
    for c in ps.contributions:
        pts = series.get(c.id, {}).get("revenue") or []
        entry = stored.get(c.id, {}).get("revenue")
        last12 = sum(to_monthly(pts, "revenue").values[-12:]) if pts else 0.0
        item: dict[str, Any] = {"contribution_id": c.id, "segment_id": c.segment_id, "plan_id": c.plan_id,
                                "pair": ps.pair_label(c.segment_id, c.plan_id), "revenue_last_12m": round(last12, 2)}
        if entry is None:
            item.update(model=None, note="no revenue forecast stored (no revenue history)")
        else:
            row, points = entry
            nxt = sum(p.mean for p in points[:12])
            item.update(model=row.model, mase=row.mase, fallback=row.fallback, horizon=row.horizon,
                        current=forecast_service.is_current(row, pts), revenue_next_12m=round(nxt, 2),
                        points=[{"date": iso_day(p.date), "value": round(p.mean, 2), "lower80": round(p.lo80, 2),
                                 "upper80": round(p.hi80, 2)} for p in points])
            total_next += nxt
            total_last += last12
        out.append(item)
    growth = total_next / total_last - 1 if total_last > 0 else None
    summary = (f"Revenue forecast for the next 12 months: {total_next:.2f} against {total_last:.2f} over the last "
               f"12 months" + (f" ({growth * 100:+.1f}%)." if growth is not None else ".")) if out else \
        "No contribution of this product has revenue history to forecast."
    return {"forecasts": out, "revenue_next_12m_total": round(total_next, 2),
            "revenue_last_12m_total": round(total_last, 2), "growth": None if growth is None else round(growth, 4),
            "summary": summary}
