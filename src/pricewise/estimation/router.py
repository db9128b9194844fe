"""Estimation routes (spec: estimation-saas.md): estimates, the scoping chat, feedback and
calibration, reference classes, synthetic priors, leads."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Header, Path, Query, Request, Response
from fastapi.responses import JSONResponse

from pricewise.accounts.deps import AdminDep, EstimateLimit, PrincipalDep, ScopeDep, Writer, get_principal
from pricewise.core.base import utcnow
from pricewise.core.context import CtxDep, SessionDep
from pricewise.core.errors import invalid
from pricewise.core.schemas import Limit, Offset, PathId
from pricewise.core.tenancy import Scope
from pricewise.estimation import chat_service, classes_service, feedback_service, leads_service, service
from pricewise.estimation.models import Estimation, ReferenceClass
from pricewise.estimation.schemas import (
    ApplyTuningIn,
    ChatSendIn,
    ContractorFeedbackIn,
    CustomerFeedbackIn,
    EstimateStartIn,
    LeadPatch,
    LeadStatus,
    ReferenceClassIn,
    ReferenceClassPatch,
    RefineIn,
    SyntheticGenerateIn,
)
from pricewise.widget.access import ChatScopeDep, adopt_conversation, own_conversation

router = APIRouter(tags=["estimation"])
# The estimate routes answer with JSONResponse: their bodies are plain JSON already, and FastAPI's
# validation and encoding of a nested dict[str, Any] cost more CPU than the whole estimate.
SessionPath = Annotated[str, Path(pattern=r"^[0-9a-fA-F-]{32,36}$")]


# --- estimates -------------------------------------------------------------------------------

@router.post("/estimate/start", dependencies=[Writer, EstimateLimit])
async def start_estimate(body: EstimateStartIn, scope: ScopeDep, ctx: CtxDep,
                         chat_session_id: Annotated[str | None, Query(pattern=r"^[0-9a-fA-F-]{32,36}$")] = None,
                         ) -> JSONResponse:
    """`chat_session_id` (optional): the scoping conversation whose details this estimate uses."""
    chat = await chat_service.by_session(scope, chat_session_id) if chat_session_id else None
    row = await service.start(ctx, scope, body.model_dump(), chat=chat)
    return JSONResponse(service.estimate_out(row))


@router.get("/estimate/{session_id}")
async def read_estimate(session_id: SessionPath, scope: ScopeDep, history: bool = False) -> JSONResponse:
    row = await service.by_session(scope, session_id)
    return JSONResponse(service.estimate_out(row, await service.versions(scope, row) if history else None))


@router.post("/estimate/{session_id}/refine", dependencies=[Writer, EstimateLimit])
async def refine_estimate(session_id: SessionPath, body: RefineIn, scope: ScopeDep, ctx: CtxDep) -> JSONResponse:
    row = await service.refine(ctx, scope, session_id, body.model_dump())
    return JSONResponse(service.estimate_out(row, await service.versions(scope, row)))


@router.get("/estimates")
async def list_estimates(scope: ScopeDep, response: Response, limit: Limit = 50, offset: Offset = 0,
                         ) -> list[dict[str, Any]]:
    rows = await scope.list(Estimation, order_by=Estimation.created_at.desc(), limit=limit, offset=offset)
    response.headers["X-Total-Count"] = str(await scope.count(Estimation))
    return [service.estimate_out(r) for r in rows]


# --- chat ------------------------------------------------------------------------------------

@router.post("/chat/send")
async def chat_send(body: ChatSendIn, scope: ChatScopeDep, ctx: CtxDep) -> dict[str, Any]:
    """An analyst, or a widget session (X-Widget-Session) in its own conversation only."""
    widget = own_conversation(scope, body.session_id)
    row = await chat_service.send(ctx, scope, body.model_dump(), widget=widget)
    adopt_conversation(scope, row)
    return chat_service.send_out(row)


@router.get("/chat/{conversation_id}/history")
async def chat_history(conversation_id: SessionPath, scope: ChatScopeDep) -> dict[str, Any]:
    """The spec's /chat/{session_id}/history: the conversation's session_id."""
    own_conversation(scope, conversation_id)
    return chat_service.history_out(await chat_service.by_session(scope, conversation_id))


# --- feedback --------------------------------------------------------------------------------

@router.post("/feedback/customer", status_code=201)
async def customer_feedback(body: CustomerFeedbackIn, request: Request, session: SessionDep, ctx: CtxDep,
                            token: Annotated[str | None, Query(max_length=2000)] = None,
                            x_feedback_token: Annotated[str | None, Header(max_length=2000)] = None,
                            ) -> dict[str, Any]:
    """With the magic link's token (query `token` or header X-Feedback-Token), no account needed;
    otherwise a signed-in user of the tenant submits it on the customer's behalf."""
    link_token = token or x_feedback_token
    if link_token:
        scope, link = await feedback_service.redeem(ctx, session, link_token)
        est = await service.find(scope, body.estimation_id)
        if est.id != link.estimation_id:
            raise invalid("estimation_id", "this feedback link is for another estimate")
        link.used_at = utcnow()
        by = est.customer_email or "customer"
    else:
        principal = await get_principal(request, session)
        principal.require("analyst")
        scope = Scope(session, principal)
        est = await service.find(scope, body.estimation_id)
        by = principal.actor
    row = await feedback_service.submit(scope, est, body.model_dump(), kind="customer", by=by)
    return feedback_service.feedback_out(row)


@router.post("/feedback/contractor", status_code=201)
async def contractor_feedback(body: ContractorFeedbackIn, scope: ScopeDep, principal: AdminDep) -> dict[str, Any]:
    est = await service.find(scope, body.estimation_id)
    row = await feedback_service.submit(scope, est, body.model_dump(), kind="contractor", by=principal.actor)
    return feedback_service.feedback_out(row)


@router.get("/feedback/summary")
async def feedback_summary(scope: ScopeDep) -> dict[str, Any]:
    return await feedback_service.summary(scope)


# --- reference classes -----------------------------------------------------------------------

@router.get("/reference-classes")
async def list_classes(scope: ScopeDep, response: Response, subcategory: str | None = None,
                       mine: bool = False) -> list[dict[str, Any]]:
    rows = await classes_service.visible(scope)
    rows = [r for r in rows if (subcategory is None or r.subcategory == subcategory)
            and (not mine or r.tenant_id is not None)]
    response.headers["X-Total-Count"] = str(len(rows))
    return [classes_service.class_out(r) for r in rows]


@router.get("/reference-classes/{class_id}")
async def read_class(class_id: PathId, scope: ScopeDep) -> dict[str, Any]:
    return classes_service.class_out(await classes_service.get_visible(scope, class_id))


@router.post("/reference-classes", status_code=201)
async def create_class(body: ReferenceClassIn, scope: ScopeDep, _: AdminDep) -> dict[str, Any]:
    return classes_service.class_out(await classes_service.create(scope, body.model_dump()))


@router.put("/reference-classes/{class_id}")
async def update_class(class_id: PathId, body: ReferenceClassPatch, scope: ScopeDep, _: AdminDep) -> dict[str, Any]:
    return classes_service.class_out(await classes_service.update(scope, class_id, body.model_dump()))


@router.delete("/reference-classes/{class_id}")
async def delete_class(class_id: PathId, scope: ScopeDep, _: AdminDep) -> dict[str, bool]:
    await classes_service.delete(scope, class_id)
    return {"success": True}


@router.post("/admin/synthetic/generate", status_code=201)
async def generate_synthetic(body: SyntheticGenerateIn, scope: ScopeDep, _: AdminDep) -> dict[str, Any]:
    rows: list[ReferenceClass] = await classes_service.generate(scope, body.model_dump())
    return {"generated_count": len(rows), "reference_class_ids": classes_service.ids(rows)}


@router.get("/admin/synthetic/validate")
async def validate_synthetic(scope: ScopeDep, _: AdminDep) -> dict[str, Any]:
    return await feedback_service.validate(scope)


@router.post("/admin/synthetic/apply")
async def apply_tuning(body: ApplyTuningIn, scope: ScopeDep, _: AdminDep) -> dict[str, Any]:
    """Apply the validation's recommendation for one class (platform classes: to the tenant's copy)."""
    row, applied = await feedback_service.apply_recommendation(scope, body.reference_class_id)
    return {"applied": applied, "reference_class": classes_service.class_out(row)}


# --- leads -----------------------------------------------------------------------------------

@router.get("/leads", response_model=None,
            responses={200: {"content": {"text/csv": {"schema": {"type": "string"}}}}})
async def list_leads(scope: ScopeDep, response: Response, status: LeadStatus | None = None,
                     since: datetime | None = None, until: datetime | None = None,
                     q: Annotated[str | None, Query(max_length=100)] = None,
                     format: Literal["json", "csv"] = "json", limit: Limit = 50,
                     offset: Offset = 0) -> Any:
    """`format=csv`: every matching lead (no paging) as a CSV download."""
    rows, total = await leads_service.listing(scope, status=status, since=since, until=until, q=q,
                                              limit=None if format == "csv" else limit, offset=offset)
    if format == "csv":
        return Response(leads_service.to_csv(rows), media_type="text/csv",
                        headers={"Content-Disposition": 'attachment; filename="leads.csv"',
                                 "X-Total-Count": str(total)})
    response.headers["X-Total-Count"] = str(total)
    return [leads_service.lead_out(r) for r in rows]


@router.patch("/leads/{lead_id}", dependencies=[Writer])
async def patch_lead(lead_id: PathId, body: LeadPatch, scope: ScopeDep, principal: PrincipalDep) -> dict[str, Any]:
    return leads_service.lead_out(await leads_service.patch(scope, lead_id, body.model_dump()))
