"""Alert jobs: the checks that run when data change, the immediate e-mails, and the hourly and
daily digests.

The revenue check runs inside the forecast job once a contribution's forecasts are stored; the
churn check is queued by a customers import; the price check runs in the request that changed the
plan, and the competitor check in the one that edited a product's competitors (alerts/service.py).
New alerts are e-mailed at once to users whose preference says `immediate`; `hourly` and `daily`
preferences get one e-mail with what accumulated since their last one.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from huey import crontab
from sqlalchemy import select

from pricewise.accounts.models import User
from pricewise.alerts import service
from pricewise.alerts.detect import Verdict
from pricewise.alerts.models import Alert, NotificationPreference
from pricewise.core.base import utcnow
from pricewise.core.db import commit
from pricewise.core.jobs import huey, run_async
from pricewise.core.schemas import _iso_z
from pricewise.core.tenancy import Scope, system_scope
from pricewise.settings import get_settings

log = logging.getLogger("pricewise.alerts.tasks")
ACTOR = "system:alerts"

Check = Callable[[Scope], Awaitable[list[Verdict]]]


async def run_check(ctx: Any, tenant_id: str, check: Check) -> list[str]:
    """Run one check for a tenant, store what it found, publish and e-mail the new alerts."""
    async with ctx.db.session() as session:
        scope = await system_scope(session, tenant_id, ACTOR)
        created = await service.store(scope, await check(scope))
        service.announce(scope, created)
        ids = [a.id for a in created]
        await commit(session)
        await ctx.events.publish_all(session.info.pop("events", []))
    if ids:
        await notify(ctx, tenant_id, ids)
    return ids


async def revenue_checks(ctx: Any, tenant_id: str, contribution_ids: Sequence[str]) -> list[str]:
    """Called by the forecast job after it stored the contributions' forecasts: a failure here is
    logged and never fails that job."""
    try:
        return await run_check(ctx, tenant_id, lambda scope: service.check_revenue(
            scope, contribution_ids, utcnow().date()))
    except Exception:
        log.exception("revenue alert check failed for tenant %s", tenant_id)
        return []


async def churn_checks(ctx: Any, tenant_id: str) -> list[str]:
    return await run_check(ctx, tenant_id, lambda scope: service.check_churn(
        scope, utcnow().date(), ctx.settings.alert_churn_min_customers))


@huey.task(retries=2, retry_delay=5)  # type: ignore[untyped-decorator]
def check_churn(tenant_id: str) -> list[str]:
    return run_async(lambda ctx: churn_checks(ctx, tenant_id))


# --- e-mail --------------------------------------------------------------------------------

def _entry(a: Alert) -> str:
    return (f"[{a.severity.upper()}] {a.title}\n{a.message}\n"
            f"({a.type}, raised {_iso_z(a.created_at)}, alert {a.id})")


def compose(alerts: Sequence[Alert], intro: str, footer: str) -> str:
    return "\n\n".join([intro, *(_entry(a) for a in alerts), footer]) + "\n"


def _footer(ctx: Any, frequency: str) -> str:
    return (f"You receive this e-mail because your notification preference asks for {frequency} alert "
            f"e-mails. Change it at {ctx.settings.public_url}/api/notification-preferences.")


async def _users(scope: Scope, ids: set[str]) -> dict[str, User]:
    if not ids:
        return {}
    rows = await scope.list(User, User.id.in_(ids), User.is_active.is_(True))
    return {u.id: u for u in rows}


async def notify(ctx: Any, tenant_id: str, alert_ids: Sequence[str]) -> int:
    """E-mail new alerts to the users whose active preference is immediate and matches them: one
    e-mail per user, whatever the number of their preferences that match. Alerts are marked as
    notified, so a retried job sends nothing twice. Returns the e-mails sent."""
    sent = 0
    async with ctx.db.session() as session:
        scope = await system_scope(session, tenant_id, ACTOR)
        alerts = list(await scope.list(Alert, Alert.id.in_(list(alert_ids)), Alert.notified_at.is_(None)))
        if not alerts:
            return 0
        prefs = await scope.list(NotificationPreference, NotificationPreference.frequency == "immediate",
                                 NotificationPreference.is_active.is_(True))
        per_user: dict[str, dict[str, Alert]] = defaultdict(dict)
        used: dict[str, list[NotificationPreference]] = defaultdict(list)
        for p in prefs:
            hits = [a for a in alerts if service.matches(p, a)]
            for a in hits:
                per_user[p.user_id][a.id] = a
            if hits:
                used[p.user_id].append(p)
        users = await _users(scope, set(per_user))
        now = utcnow()
        for uid, found in per_user.items():
            user = users.get(uid)
            if user is None:
                continue
            items = list(found.values())
            subject = (f"Alert ({items[0].severity}): {items[0].title}" if len(items) == 1
                       else f"{len(items)} new alerts")
            intro = f"{len(items)} new alert(s) in your pricewise workspace:"
            if await ctx.mailer.send([user.email], subject[:200], compose(items, intro, _footer(ctx, "immediate"))):
                sent += 1
                for p in used[uid]:
                    p.last_sent_at = now
        for a in alerts:  # tried once, sent or not (a failure is logged by the mailer)
            a.notified_at = now
        await commit(session)
    return sent


@huey.task(retries=2, retry_delay=5)  # type: ignore[untyped-decorator]
def notify_alerts(tenant_id: str, alert_ids: list[str]) -> int:
    return run_async(lambda ctx: notify(ctx, tenant_id, alert_ids))


# --- digests -------------------------------------------------------------------------------

async def digest_for(ctx: Any, tenant_id: str, frequency: str) -> int:
    """One e-mail per user of the tenant with `frequency` preferences, listing the matching alerts
    raised since each preference's last e-mail (or its creation). Nothing new: no e-mail. A
    failed send leaves last_sent_at alone, so the next digest carries the alerts."""
    now = utcnow()
    sent = 0
    async with ctx.db.session() as session:
        scope = await system_scope(session, tenant_id, ACTOR)
        prefs = [p for p in await scope.list(NotificationPreference, NotificationPreference.frequency == frequency,
                                             NotificationPreference.is_active.is_(True))
                 if "email" in (p.channels or [])]
        if not prefs:
            return 0
        since = min(p.last_sent_at or p.created_at for p in prefs)
        alerts = await scope.list(Alert, Alert.created_at > since, Alert.created_at <= now)
        per_user: dict[str, dict[str, Alert]] = defaultdict(dict)
        owned: dict[str, list[NotificationPreference]] = defaultdict(list)
        for p in prefs:
            start = p.last_sent_at or p.created_at
            owned[p.user_id].append(p)
            for a in alerts:
                if a.created_at > start and service.matches(p, a):
                    per_user[p.user_id][a.id] = a
        users = await _users(scope, set(per_user))
        for uid, found in per_user.items():
            user = users.get(uid)
            if user is None or not found:
                continue
            items = sorted(found.values(), key=lambda a: a.created_at)
            subject = f"Your {frequency} alert digest: {len(items)} alert(s)"
            intro = f"Alerts raised in your pricewise workspace since your last {frequency} digest:"
            if await ctx.mailer.send([user.email], subject, compose(items, intro, _footer(ctx, frequency))):
                sent += 1
                for p in owned[uid]:
                    p.last_sent_at = now
        await commit(session)
    return sent


async def send_digests(ctx: Any, frequency: str) -> int:
    async with ctx.db.session() as session:
        tenants = (await session.execute(
            select(NotificationPreference.tenant_id).where(
                NotificationPreference.frequency == frequency, NotificationPreference.is_active.is_(True),
                NotificationPreference.deleted_at.is_(None)).distinct())).scalars().all()
    sent = 0
    for tenant_id in tenants:
        try:  # one tenant's failure must not hold back the others' digests
            sent += await digest_for(ctx, tenant_id, frequency)
        except Exception:
            log.exception("%s alert digest failed for tenant %s", frequency, tenant_id)
    if sent:
        log.info("sent %d %s alert digest(s)", sent, frequency)
    return sent


@huey.periodic_task(crontab(minute="0"))  # type: ignore[untyped-decorator]
def hourly_alert_digests() -> int:
    return run_async(lambda ctx: send_digests(ctx, "hourly"))


@huey.periodic_task(crontab(minute="0", hour=str(get_settings().alert_daily_digest_hour)))  # type: ignore[untyped-decorator]
def daily_alert_digests() -> int:
    return run_async(lambda ctx: send_digests(ctx, "daily"))
