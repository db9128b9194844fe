"""Alert routes (the spec's Notifications & Alerts): list, read, acknowledge, resolve and delete
alerts; each user's notification preferences."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response

from pricewise.accounts.deps import PrincipalDep, ScopeDep, Writer
from pricewise.alerts import service
from pricewise.alerts.models import Alert
from pricewise.alerts.schemas import AlertType, PreferenceIn, Severity
from pricewise.catalog.schemas import Id
from pricewise.core.schemas import Limit, Offset, PathId

router = APIRouter(tags=["alerts"])


@router.get("/api/alerts")
async def list_alerts(scope: ScopeDep, response: Response, product_id: Id | None = None,
                      type: AlertType | None = None, severity: Severity | None = None,
                      is_acknowledged: bool | None = None, is_resolved: bool | None = None,
                      limit: Limit = 50, offset: Offset = 0) -> list[dict[str, Any]]:
    """Newest first."""
    rows, total = await service.listing(scope, product_id=product_id, type_=type, severity=severity,
                                        is_acknowledged=is_acknowledged, is_resolved=is_resolved,
                                        limit=limit, offset=offset)
    response.headers["X-Total-Count"] = str(total)
    return [service.alert_out(a) for a in rows]


@router.get("/api/alerts/{alert_id}")
async def read_alert(alert_id: PathId, scope: ScopeDep) -> dict[str, Any]:
    return service.alert_out(await scope.get(Alert, alert_id, label="alert"))


@router.post("/api/alerts/{alert_id}/acknowledge", dependencies=[Writer])
async def acknowledge_alert(alert_id: PathId, scope: ScopeDep) -> dict[str, Any]:
    return service.alert_out(await service.acknowledge(scope, alert_id))


@router.post("/api/alerts/{alert_id}/resolve", dependencies=[Writer])
async def resolve_alert(alert_id: PathId, scope: ScopeDep) -> dict[str, Any]:
    return service.alert_out(await service.resolve(scope, alert_id))


@router.delete("/api/alerts/{alert_id}", dependencies=[Writer])
async def delete_alert(alert_id: PathId, scope: ScopeDep) -> dict[str, bool]:
    await service.delete(scope, alert_id)
    return {"success": True}


# Preferences are each user's own: any role may choose which alerts it hears of.

@router.get("/api/notification-preferences")
async def my_preferences(scope: ScopeDep) -> list[dict[str, Any]]:
    return [service.preference_out(p) for p in await service.my_preferences(scope)]


@router.post("/api/notification-preferences")
async def save_preference(body: PreferenceIn, scope: ScopeDep, principal: PrincipalDep,
                          response: Response) -> dict[str, Any]:
    """201 with a new preference, 200 when it replaced the caller's one for the same product."""
    principal.require("viewer")
    pref, created = await service.save_preference(scope, body.model_dump())
    response.status_code = 201 if created else 200
    return service.preference_out(pref)


@router.delete("/api/notification-preferences/{preference_id}")
async def delete_preference(preference_id: PathId, scope: ScopeDep, principal: PrincipalDep) -> dict[str, bool]:
    principal.require("viewer")
    await service.delete_preference(scope, preference_id)
    return {"success": True}
