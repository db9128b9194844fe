"""Stored forecasts of the contribution series: recomputed by a job when a series changes.

A forecast row keeps the model the backtest chose, its MASE, the other candidates' scores, any
fallback, and a hash of the monthly series it was computed from: the job skips series whose hash
has not moved, and a read can tell a current forecast from one still being recomputed.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import math
from collections.abc import Iterable
from datetime import date
from typing import Any

from sqlalchemy import delete, func, insert, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from pricewise.analytics import forecast as fc
from pricewise.analytics.models import Contribution, ForecastPoint, StoredForecast
from pricewise.analytics.series import Monthly, next_month, to_monthly
from pricewise.core.base import utcnow
from pricewise.core.db import after_commit
from pricewise.core.tenancy import Scope

log = logging.getLogger("pricewise.analytics.forecasts")
METRICS = ("revenue", "subscriptions")


def series_hash(m: Monthly, horizon: int) -> str:
    raw = json.dumps([horizon, [d.isoformat() for d in m.months], [round(v, 9) for v in m.values]])
    return hashlib.sha256(raw.encode()).hexdigest()


def future_months(last: date, h: int) -> list[date]:
    out, cur = [], last
    for _ in range(h):
        cur = next_month(cur)
        out.append(cur)
    return out


async def _points(scope: Scope, contribution_id: str) -> dict[str, list[tuple[date, float]]]:
    from pricewise.analytics.contributions import series_of

    return (await series_of(scope, [contribution_id])).get(contribution_id, {})


async def recompute(scope: Scope, contribution_id: str, horizon: int) -> list[StoredForecast]:
    """Refresh the forecasts of one contribution whose series changed; returns the rows rewritten."""
    contribution = await scope.get(Contribution, contribution_id, label="contribution")
    series = await _points(scope, contribution.id)
    rows = await scope.list(StoredForecast, StoredForecast.contribution_id == contribution.id)
    existing = {f.metric: f for f in rows}
    written: list[StoredForecast] = []
    for metric in METRICS:
        pts = series.get(metric) or []
        row = existing.get(metric)
        if not pts:
            if row is not None:  # the series was emptied: no forecast rather than a stale one
                await scope.session.execute(delete(ForecastPoint).where(ForecastPoint.forecast_id == row.id))
                await scope.session.delete(row)
            continue
        monthly = to_monthly(pts, metric)
        digest = series_hash(monthly, horizon)
        if row is not None and row.data_hash == digest:
            row.updated_at = utcnow()  # checked against the series as it is now: current
            continue
        spec = row.spec if row is not None and row.spec else None
        try:
            result = fc.forecast(monthly.values, h=horizon, spec=spec)
        except ValueError as exc:
            # Kept as a row with the reason (and no points), so the sweep does not retry it until
            # the series changes again.
            result = fc.Forecast("Unavailable", [], [], [], [], [], None, fallback=f"cannot be forecast: {exc}")
        if row is None:
            row = scope.add(StoredForecast(contribution_id=contribution.id, metric=metric, model=result.model))
        else:
            await scope.session.execute(delete(ForecastPoint).where(ForecastPoint.forecast_id == row.id))
        note = result.fallback
        if monthly.filled:
            gap = f"{len(monthly.filled)} missing month(s) interpolated"
            note = f"{note}; {gap}" if note else gap
        row.model, row.spec, row.mase = result.model, result.spec, result.mase
        # JSON (and PostgreSQL's jsonb) has no infinity: a candidate that failed its backtest is null.
        if not (result.reused and row.candidates):  # a refit of the chosen form keeps the scores of its choice
            row.candidates = {k: (v if math.isfinite(v) else None) for k, v in result.candidates.items()}
        row.fallback, row.season_length = note, result.season_length
        row.horizon, row.observations, row.data_hash = horizon, len(monthly.values), digest
        await scope.session.flush()
        months = future_months(monthly.months[-1], len(result.mean))
        if months:
            await scope.session.execute(insert(ForecastPoint), [
                {"tenant_id": scope.tenant_id, "forecast_id": row.id, "date": d, "mean": result.mean[i],
                 "lo80": result.lo80[i], "hi80": result.hi80[i], "lo95": result.lo95[i], "hi95": result.hi95[i]}
                for i, d in enumerate(months)])
        written.append(row)
    return written


def forecast_out(row: StoredForecast, points: list[ForecastPoint], current: bool) -> dict[str, Any]:
    return {"model": row.model, "mase": row.mase, "candidates": row.candidates, "fallback": row.fallback,
            "season_length": row.season_length, "horizon": row.horizon, "observations": row.observations,
            "status": "current" if current else "recomputing",
            "intervals": [{"date": f"{p.date.isoformat()}T00:00:00Z", "value": p.mean, "lower80": p.lo80,
                           "upper80": p.hi80, "lower95": p.lo95, "upper95": p.hi95} for p in points]}


async def stored(scope: Scope, ids: list[str]) -> dict[str, dict[str, tuple[StoredForecast, list[ForecastPoint]]]]:
    """contribution id -> metric -> (forecast row, its points in date order)."""
    out: dict[str, dict[str, tuple[StoredForecast, list[ForecastPoint]]]] = {}
    if not ids:
        return out
    rows = list(await scope.list(StoredForecast, StoredForecast.contribution_id.in_(ids)))
    by_id: dict[str, list[ForecastPoint]] = {r.id: [] for r in rows}
    if rows:
        stmt = scope.select(ForecastPoint).where(ForecastPoint.forecast_id.in_(list(by_id))).order_by(
            ForecastPoint.date)
        for p in (await scope.session.execute(stmt)).scalars():
            by_id[p.forecast_id].append(p)
    for r in rows:
        out.setdefault(r.contribution_id, {})[r.metric] = (r, by_id[r.id])
    return out


def is_current(row: StoredForecast, points: list[tuple[date, float]]) -> bool:
    return bool(points) and row.data_hash == series_hash(to_monthly(points, row.metric), row.horizon)


def schedule(session: AsyncSession, tenant_id: str, contribution_ids: Iterable[str]) -> None:
    """Queue the recompute once the unit of work that changed the series has committed."""
    ids = sorted(set(contribution_ids))
    if not ids:
        return

    async def enqueue() -> None:
        from pricewise.analytics.tasks import recompute_forecasts

        try:  # the queue is file or network I/O: off the event loop
            await asyncio.to_thread(recompute_forecasts, tenant_id, ids)
        except Exception as exc:  # the queue is down: the data is saved, the next change retries
            log.warning("could not queue the forecast recompute (%s)", type(exc).__name__)

    after_commit(session, enqueue)


async def tenants_with_stale(session: AsyncSession) -> list[tuple[str, str]]:
    """(tenant, contribution) pairs whose series have no forecast, or changed after their forecast
    was last checked: what a sweep catches up on. Every write of a series bumps the contribution's
    updated_at; every recompute (even one that finds nothing changed) bumps the forecast's."""
    from pricewise.analytics.models import SeriesPoint

    has_points = select(SeriesPoint.contribution_id).distinct()
    checked = (select(func.min(StoredForecast.updated_at)).where(StoredForecast.contribution_id == Contribution.id)
               .correlate(Contribution).scalar_subquery())
    stmt = select(Contribution.tenant_id, Contribution.id).where(
        Contribution.deleted_at.is_(None), Contribution.id.in_(has_points),
        or_(checked.is_(None), checked < Contribution.updated_at))
    return [(t, c) for t, c in (await session.execute(stmt)).all()]
