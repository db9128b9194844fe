"""The settings page's widget part: publishable keys (create, rotate, revoke) and the allowed
origins, through the widget service that GET/PUT /tenants/widget and /tenants/widget/keys use."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from fastapi import APIRouter, Request, Response

from pricewise.console.web import ConsoleRoute, ViewerDep, form_of
from pricewise.core.context import CtxDep, SessionDep
from pricewise.core.tenancy import Scope
from pricewise.widget import service as widget
from pricewise.widget.schemas import WidgetKeyIn, WidgetSettingsIn

router = APIRouter(prefix="/settings/widget", route_class=ConsoleRoute)


async def state(scope: Scope, public_url: str) -> dict[str, Any]:
    current = widget.settings_out(await widget.tenant_of(scope))
    keys = [widget.widget_key_out(k) for k in await scope.rows(widget.LIST_KEYS)]
    return {"publishable": keys, "origins": current["allowed_origins"], "branding": current["branding"],
            "script_url": f"{public_url.rstrip('/')}/widget.js"}


def embed_tag(script_url: str, key: str) -> str:
    return f'<script src="{script_url}" data-key="{key}" async></script>'


async def _page(request: Request, viewer: Any, session: Any, **extra: Any) -> Response:
    from pricewise.console.router import settings_page

    return await settings_page(request, viewer, session, **extra)


@router.post("/origins")
async def origins(request: Request, viewer: ViewerDep, session: SessionDep) -> Response:
    """One origin a line (scheme://host[:port]); an empty list closes the widget everywhere."""
    data = await form_of(request, viewer)
    viewer.require("admin")
    lines = [v.strip() for v in data.get("allowed_origins", "").splitlines() if v.strip()]
    body = WidgetSettingsIn.model_validate({"allowed_origins": lines})
    await widget.update_settings(viewer.scope, {"allowed_origins": body.allowed_origins})
    return await _page(request, viewer, session, notice="Allowed origins saved.")


@router.post("/keys")
async def create_key(request: Request, viewer: ViewerDep, ctx: CtxDep, session: SessionDep) -> Response:
    data = await form_of(request, viewer)
    viewer.require("admin")
    body = WidgetKeyIn.model_validate({"name": data.get("name") or "widget"})
    key, raw = await widget.create_key(viewer.scope, body.name)
    return await _page(request, viewer, session, new_widget_key={**widget.widget_key_out(key), "api_key": raw},
                       notice="Widget key created: copy the embed tag now, the key is stored hashed.")


@router.post("/keys/{key_id}/rotate")
async def rotate_key(key_id: str, request: Request, viewer: ViewerDep, ctx: CtxDep, session: SessionDep) -> Response:
    await form_of(request, viewer)
    viewer.require("admin")
    overlap = timedelta(hours=ctx.settings.api_key_rotation_overlap_hours)
    key, raw = await widget.rotate_key(viewer.scope, key_id, overlap)
    return await _page(request, viewer, session, new_widget_key={**widget.widget_key_out(key), "api_key": raw},
                       notice=f"Widget key rotated: the old one keeps working for "
                              f"{ctx.settings.api_key_rotation_overlap_hours} h while you update your pages.")


@router.post("/keys/{key_id}/revoke")
async def revoke_key(key_id: str, request: Request, viewer: ViewerDep, session: SessionDep) -> Response:
    await form_of(request, viewer)
    viewer.require("admin")
    await widget.revoke_key(viewer.scope, key_id)
    return await _page(request, viewer, session, notice="Widget key revoked.")
