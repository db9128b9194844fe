"""Reports: schedules (next run computed in the report's time zone), generated reports and the
figures they are made of, gathered from the analytics services."""

from __future__ import annotations

import asyncio
import calendar
import dataclasses
import logging
from collections.abc import Mapping
from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from croniter import croniter
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from pricewise.accounts.llm import llm_for
from pricewise.analytics import forecast_service, gap_service, insights_service, recommendations
from pricewise.analytics.attribution_service import revenue_attribution
from pricewise.analytics.contributions import list_contributions, series_of
from pricewise.analytics.models import Contribution, GapDiagnosis, Recommendation
from pricewise.analytics.narrator import narrate
from pricewise.analytics.series import to_monthly
from pricewise.catalog.models import CustomerSegment, PricingPlan, Product
from pricewise.core.base import utcnow
from pricewise.core.db import after_commit
from pricewise.core.errors import Conflict, NotFound, invalid
from pricewise.core.schemas import _iso_z
from pricewise.core.tenancy import Scope
from pricewise.reports.data import (
    AttributionRow,
    FanChart,
    ForecastMonth,
    GapRow,
    PerformanceRow,
    RecommendationRow,
    ReportData,
    SectionText,
)
from pricewise.reports.models import GeneratedReport, ReportDelivery, ScheduledReport
from pricewise.reports.schemas import ScheduledReportIn, cron_of
from pricewise.reports.templates import TEMPLATES, section_material, slug

log = logging.getLogger("pricewise.reports")
MAX_SECTIONS = 20


def next_run(cron: str, tz: str, after: datetime | None = None) -> datetime:
    local = (after or utcnow()).astimezone(ZoneInfo(tz))
    nxt: datetime = croniter(cron, local).get_next(datetime)
    return nxt.astimezone(UTC)


def report_out(r: ScheduledReport) -> dict[str, Any]:
    return {"_id": r.id, "name": r.name, "schedule_type": r.schedule_type, "schedule_config": r.schedule_config,
            "timezone": r.timezone, "report_sections": r.report_sections, "recipients": r.recipients,
            "created_at": _iso_z(r.created_at), "status": r.status, "next_run_at": _iso_z(r.next_run_at),
            "last_run_at": _iso_z(r.last_run_at), "last_delivery_status": r.last_delivery_status,
            "product_id": r.product_id}


async def create(scope: Scope, body: ScheduledReportIn) -> ScheduledReport:
    if body.product_id:
        await scope.get(Product, body.product_id, label="product")
    cron = cron_of(body.schedule_type, body.schedule_config)
    row = scope.add(ScheduledReport(
        name=body.name, product_id=body.product_id, schedule_type=body.schedule_type,
        schedule_config=body.schedule_config.model_dump(exclude_none=True), timezone=body.timezone, cron=cron,
        report_sections=[sec.model_dump(exclude_none=True) for sec in body.sections],
        recipients=list(dict.fromkeys(r.lower() for r in body.recipients)), status="active",
        next_run_at=next_run(cron, body.timezone)))
    await scope.session.flush()
    return row


async def delete(scope: Scope, report_id: str) -> None:
    scope.soft_delete(await scope.get(ScheduledReport, report_id, label="scheduled report"))


async def set_status(scope: Scope, report_id: str, status: str) -> ScheduledReport:
    row = await scope.get(ScheduledReport, report_id, label="scheduled report")
    row.status = status
    row.next_run_at = next_run(row.cron, row.timezone) if status == "active" else None
    row.updated_at = utcnow()
    await scope.session.flush()
    return row


# --- generated reports -----------------------------------------------------------------------

def report_status_out(r: GeneratedReport) -> dict[str, Any]:
    out: dict[str, Any] = {"report_id": r.id, "status": r.status, "name": r.name, "product_id": r.product_id,
                           "created_at": _iso_z(r.created_at), "completed_at": _iso_z(r.completed_at)}
    if r.status == "completed":
        out["download_url"] = f"/api/reports/{r.id}/download"
        out["size_bytes"] = r.size_bytes
    if r.status == "failed":
        out["error"] = r.error
    return out


def history_out(r: GeneratedReport) -> dict[str, Any]:
    return {"_id": r.id, **report_status_out(r), "template_id": r.template_id, "sections": r.sections,
            "time_range": r.time_range, "scheduled_report_id": r.scheduled_report_id, "created_by": r.created_by}


def delivery_out(d: ReportDelivery) -> dict[str, Any]:
    return {"_id": d.id, "scheduled_report_id": d.scheduled_report_id, "report_id": d.report_id,
            "run_key": d.run_key, "recipients": d.recipients, "status": d.status, "error": d.error,
            "attempted_at": _iso_z(d.attempted_at),
            "download_url": f"/api/reports/{d.report_id}/download" if d.report_id and d.status == "sent" else None}


def _sections(template_id: str | None, sections: list[Mapping[str, Any]] | None) -> list[dict[str, Any]]:
    """The sections as stored: those given (checked, for callers that bypass the request schema),
    else the template's."""
    if not sections:
        if template_id is None:
            raise invalid("sections", "give sections, or a template_id (GET /api/reports lists them)")
        return [dict(s) for s in TEMPLATES[template_id].sections]
    if len(sections) > MAX_SECTIONS:
        raise invalid("sections", f"at most {MAX_SECTIONS} sections")
    out: list[dict[str, Any]] = []
    for i, s in enumerate(sections):
        name, prompt = str(s.get("name") or "").strip(), str(s.get("prompt") or "").strip()
        if not name or len(name) > 200:
            raise invalid(f"sections.{i}.name", "is required, at most 200 characters")
        if len(prompt) > 2000:
            raise invalid(f"sections.{i}.prompt", "at most 2000 characters")
        sec: dict[str, Any] = {"name": name, "prompt": prompt}
        if s.get("section_type"):
            sec["section_type"] = str(s["section_type"])[:100]
        out.append(sec)
    return out


def _day(value: Any, field: str) -> date | None:
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value)[:10])
    except ValueError:
        raise invalid(field, "must be an ISO date such as 2024-01-31") from None


def parse_range(time_range: Mapping[str, Any] | None) -> tuple[date | None, date | None]:
    tr = time_range or {}
    start, end = _day(tr.get("start"), "time_range.start"), _day(tr.get("end"), "time_range.end")
    if start and end and start > end:
        raise invalid("time_range", "start must not be after end")
    return start, end


def enqueue_after_commit(session: AsyncSession, tenant_id: str, report_id: str) -> None:
    async def enqueue() -> None:
        from pricewise.reports.tasks import generate_report

        try:  # the queue is file or network I/O: off the event loop
            await asyncio.to_thread(generate_report, tenant_id, report_id)
        except Exception as exc:  # the queue is down: the periodic sweep queues it again
            log.warning("could not queue report %s (%s)", report_id, type(exc).__name__)

    after_commit(session, enqueue)


async def create_report(scope: Scope, ctx: Any, name: str | None, product_id: str | None,
                        sections: list[Mapping[str, Any]] | None, time_range: Mapping[str, Any] | None,
                        template_id: str | None = None) -> GeneratedReport:
    """Store a report to generate (status "generating") and queue its job once the caller's unit of
    work commits (through pricewise.core.db.commit, which runs the after-commit hooks)."""
    if template_id is not None and template_id not in TEMPLATES:
        raise invalid("template_id", f"unknown template; one of {', '.join(TEMPLATES)}")
    if product_id:
        await scope.get(Product, product_id, label="product")
    stored = _sections(template_id, sections)
    start, end = parse_range(time_range)
    title = (name or "").strip() or (TEMPLATES[template_id].name if template_id else "")
    if not title:
        raise invalid("name", "is required without a template_id")
    row = scope.add(GeneratedReport(
        name=title[:200], product_id=product_id, template_id=template_id, sections=stored,
        time_range={"start": start.isoformat() if start else None, "end": end.isoformat() if end else None},
        status="generating", created_by=scope.principal.actor))
    await scope.session.flush()
    enqueue_after_commit(scope.session, scope.tenant_id, row.id)
    return row


async def pdf_of(scope: Scope, report_id: str) -> tuple[GeneratedReport, bytes]:
    row = await scope.get(GeneratedReport, report_id, label="report")
    if row.status == "generating":
        raise Conflict(f"report {report_id} is still generating; poll /api/reports/{report_id}/status",
                       code="report_not_ready")
    if row.status == "failed":
        raise Conflict(f"report {report_id} failed: {row.error}", code="report_failed")
    pdf = (await scope.session.execute(scope.where(
        select(GeneratedReport.pdf).where(GeneratedReport.id == row.id), GeneratedReport))).scalar_one()
    return row, pdf or b""


def filename(row: GeneratedReport) -> str:
    return f"{slug(row.name)}-{row.created_at.date().isoformat()}.pdf"


async def history(scope: Scope, limit: int, offset: int) -> tuple[list[GeneratedReport], int]:
    rows = await scope.list(GeneratedReport, order_by=GeneratedReport.created_at.desc(), limit=limit,
                            offset=offset)
    return list(rows), await scope.count(GeneratedReport)


async def deliveries(scope: Scope, schedule_id: str, limit: int, offset: int) -> tuple[list[ReportDelivery], int]:
    await scope.get(ScheduledReport, schedule_id, label="scheduled report")
    where = ReportDelivery.scheduled_report_id == schedule_id
    rows = await scope.list(ReportDelivery, where, order_by=ReportDelivery.attempted_at.desc(), limit=limit,
                            offset=offset)
    return list(rows), await scope.count(ReportDelivery, where)


# --- the figures of a report -------------------------------------------------------------------

def _month_end(d: date) -> date:
    return d.replace(day=calendar.monthrange(d.year, d.month)[1])


async def _by_id(scope: Scope, model: Any, ids: set[str]) -> dict[str, Any]:
    """Rows by id, deleted ones too: a report names what its figures were computed for."""
    if not ids:
        return {}
    return {r.id: r for r in await scope.list(model, model.id.in_(ids), include_deleted=True)}


def _fan(title: str, contribs: list[Contribution], series: dict[str, dict[str, list[tuple[date, float]]]],
         stored: dict[str, Any], start: date | None, end: date | None) -> FanChart | None:
    """One product's monthly revenue (summed over its segment x plan pairs) and forecast."""
    monthly = {c.id: to_monthly(series.get(c.id, {}).get("revenue", []), "revenue") for c in contribs}
    monthly = {cid: m for cid, m in monthly.items() if m.months}
    if not monthly:
        return None
    last = max(m.months[-1] for m in monthly.values())
    totals: dict[date, float] = {}
    for m in monthly.values():
        for d, v in zip(m.months, m.values, strict=True):
            if (start is None or d >= start.replace(day=1)) and (end is None or d <= end):
                totals[d] = totals.get(d, 0.0) + v
    history = sorted(totals.items())
    forecast: list[ForecastMonth] = []
    notes: list[str] = []
    if end is not None and end < last:
        notes.append("The period ends before the latest data, so no forecast is shown.")
    else:
        # Only pairs with data up to the product's last month: a pair that stopped earlier has no
        # say in the months ahead.
        current = [(cid, stored[cid]["revenue"]) for cid, m in monthly.items()
                   if m.months[-1] == last and "revenue" in stored.get(cid, {}) and stored[cid]["revenue"][1]]
        by_month: dict[date, list[Any]] = {}
        for _cid, (_row, points) in current:
            for p in points:
                by_month.setdefault(p.date, []).append(p)
        for d in sorted(by_month):
            pts = by_month[d]
            if len(pts) == len(current):  # every current pair forecasts the month
                forecast.append(ForecastMonth(d, sum(p.mean for p in pts), sum(p.lo80 for p in pts),
                                              sum(p.hi80 for p in pts), sum(p.lo95 for p in pts),
                                              sum(p.hi95 for p in pts)))
        models = sorted({row.model for _cid, (row, _p) in current})
        if forecast:
            notes.append(f"Forecast model(s): {', '.join(models)}.")
        if len(current) > 1 and forecast:
            notes.append(f"Forecast and bands are the sums of {len(current)} segment x plan forecasts; summed bands "
                         "assume the pairs move together, so they are wider than independent pairs would give.")
        stale = [cid for cid, _f in current
                 if not forecast_service.is_current(stored[cid]["revenue"][0], series[cid]["revenue"])]
        if stale:
            notes.append("Some forecasts are being recomputed after a data change; the last computed ones are shown.")
    if not history and not forecast:  # the period holds none of this product's data
        return None
    if not forecast and not notes:
        notes.append("No forecast yet: forecasts are computed in the background once revenue history is loaded.")
    return FanChart(title, history, forecast, " ".join(notes))


async def _charts(scope: Scope, product_id: str | None, start: date | None,
                  end: date | None) -> tuple[list[FanChart], dict[str | None, str]]:
    contribs = await list_contributions(scope, product_id, None, None)
    ids = [c.id for c in contribs]
    series = await series_of(scope, ids)
    stored = await forecast_service.stored(scope, ids)
    products = await _by_id(scope, Product, {c.product_id for c in contribs if c.product_id})
    names = {k: p.name for k, p in products.items()}
    groups: dict[str | None, list[Contribution]] = {}
    for c in contribs:
        groups.setdefault(c.product_id, []).append(c)
    charts: list[FanChart] = []
    for pid, group in sorted(groups.items(), key=lambda kv: names.get(kv[0] or "", "~")):
        chart = _fan(names.get(pid or "", "Without a product"), group, series, stored, start, end)
        if chart is not None:
            charts.append(chart)
    return charts, {pid: names.get(pid or "", "Without a product") for pid in groups}


async def _performance(scope: Scope, products: dict[str | None, str]) -> list[PerformanceRow]:
    rows: list[PerformanceRow] = []
    for pid, pname in products.items():
        if pid is None:
            continue
        try:
            perf = await insights_service.performance(scope, pid, None, None)
        except NotFound:  # an archived product: its figures are still in the other tables
            continue
        if len(perf.get("plans", [])) < 2:  # efficiency is relative: one plan alone compares to nothing
            continue
        rows += [PerformanceRow(pname, p["plan_name"], p["efficiency"], p["valueGap"], p["revenue"],
                                p["potentialRevenue"]) for p in perf["plans"]]
    return rows


async def _recommendations(scope: Scope, product_id: str | None) -> list[RecommendationRow]:
    recs, _ = await recommendations.listing(scope, product_id, None, 500, 0)
    latest: dict[tuple[str, str], Recommendation] = {}
    for r in recs:  # newest first: the first of each pair is its current recommendation
        latest.setdefault((r.segment_id, r.plan_id), r)
    segments = await _by_id(scope, CustomerSegment, {k[0] for k in latest})
    segs = {k: v.customer_segment_name for k, v in segments.items()}
    plans = await _by_id(scope, PricingPlan, {k[1] for k in latest})
    out = []
    for (seg, plan_id), r in latest.items():
        m, plan = r.model, plans.get(plan_id)
        uplift, margin, conf = m.get("revenue_uplift"), m.get("margin_uplift"), m.get("confidence")
        out.append(RecommendationRow(
            segs.get(seg, seg), plan.plan_name if plan else plan_id, plan.currency if plan else "",
            r.current_price, r.recommended_price, (m.get("elasticity") or {}).get("value"),
            None if uplift is None else round(uplift * 100, 1), None if margin is None else round(margin * 100, 1),
            None if conf is None else round(conf * 100, 1)))
    return out


async def _gaps(scope: Scope, product_id: str | None) -> list[GapRow]:
    diagnoses, _ = await gap_service.listing(scope, None, 500, 0)
    latest: dict[str, GapDiagnosis] = {}
    for g in diagnoses:  # newest first
        latest.setdefault(g.plan_id, g)
    plans = await _by_id(scope, PricingPlan, set(latest))
    if product_id:
        in_product = {c.plan_id for c in await list_contributions(scope, product_id, None, None)}
        latest = {k: g for k, g in latest.items()
                  if k in in_product or (k in plans and plans[k].product_id == product_id)}
    return [GapRow(plans[k].plan_name if k in plans else k, g.summary, g.created_at.date())
            for k, g in latest.items()]


async def build_report_data(scope: Scope, ctx: Any, product_id: str | None, sections: list[Mapping[str, Any]],
                            time_range: Mapping[str, Any] | None, *, name: str | None = None) -> ReportData:
    """Every figure of the report from the analytics services, and each section's text from the
    narrator (LLM prose over those figures when the tenant has an LLM, else the template text)."""
    product = await scope.get(Product, product_id, label="product") if product_id else None
    start, end = parse_range(time_range)
    attribution = await revenue_attribution(scope, product_id, None if start or end else "12m", start, end)
    if attribution.get("range") and not (start or end):  # the default: the last 12 months with data
        start = date.fromisoformat(attribution["range"]["start"])
        end = _month_end(date.fromisoformat(attribution["range"]["end"]))
    charts, products = await _charts(scope, product_id, start, end)
    data = ReportData(
        name=name or "Report", product=product.name if product else "All products", start=start, end=end,
        generated_at=utcnow(), charts=charts,
        attribution=[AttributionRow(i["plan"], i["segment"], i["revenue"], i["percentage"], i["users"],
                                    i["avgRevenue"]) for i in attribution["items"]],
        total_revenue=float(attribution["totalRevenue"]), performance=await _performance(scope, products),
        recommendations=await _recommendations(scope, product_id), gaps=await _gaps(scope, product_id))
    llm = await llm_for(ctx, scope.tenant_id) if sections else None
    texts: list[SectionText] = []
    for sec in sections:
        facts, template = section_material(sec, data)
        story = await narrate(llm, kind="report_section", facts=facts, template=template,
                              steer=str(sec.get("prompt") or "") or None)
        texts.append(SectionText(str(sec.get("name") or "Section"), story.text, story.source, story.note))
    return dataclasses.replace(data, sections=texts)
