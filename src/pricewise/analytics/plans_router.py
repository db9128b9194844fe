"""Pricing experiments and what-if scenarios (the spec's PricingExperiment and ScenarioAnalysis).

Every figure comes from the models (analytics.experiments_model, analytics.scenarios)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Response
from pydantic import BeforeValidator, ConfigDict, Field

from pricewise.accounts.deps import ScopeDep, Writer
from pricewise.analytics import experiments_service as xs
from pricewise.analytics import scenarios_service as ss
from pricewise.analytics.models import PricingExperiment, Scenario
from pricewise.catalog.schemas import Id, UiIn
from pricewise.core.context import CtxDep
from pricewise.core.schemas import Limit, Name, Offset, PathId, Text

router = APIRouter(tags=["experiments and scenarios"])

ExperimentType = Literal["price_change", "new_tier", "bundling"]
Status = Literal["draft", "running", "completed", "cancelled"]
ScenarioType = Literal["optimistic", "realistic", "pessimistic"]


def _iso_text(v: Any) -> Any:
    # A bare number would parse as a Unix timestamp: dates must be written out.
    if not isinstance(v, str | datetime):
        raise ValueError("must be an ISO date, e.g. 2025-01-01 or 2025-01-01T00:00:00Z")
    return v


Day = Annotated[datetime, Field(strict=False), BeforeValidator(_iso_text)]
Pricing = Annotated[dict[str, Any], Field(description="by experiment_type: price_change {unit_price}; new_tier "
                                                      "{plan_name, unit_price, expected_share?}; bundling "
                                                      "{plan_ids, bundle_price, discount?}")]


class ExperimentIn(UiIn):
    name: Name
    product: Id | None = None  # default: the baseline plan's product
    experiment_type: ExperimentType
    hypothesis: Text = ""
    target_segments: list[Id] = Field(default_factory=list, max_length=100)
    baseline_pricing: Id
    experimental_pricing: Pricing
    status: Literal["draft", "running"] = "draft"
    start_date: Day | None = None
    end_date: Day | None = None


class ExperimentUpdate(UiIn):
    """Partial: only the fields sent change."""

    name: Name | None = None
    experiment_type: ExperimentType | None = None
    hypothesis: Text | None = None
    target_segments: list[Id] | None = Field(default=None, max_length=100)
    baseline_pricing: Id | None = None
    experimental_pricing: Pricing | None = None
    status: Status | None = None
    start_date: Day | None = None
    end_date: Day | None = None


class Assumptions(UiIn):
    model_config = ConfigDict(strict=True, extra="forbid")  # a misspelt assumption must not pass silently

    growth_adjustment: Annotated[float, Field(ge=-0.5, le=0.5, allow_inf_nan=False)] | None = None
    price_change: Annotated[float, Field(gt=-0.9, le=3.0, allow_inf_nan=False)] | None = None
    churn_adjustment: Annotated[float, Field(ge=-0.5, le=0.5, allow_inf_nan=False)] | None = None
    horizon: Annotated[int, Field(ge=1, le=60)] | None = None


class ScenarioIn(UiIn):
    name: Name
    product: Id
    scenario_type: ScenarioType
    assumptions: Assumptions | None = None


class CompareIn(UiIn):
    product: Id
    assumptions: Assumptions | None = None


# ---- experiments ----

@router.get("/api/experiments")
async def list_experiments(scope: ScopeDep, response: Response, product_id: Id | None = None,
                           status: Status | None = None, limit: Limit = 100,
                           offset: Offset = 0) -> list[dict[str, Any]]:
    """Newest first."""
    rows, total = await xs.listing(scope, product_id, status, limit, offset)
    response.headers["X-Total-Count"] = str(total)
    return [xs.experiment_out(r) for r in rows]


@router.post("/api/experiments", dependencies=[Writer])
async def create_experiment(body: ExperimentIn, scope: ScopeDep, ctx: CtxDep) -> dict[str, Any]:
    x = await xs.create(scope, body.model_dump(), ctx.settings.forecast_horizon_months)
    return xs.experiment_out(x)


@router.get("/api/experiments/{experiment_id}")
async def read_experiment(experiment_id: PathId, scope: ScopeDep) -> dict[str, Any]:
    return xs.experiment_out(await scope.get(PricingExperiment, experiment_id, label="experiment"))


@router.put("/api/experiments/{experiment_id}", dependencies=[Writer])
async def update_experiment(experiment_id: PathId, body: ExperimentUpdate, scope: ScopeDep,
                            ctx: CtxDep) -> dict[str, Any]:
    x = await xs.update(scope, experiment_id, body.model_dump(exclude_unset=True),
                        ctx.settings.forecast_horizon_months)
    return xs.experiment_out(x)


@router.post("/api/experiments/{experiment_id}/results", dependencies=[Writer])
async def experiment_results(experiment_id: PathId, scope: ScopeDep) -> dict[str, Any]:
    """Compare the data since the start with the stored prediction; kept as actual_results."""
    return xs.experiment_out(await xs.results(scope, experiment_id))


@router.delete("/api/experiments/{experiment_id}", dependencies=[Writer])
async def delete_experiment(experiment_id: PathId, scope: ScopeDep) -> dict[str, bool]:
    await xs.delete(scope, experiment_id)
    return {"success": True}


# ---- scenarios ----

@router.get("/api/scenarios")
async def list_scenarios(scope: ScopeDep, response: Response, product_id: Id | None = None,
                         scenario_type: ScenarioType | None = None, limit: Limit = 100,
                         offset: Offset = 0) -> list[dict[str, Any]]:
    """Newest first."""
    rows, total = await ss.listing(scope, product_id, scenario_type, limit, offset)
    response.headers["X-Total-Count"] = str(total)
    return [ss.scenario_out(r) for r in rows]


@router.post("/api/scenarios", dependencies=[Writer])
async def create_scenario(body: ScenarioIn, scope: ScopeDep, ctx: CtxDep) -> dict[str, Any]:
    data = body.model_dump()
    return ss.scenario_out(await ss.create(scope, data, ctx.settings.forecast_horizon_months))


@router.post("/api/scenarios/compare")
async def compare_scenarios(body: CompareIn, scope: ScopeDep, ctx: CtxDep) -> dict[str, Any]:
    """Optimistic, realistic and pessimistic over the same baselines; computed, not stored (so a
    viewer may ask too)."""
    raw = body.assumptions.model_dump() if body.assumptions else None
    return await ss.compare(scope, body.product, raw, ctx.settings.forecast_horizon_months)


@router.get("/api/scenarios/{scenario_id}")
async def read_scenario(scenario_id: PathId, scope: ScopeDep) -> dict[str, Any]:
    return ss.scenario_out(await scope.get(Scenario, scenario_id, label="scenario"))


@router.delete("/api/scenarios/{scenario_id}", dependencies=[Writer])
async def delete_scenario(scenario_id: PathId, scope: ScopeDep) -> dict[str, bool]:
    await ss.delete(scope, scenario_id)
    return {"success": True}
