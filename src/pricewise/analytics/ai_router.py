"""Gap diagnosis, price recommendations and performance insights (the spec's AI analysis routes).

The figures come from the models; the LLM, when one is configured, only writes the narrative."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Response

from pricewise.accounts.deps import AILimit, ScopeDep, Writer
from pricewise.accounts.llm import llm_for
from pricewise.analytics import gap_service, insights_service, recommendations
from pricewise.analytics.schemas import GapDiagnosisIn, RecommendationIn
from pricewise.core.context import CtxDep
from pricewise.core.schemas import MAX_OFFSET

router = APIRouter(tags=["ai analysis"])
Limit = Annotated[int, Query(ge=1, le=1000)]
Offset = Annotated[int, Query(ge=0, le=MAX_OFFSET)]


@router.get("/api/ai-analysis/gap-diagnosis")
async def list_gap_diagnoses(scope: ScopeDep, response: Response, pricing_model_id: str | None = None,
                             limit: Limit = 100, offset: Offset = 0) -> list[dict[str, Any]]:
    rows, total = await gap_service.listing(scope, pricing_model_id, limit, offset)
    response.headers["X-Total-Count"] = str(total)
    return [gap_service.diagnosis_out(r) for r in rows]


@router.post("/api/ai-analysis/gap-diagnosis", dependencies=[Writer, AILimit])
async def create_gap_diagnosis(body: GapDiagnosisIn, scope: ScopeDep, ctx: CtxDep) -> dict[str, Any]:
    llm = await llm_for(ctx, scope.tenant_id)
    return gap_service.diagnosis_out(await gap_service.diagnose(scope, llm, body.pricing_model, body.context))


@router.get("/api/recommendations/pricing")
async def list_recommendations(scope: ScopeDep, response: Response, product_id: str | None = None,
                               customer_segment_id: str | None = None, limit: Limit = 100,
                               offset: Offset = 0) -> list[dict[str, Any]]:
    rows, total = await recommendations.listing(scope, product_id, customer_segment_id, limit, offset)
    response.headers["X-Total-Count"] = str(total)
    return [recommendations.recommendation_out(r) for r in rows]


@router.post("/api/recommendations/generate", dependencies=[Writer, AILimit])
async def generate_recommendation(body: RecommendationIn, scope: ScopeDep, ctx: CtxDep) -> dict[str, Any]:
    llm = await llm_for(ctx, scope.tenant_id)
    rec = await recommendations.generate(
        scope, llm, product_id=body.product, segment_id=body.customer_segment, plan_id=body.pricing_plan,
        prompt=body.analysis_prompt, horizon=ctx.settings.forecast_horizon_months,
        guardrail=ctx.settings.price_guardrail)
    return recommendations.recommendation_out(rec)


@router.get("/api/analytics/performance-insights")
async def performance_insights(scope: ScopeDep, product_id: str, segment_id: str | None = None,
                               plan_id: str | None = None) -> dict[str, Any]:
    return await insights_service.performance(scope, product_id, segment_id, plan_id)
