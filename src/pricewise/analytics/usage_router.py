"""Customer Usage Analysis routes: the spec's list and create, the rest of a CRUD, and predict."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Response
from pydantic import AfterValidator, Field, StringConstraints

from pricewise.accounts.deps import AILimit, ScopeDep, Writer
from pricewise.accounts.llm import llm_for
from pricewise.analytics import usage_service as svc
from pricewise.analytics.models import UsageAnalysis
from pricewise.catalog.schemas import Id, UiIn
from pricewise.core.context import CtxDep
from pricewise.core.schemas import Limit, Name, Offset, PathId, Text, _no_controls

router = APIRouter(tags=["usage-analysis"])

Score = Annotated[float, Field(ge=0, le=10, allow_inf_nan=False)]
Task = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=10_000),
                 AfterValidator(_no_controls)]
Filter = Annotated[str | None, Query(max_length=200)]


class UsageAnalysisIn(UiIn):
    product: Id
    customer_segment: Id | None = None
    customer_uid: Name
    customer_task_to_agent: Task
    predicted_customer_satisfaction_response: Score
    predicted_customer_satisfaction_response_reasoning: Text = ""


class UsageAnalysisUpdate(UiIn):
    """Partial: only the fields sent change; customer_segment may be set to null."""

    product: Id | None = None
    customer_segment: Id | None = None
    customer_uid: Name | None = None
    customer_task_to_agent: Task | None = None
    predicted_customer_satisfaction_response: Score | None = None
    predicted_customer_satisfaction_response_reasoning: Text | None = None


class PredictIn(UiIn):
    product: Id
    customer_segment: Id | None = None
    customer_uid: Name
    customer_task_to_agent: Task
    save: bool = True


@router.get("/api/usage-analysis")
async def list_usage(scope: ScopeDep, response: Response, product_id: Filter = None, segment_id: Filter = None,
                     customer_uid: Filter = None, limit: Limit = 1000, offset: Offset = 0) -> list[dict[str, Any]]:
    """Newest first."""
    rows, total = await svc.list_analyses(scope, product_id, segment_id, customer_uid, limit, offset)
    response.headers["X-Total-Count"] = str(total)
    return [svc.analysis_out(r) for r in rows]


@router.post("/api/usage-analysis", dependencies=[Writer])
async def create_usage(body: UsageAnalysisIn, scope: ScopeDep) -> dict[str, Any]:
    return svc.analysis_out(await svc.create(scope, body.model_dump()))


@router.post("/api/usage-analysis/predict", dependencies=[Writer, AILimit])
async def predict_usage(body: PredictIn, scope: ScopeDep, ctx: CtxDep) -> dict[str, Any]:
    """Predicted satisfaction 0-10 with reasoning; stored as an entry unless `save` is false."""
    llm = await llm_for(ctx, scope.tenant_id)
    out = await svc.predict(scope, llm, product_id=body.product, segment_id=body.customer_segment,
                            customer_uid=body.customer_uid, task=body.customer_task_to_agent, save=body.save)
    if out.row is not None:
        return {**svc.analysis_out(out.row), "prediction": out.prediction}
    return {"_id": None, "product": body.product, "customer_segment": out.segment_id,
            "customer_uid": body.customer_uid, "customer_task_to_agent": body.customer_task_to_agent,
            "predicted_customer_satisfaction_response": out.prediction["score"],
            "predicted_customer_satisfaction_response_reasoning": out.reasoning,
            "method": out.prediction["method"], "prediction": out.prediction}


@router.get("/api/usage-analysis/{analysis_id}")
async def read_usage(analysis_id: PathId, scope: ScopeDep) -> dict[str, Any]:
    return svc.analysis_out(await scope.get(UsageAnalysis, analysis_id, label="usage analysis"))


@router.put("/api/usage-analysis/{analysis_id}", dependencies=[Writer])
async def update_usage(analysis_id: PathId, body: UsageAnalysisUpdate, scope: ScopeDep) -> dict[str, Any]:
    return svc.analysis_out(await svc.update(scope, analysis_id, body.model_dump(exclude_unset=True)))


@router.delete("/api/usage-analysis/{analysis_id}", dependencies=[Writer])
async def delete_usage(analysis_id: PathId, scope: ScopeDep) -> dict[str, bool]:
    await svc.delete(scope, analysis_id)
    return {"success": True}
