"""The reference classes page: the list for every role, and for admins the forms that create, edit
and delete the tenant's own classes through classes_service (the functions POST/PUT/DELETE
/reference-classes call, with the API's request schemas), so the same rules hold: P50 <= P80 <=
P95, shares summing to 1, positive multipliers, the tier's cap. A refused form is shown again with
each message next to the field it names, and nothing written."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import RedirectResponse
from pydantic import ValidationError

from pricewise.console.web import PREFIX, ConsoleRoute, Viewer, ViewerDep, form_of, render
from pricewise.core.errors import Forbidden, Invalid
from pricewise.core.schemas import PathId
from pricewise.estimation import classes_service
from pricewise.estimation.models import ReferenceClass
from pricewise.estimation.schemas import ReferenceClassIn, ReferenceClassPatch

router = APIRouter(prefix="/classes", route_class=ConsoleRoute)

NOTICES = {"created": "Reference class created.", "updated": "Reference class saved.",
           "deleted": "Reference class deleted."}
# The API's field names (schemas and classes_service.check) -> the form's inputs.
_GROUPS = {"cost_distribution": "cost", "timeline_distribution": "timeline",
           "cost_breakdown_template": "breakdown", "regional_multipliers": "multipliers"}
_TEXT = ("category", "subcategory", "name", "description", "keywords", "regions", "breakdown", "multipliers")
_NUMBERS = tuple(f"{g}_p{q}" for g in ("cost", "timeline") for q in (50, 80, 95))


def _num(v: float) -> str:
    return f"{v:.15g}"  # every digit a float holds, without a trailing ".0"


def _values(row: ReferenceClass | None = None) -> dict[str, str]:
    """The form's inputs, empty or filled from a class."""
    if row is None:
        return {k: "" for k in _TEXT + _NUMBERS}
    out = {"category": row.category, "subcategory": row.subcategory, "name": row.name,
           "description": row.description or "", "keywords": ", ".join(row.keywords or []),
           "regions": ", ".join(row.regions or []),
           "breakdown": "\n".join(f"{k}={_num(v)}" for k, v in (row.cost_breakdown_template or {}).items()),
           "multipliers": "\n".join(f"{k}={_num(v)}" for k, v in (row.regional_multipliers or {}).items())}
    for name in _NUMBERS:  # the form's names are the model's columns
        out[name] = _num(getattr(row, name))
    return out


def _csv(text: str) -> list[str]:
    return [v.strip() for v in text.split(",") if v.strip()]


def _pairs(text: str, field: str, what: str) -> dict[str, str]:
    """`name=number` lines; the numbers stay text for the API schema to read (and refuse)."""
    out: dict[str, str] = {}
    for line in (v.strip() for v in text.splitlines()):
        if not line:
            continue
        key, sep, value = line.rpartition("=")
        if not sep or not key.strip() or not value.strip():
            raise Invalid(f"{field}: write one {what} a line, as name=number",
                          fields=[{"field": field, "message": f"“{line[:60]}” is not name=number"}])
        out[key.strip()] = value.strip()
    return out


def _body(form: dict[str, str]) -> dict[str, Any]:
    """The API's request body from the form's inputs."""
    return {
        "category": form["category"].strip(), "subcategory": form["subcategory"].strip(),
        "name": form["name"].strip(), "description": form["description"],
        "keywords": _csv(form["keywords"]), "regions": _csv(form["regions"]),
        "cost_distribution": {f"P{q}": form[f"cost_p{q}"].strip() for q in (50, 80, 95)},
        "timeline_distribution": {f"P{q}": form[f"timeline_p{q}"].strip() for q in (50, 80, 95)},
        "cost_breakdown_template": _pairs(form["breakdown"], "cost_breakdown_template", "share"),
        "regional_multipliers": _pairs(form["multipliers"], "regional_multipliers", "multiplier"),
    }


def _errors(exc: Invalid | ValidationError) -> dict[str, list[str]]:
    """Messages by form input (cost, timeline, breakdown, multipliers, or the text field's name)."""
    if isinstance(exc, Invalid):
        pairs = [(str(f.get("field", "")), str(f.get("message", ""))) for f in exc.fields or []]
    else:
        pairs = []
        for e in exc.errors():
            loc = [str(x) for x in e.get("loc", ())]
            pairs.append((".".join(loc), (f"{'.'.join(loc[1:])}: " if len(loc) > 1 else "") + e.get("msg", "")))
    out: dict[str, list[str]] = {}
    for field, message in pairs:
        head = field.split(".")[0]
        out.setdefault(_GROUPS.get(head, head if head in _TEXT else "form"), []).append(message)
    return out


async def _page(request: Request, viewer: Viewer, status_code: int = 200, **extra: Any) -> Response:
    rows = [classes_service.class_out(c) for c in await classes_service.visible(viewer.scope)]
    rows.sort(key=lambda c: (c["is_platform"], c["category"], c["name"]))
    extra.setdefault("values", _values())
    extra.setdefault("errors", {})
    return render(request, "classes.html", status_code=status_code, viewer=viewer, page="classes",
                  classes=rows, own=sum(not c["is_platform"] for c in rows),
                  can_edit=viewer.principal.at_least("admin"), **extra)


async def _own(viewer: Viewer, class_id: str) -> ReferenceClass:
    """Another tenant's class is not found; a platform class cannot be changed (the API's rules)."""
    row = await classes_service.get_visible(viewer.scope, class_id)
    if row.tenant_id is None:
        raise Forbidden("platform reference classes cannot be changed; create a class of your own instead",
                        code="platform_class")
    return row


def _read(data: dict[str, str]) -> dict[str, str]:
    return {k: data.get(k, "")[:5000] for k in _TEXT + _NUMBERS}


@router.get("")
async def classes(request: Request, viewer: ViewerDep, done: str | None = None) -> Response:
    return await _page(request, viewer, notice=NOTICES.get(done or ""))


@router.post("")
async def create(request: Request, viewer: ViewerDep) -> Response:
    data = await form_of(request, viewer)
    viewer.require("admin")
    form = _read(data)
    try:
        body = ReferenceClassIn.model_validate(_body(form))
        async with viewer.scope.session.begin_nested():  # a refusal leaves nothing behind
            await classes_service.create(viewer.scope, body.model_dump())
    except (Invalid, ValidationError) as exc:
        return await _page(request, viewer, 422, values=form, errors=_errors(exc))
    return RedirectResponse(f"{PREFIX}/classes?done=created", status_code=303)


@router.get("/{class_id}/edit")
async def edit_form(class_id: PathId, request: Request, viewer: ViewerDep) -> Response:
    viewer.require("admin")
    row = await _own(viewer, class_id)
    return await _page(request, viewer, editing=row.id, values=_values(row))


@router.post("/{class_id}/edit")
async def edit(class_id: PathId, request: Request, viewer: ViewerDep) -> Response:
    data = await form_of(request, viewer)
    viewer.require("admin")
    row = await _own(viewer, class_id)
    # Category, subcategory and name identify a class and are not changed (as PUT /reference-classes).
    form = {**_read(data), **{k: v for k, v in _values(row).items() if k in ("category", "subcategory", "name")}}
    try:
        full = _body(form)
        body = ReferenceClassPatch.model_validate({k: v for k, v in full.items()
                                                   if k not in ("category", "subcategory", "name")})
        async with viewer.scope.session.begin_nested():
            await classes_service.update(viewer.scope, row.id, body.model_dump())
    except (Invalid, ValidationError) as exc:
        return await _page(request, viewer, 422, editing=row.id, values=form, errors=_errors(exc))
    return RedirectResponse(f"{PREFIX}/classes?done=updated", status_code=303)


@router.post("/{class_id}/delete")
async def delete(class_id: PathId, request: Request, viewer: ViewerDep) -> Response:
    await form_of(request, viewer)
    viewer.require("admin")
    await classes_service.delete(viewer.scope, class_id)
    return RedirectResponse(f"{PREFIX}/classes?done=deleted", status_code=303)
