"""Alerts: running the rules on a tenant's data, storing what they find (once per condition and
period), resolving what no longer holds, and the reads and writes behind /api/alerts.

Services flush; the request boundary or the job commits. `alert_created` is emitted for every new
alert and goes out after the commit, like every event.
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import replace
from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from pricewise.alerts import detect
from pricewise.alerts.detect import Verdict
from pricewise.alerts.models import Alert, NotificationPreference
from pricewise.analytics.models import Contribution, Customer
from pricewise.analytics.series import month_start, to_monthly
from pricewise.catalog.models import CustomerSegment, PricingPlan, Product
from pricewise.core.base import utcnow
from pricewise.core.db import after_commit, connection_lost
from pricewise.core.errors import Forbidden, NotFound
from pricewise.core.events import emit
from pricewise.core.schemas import _iso_z
from pricewise.core.tenancy import Scope

log = logging.getLogger("pricewise.alerts")


def alert_out(a: Alert) -> dict[str, Any]:
    """The spec's Alert; `customer_segment` and `pricing_model` name the segment and plan."""
    return {"_id": a.id, "type": a.type, "severity": a.severity, "title": a.title, "message": a.message,
            "product": a.product_id, "customer_segment": a.segment_id, "pricing_model": a.plan_id,
            "trigger_data": a.trigger_data or {}, "threshold_breached": a.threshold_breached or {},
            "is_acknowledged": a.is_acknowledged, "acknowledged_by": a.acknowledged_by,
            "acknowledged_at": _iso_z(a.acknowledged_at), "is_resolved": a.is_resolved,
            "notified_at": _iso_z(a.notified_at), "created_at": _iso_z(a.created_at),
            "updated_at": _iso_z(a.updated_at)}


# --- storing what the rules found ----------------------------------------------------------

def _mark_resolved(alert: Alert, by: str) -> None:
    alert.is_resolved = True
    alert.trigger_data = {**(alert.trigger_data or {}), "resolution": {"by": by, "at": _iso_z(utcnow())}}


async def store(scope: Scope, verdicts: Sequence[Verdict]) -> list[Alert]:
    """Add an alert for each breach not already recorded (deleted ones included: a dismissed
    alert stays dismissed), reopen one that was resolved automatically and breaches again, and
    resolve the open alerts of a condition that a later or equal period no longer breaches.
    Returns the new alerts."""
    breaches = [v for v in verdicts if v.finding is not None]
    existing: dict[str, Alert] = {}
    if breaches:
        rows = await scope.list(Alert, Alert.dedupe_key.in_([v.key for v in breaches]), include_deleted=True)
        existing = {a.dedupe_key: a for a in rows}
    created: list[Alert] = []
    for v in breaches:
        f = v.finding
        assert f is not None
        old = existing.get(v.key)
        if old is not None:
            auto = (old.trigger_data or {}).get("resolution", {}).get("by") == "auto"
            if old.is_resolved and auto and old.deleted_at is None:  # the data were revised back
                old.is_resolved, old.severity, old.title, old.message = False, f.severity, f.title[:300], f.message
                old.trigger_data = {**f.trigger, "reopened_at": _iso_z(utcnow())}
                old.threshold_breached = f.threshold
            continue
        alert = Alert(type=v.type, severity=f.severity, title=f.title[:300], message=f.message,
                      product_id=v.product_id, segment_id=v.segment_id, plan_id=v.plan_id,
                      trigger_data=f.trigger, threshold_breached=f.threshold, dedupe_key=v.key)
        try:
            async with scope.session.begin_nested():  # a concurrent check may store the same key
                scope.add(alert)
                await scope.session.flush()
        except IntegrityError:
            continue
        created.append(alert)
    clears = [v for v in verdicts if v.finding is None]
    if clears:
        conditions = {v.condition for v in clears}
        open_rows = await scope.list(Alert, Alert.is_resolved.is_(False), or_(
            *[Alert.dedupe_key.startswith(c, autoescape=True) for c in conditions]))
        for v in clears:
            for a in open_rows:
                if a.dedupe_key.startswith(v.condition) and a.dedupe_key[len(v.condition):] <= v.period:
                    _mark_resolved(a, "auto")
        await scope.session.flush()
    return created


def announce(scope: Scope, alerts: Iterable[Alert]) -> None:
    for a in alerts:
        emit(scope.session, scope.tenant_id, "alert_created", {
            "alert_id": a.id, "type": a.type, "severity": a.severity, "title": a.title, "product_id": a.product_id})


def _enqueue_later(session: AsyncSession, what: str, call: Any, *args: Any) -> None:
    async def enqueue() -> None:
        try:  # the queue is file or network I/O: off the event loop
            await asyncio.to_thread(call, *args)
        except Exception as exc:  # the queue is down: the data is saved, the next change retries
            log.warning("could not queue %s (%s)", what, type(exc).__name__)

    after_commit(session, enqueue)


def schedule_notify(session: AsyncSession, tenant_id: str, alert_ids: list[str]) -> None:
    """E-mail the immediate subscribers once the alerts are committed."""
    if alert_ids:
        from pricewise.alerts.tasks import notify_alerts

        _enqueue_later(session, "the alert e-mails", notify_alerts, tenant_id, alert_ids)


def schedule_churn(session: AsyncSession, tenant_id: str) -> None:
    """Check churn once a customers import has committed."""
    from pricewise.alerts.tasks import check_churn

    _enqueue_later(session, "the churn check", check_churn, tenant_id)


# --- revenue_drop --------------------------------------------------------------------------

async def _names(scope: Scope, plan_ids: Iterable[str], segment_ids: Iterable[str]) -> tuple[
        dict[str, PricingPlan], dict[str, CustomerSegment]]:
    plans = await scope.list(PricingPlan, PricingPlan.id.in_(set(plan_ids)))
    segments = await scope.list(CustomerSegment, CustomerSegment.id.in_(set(segment_ids)))
    return {p.id: p for p in plans}, {s.id: s for s in segments}


def _plan_sum(monthly: list[tuple[list[date], list[float]]], today: date) -> tuple[list[date], list[float]]:
    """A plan's revenue: its contributions summed by month, up to the last month that every
    contribution still reporting has reached (a contribution whose data arrives later must not
    look like a drop). Contributions silent for longer than the judged window count as ended."""
    recent = detect.months_before(month_start(today), detect.REVENUE_MAX_AGE)
    ends = [ms[-1] for ms, _ in monthly if ms and ms[-1] >= recent]
    if not ends:
        return [], []
    end = min(ends)
    acc: dict[date, float] = defaultdict(float)
    for ms, vs in monthly:
        for m, v in zip(ms, vs, strict=True):
            if m <= end:
                acc[m] += v
    months = sorted(acc)
    return months, [acc[m] for m in months]


async def check_revenue(scope: Scope, contribution_ids: Sequence[str], today: date) -> list[Verdict]:
    """revenue_drop for each contribution, and for its plan (summed) when the plan has several."""
    from pricewise.analytics.contributions import series_of

    changed = list(await scope.list(Contribution, Contribution.id.in_(list(contribution_ids))))
    if not changed:
        return []
    plan_ids = {c.plan_id for c in changed}
    siblings = list(await scope.list(Contribution, Contribution.plan_id.in_(plan_ids)))
    series = await series_of(scope, [c.id for c in siblings])
    plans, segments = await _names(scope, plan_ids, {c.segment_id for c in changed})
    monthly: dict[str, tuple[list[date], list[float]]] = {}
    for c in siblings:
        m = to_monthly(series.get(c.id, {}).get("revenue", []), "revenue")
        monthly[c.id] = (m.months, m.values)
    verdicts: list[Verdict] = []
    for c in changed:
        plan, seg = plans.get(c.plan_id), segments.get(c.segment_id)
        if plan is None or seg is None:  # archived since
            continue
        label = f"{seg.customer_segment_name} on {plan.plan_name}"
        v = detect.revenue_drop(*monthly[c.id], today, subject="contribution", subject_id=c.id, label=label,
                                currency=plan.currency)
        if v is not None:
            verdicts.append(_with(v, c.product_id, c.segment_id, c.plan_id))
    for pid, plan in plans.items():
        parts = [monthly[c.id] for c in siblings if c.plan_id == pid and monthly[c.id][0]]
        if len(parts) < 2:  # one contribution: the plan's revenue is that contribution's
            continue
        v = detect.revenue_drop(*_plan_sum(parts, today), today, subject="plan", subject_id=pid,
                                label=f"plan {plan.plan_name}", currency=plan.currency)
        if v is not None:
            verdicts.append(_with(v, plan.product_id, None, pid))
    return verdicts


def _with(v: Verdict, product_id: str | None, segment_id: str | None, plan_id: str | None) -> Verdict:
    return replace(v, product_id=product_id, segment_id=segment_id, plan_id=plan_id)


# --- churn_spike ---------------------------------------------------------------------------

async def check_churn(scope: Scope, today: date, min_churned: int) -> list[Verdict]:
    """churn_spike for each plan and each segment with customers: the last complete month, and
    the month under way (whose breach cannot go away as the month goes on)."""
    stmt = scope.where(select(Customer.plan_id, Customer.segment_id, Customer.signup_date, Customer.churned_at)
                       .where(Customer.deleted_at.is_(None)), Customer)
    groups: dict[tuple[str, str], list[tuple[date | None, date | None]]] = defaultdict(list)
    for plan_id, segment_id, signup, churned in (await scope.session.execute(stmt)).all():
        if plan_id:
            groups[("plan", plan_id)].append((signup, churned))
        if segment_id:
            groups[("segment", segment_id)].append((signup, churned))
    if not groups:
        return []
    plans, segments = await _names(scope, {i for k, i in groups if k == "plan"},
                                   {i for k, i in groups if k == "segment"})
    current = month_start(today)
    months = [detect.months_before(current, n) for n in range(detect.CHURN_HISTORY + 1, -1, -1)]
    verdicts: list[Verdict] = []
    for (kind, sid), customers in groups.items():
        row: PricingPlan | CustomerSegment | None = plans.get(sid) if kind == "plan" else segments.get(sid)
        if row is None:
            continue
        label = (f"plan {row.plan_name}" if isinstance(row, PricingPlan)
                 else f"segment {row.customer_segment_name}")
        stats = detect.churn_months(customers, months)
        for judged, complete in ((len(stats) - 2, True), (len(stats) - 1, False)):
            v = detect.churn_spike(stats[judged - detect.CHURN_HISTORY:judged], stats[judged], subject=kind,
                                   subject_id=sid, label=label, min_churned=min_churned, complete=complete)
            if v is not None:
                verdicts.append(_with(v, row.product_id, sid if kind == "segment" else None,
                                      sid if kind == "plan" else None))
    return verdicts


# --- price_anomaly -------------------------------------------------------------------------

def _price_verdicts(plan: PricingPlan, previous: float | None, competitors: list[float],
                    today: date) -> list[Verdict]:
    price = float(plan.unit_price)
    cogs = None if plan.cogs_per_unit is None else float(plan.cogs_per_unit)
    label, cur = f"plan {plan.plan_name}", plan.currency
    found = [detect.price_change(previous, price, today, plan_id=plan.id, label=label, currency=cur),
             detect.below_cogs(price, cogs, today, plan_id=plan.id, label=label, currency=cur),
             detect.vs_competitors(price, competitors, today, plan_id=plan.id, label=label, currency=cur)]
    return [_with(v, plan.product_id, None, plan.id) for v in found if v is not None]


async def check_price(scope: Scope, plan: PricingPlan, previous: Decimal | float | None) -> list[Alert]:
    """The catalog calls this when a plan is created or changed (`previous`: its price before).
    Runs in the caller's unit of work; a failure here is logged and does not fail the change."""
    try:
        competitors: list[float] = []
        if plan.product_id:
            product = await scope.get(Product, plan.product_id, include_deleted=True, label="product")
            competitors = [float(c["unit_price"]) for c in product.competitors or []
                           if isinstance(c, dict) and isinstance(c.get("unit_price"), int | float)]
        verdicts = _price_verdicts(plan, None if previous is None else float(previous), competitors,
                                   utcnow().date())
        # nothing to judge: no change, no COGS, no competitor prices
        return await _raise(scope, verdicts) if verdicts else []
    except Exception as exc:
        if connection_lost(exc):
            raise  # the database went away under the whole change: it fails with it (503)
        log.exception("price anomaly check failed for plan %s", plan.id)
        return []


# --- competitor_change ---------------------------------------------------------------------

async def check_competitors(scope: Scope, product: Product, previous: Sequence[Any]) -> list[Alert]:
    """The catalog calls this when a product's competitors were edited (`previous`: the list
    before), in the caller's unit of work; a failure here is logged and does not fail the edit."""
    try:
        plans = await scope.list(PricingPlan, PricingPlan.product_id == product.id)
        ours = [detect.OurPlan(p.id, f"plan {p.plan_name}", float(p.unit_price)) for p in plans]
        currencies = {p.currency for p in plans}
        verdicts = detect.competitor_changes(previous, product.competitors or [], ours, utcnow().date(),
                                             product_id=product.id, product_label=product.name,
                                             currency=currencies.pop() if len(currencies) == 1 else "USD")
        return await _raise(scope, verdicts) if verdicts else []
    except Exception as exc:
        if connection_lost(exc):
            raise  # the database went away under the whole change: it fails with it (503)
        log.exception("competitor change check failed for product %s", product.id)
        return []


async def _raise(scope: Scope, verdicts: Sequence[Verdict]) -> list[Alert]:
    """Store in a savepoint (a failure leaves the caller's change whole), then announce on /ws and
    e-mail once committed."""
    async with scope.session.begin_nested():
        created = await store(scope, verdicts)
    announce(scope, created)
    schedule_notify(scope.session, scope.tenant_id, [a.id for a in created])
    return created


# --- reads and writes of /api/alerts -------------------------------------------------------

async def listing(scope: Scope, *, product_id: str | None, type_: str | None, severity: str | None,
                  is_acknowledged: bool | None, is_resolved: bool | None, limit: int,
                  offset: int) -> tuple[list[Alert], int]:
    filters: list[Any] = []
    if product_id:
        filters.append(Alert.product_id == product_id)
    if type_:
        filters.append(Alert.type == type_)
    if severity:
        filters.append(Alert.severity == severity)
    if is_acknowledged is not None:
        filters.append(Alert.is_acknowledged.is_(is_acknowledged))
    if is_resolved is not None:
        filters.append(Alert.is_resolved.is_(is_resolved))
    rows = await scope.list(Alert, *filters, order_by=Alert.created_at.desc(), limit=limit, offset=offset)
    return list(rows), await scope.count(Alert, *filters)


async def acknowledge(scope: Scope, alert_id: str) -> Alert:
    """Records who acknowledged first; acknowledging again changes nothing."""
    alert = await scope.get(Alert, alert_id, label="alert")
    if not alert.is_acknowledged:
        alert.is_acknowledged = True
        alert.acknowledged_by = scope.principal.actor
        alert.acknowledged_at = utcnow()
        await scope.session.flush()
    return alert


async def resolve(scope: Scope, alert_id: str) -> Alert:
    alert = await scope.get(Alert, alert_id, label="alert")
    if not alert.is_resolved:
        _mark_resolved(alert, scope.principal.actor)
        await scope.session.flush()
    return alert


async def delete(scope: Scope, alert_id: str) -> None:
    alert = await scope.get(Alert, alert_id, label="alert")
    scope.soft_delete(alert)
    await scope.session.flush()


# --- notification preferences ------------------------------------------------------------

def preference_out(p: NotificationPreference) -> dict[str, Any]:
    return {"_id": p.id, "user": p.user_id, "product": p.product_id, "alert_types": list(p.alert_types or []),
            "channels": list(p.channels or []), "frequency": p.frequency, "is_active": p.is_active,
            "last_sent_at": _iso_z(p.last_sent_at), "created_at": _iso_z(p.created_at),
            "updated_at": _iso_z(p.updated_at)}


def _user_of(scope: Scope) -> str:
    if not scope.principal.user_id:
        raise Forbidden("notification preferences belong to a signed-in user; this credential "
                        f"({scope.principal.kind}) has none")
    return scope.principal.user_id


async def my_preferences(scope: Scope) -> list[NotificationPreference]:
    if not scope.principal.user_id:
        return []
    return list(await scope.list(NotificationPreference, NotificationPreference.user_id == scope.principal.user_id))


async def save_preference(scope: Scope, data: dict[str, Any]) -> tuple[NotificationPreference, bool]:
    """Create the caller's preference for a product (or for all products), or replace the one
    they have for it. Returns (preference, created)."""
    user_id = _user_of(scope)
    product_id = data.get("product")
    if product_id:
        await scope.get(Product, product_id, label="product")
    same = await scope.list(NotificationPreference, NotificationPreference.user_id == user_id,
                            NotificationPreference.product_id == product_id if product_id
                            else NotificationPreference.product_id.is_(None), limit=1)
    fields = {"alert_types": list(dict.fromkeys(data["alert_types"])),
              "channels": list(dict.fromkeys(data["channels"])), "frequency": data["frequency"],
              "is_active": data["is_active"]}
    if same:
        pref = same[0]
        for k, v in fields.items():
            setattr(pref, k, v)
        pref.updated_at = utcnow()
        await scope.session.flush()
        return pref, False
    pref = scope.add(NotificationPreference(user_id=user_id, product_id=product_id, **fields))
    await scope.session.flush()
    return pref, True


async def delete_preference(scope: Scope, preference_id: str) -> None:
    """Only the caller's own: another user's preference is not found, like another tenant's."""
    pref = await scope.get(NotificationPreference, preference_id, label="notification preference")
    if pref.user_id != scope.principal.user_id:
        raise NotFound(f"notification preference {preference_id} not found")
    scope.soft_delete(pref)
    await scope.session.flush()


def matches(pref: NotificationPreference, alert: Alert) -> bool:
    return (pref.is_active and "email" in (pref.channels or []) and alert.type in (pref.alert_types or [])
            and (pref.product_id is None or pref.product_id == alert.product_id))
