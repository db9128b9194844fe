"""Wire shapes of the pricing workspace, exactly as the existing client reads and sends them."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, AliasChoices, ConfigDict, Field, StringConstraints, field_validator

from pricewise.core.schemas import HttpUrlStr, In, Name, Text, _no_controls

Id = Annotated[str, StringConstraints(strip_whitespace=True, pattern=r"^[0-9a-fA-F]{24}$")]
Short = Annotated[str, StringConstraints(max_length=100), AfterValidator(_no_controls)]
ConnectionType = Literal["finalized", "experimental"]


class UiIn(In):
    """Client bodies: strict types, but unknown fields (e.g. a whole entity echoed back) ignored."""

    model_config = ConfigDict(strict=True, extra="ignore", str_max_length=100_000)


class IdBody(UiIn):
    id: Id


class Competitor(UiIn):
    competitor_name: Name
    website_url: HttpUrlStr
    product_description: Text = ""
    # Optional: a known list price lets gap diagnosis compare the plan with the market.
    unit_price: Annotated[float, Field(ge=0, le=1e9)] | None = None


class ProductFields(UiIn):
    icp_description: Text | None = None
    unit_level_cogs: Text | None = None
    features_description_summary: Text | None = None
    competitors: list[Competitor] | None = Field(default=None, max_length=50)
    product_documentations: list[HttpUrlStr] | None = Field(default=None, max_length=100)
    category: Short | None = None
    pricing_objective: Short | None = None


class ProductCreate(ProductFields):
    name: Name


class ProductUpdate(ProductFields):
    id: Id
    name: Name | None = None


class SegmentFields(UiIn):
    customer_segment_description: Text | None = None
    product: Id | None = None


class SegmentCreate(SegmentFields):
    customer_segment_name: Name
    customer_segment_uid: Name


class SegmentUpdate(SegmentFields):
    id: Id
    customer_segment_name: Name | None = None
    customer_segment_uid: Name | None = None


class PlanFields(UiIn):
    unit_calculation_logic: Text | None = None
    min_unit_utilization_period: Short | None = None
    currency: Annotated[str, StringConstraints(pattern=r"^[A-Z]{3}$")] | None = None
    cogs_per_unit: Annotated[float, Field(ge=0, le=1e9, allow_inf_nan=False)] | None = None
    product: Id | None = None


class PlanCreate(PlanFields):
    plan_name: Name
    unit_price: Annotated[float, Field(ge=0, le=1e9, allow_inf_nan=False)]
    min_unit_count: Annotated[int, Field(ge=1, le=1_000_000_000)] = 1


class PlanUpdate(PlanFields):
    id: Id
    plan_name: Name | None = None
    unit_price: Annotated[float, Field(ge=0, le=1e9, allow_inf_nan=False)] | None = None
    min_unit_count: Annotated[int, Field(ge=1, le=1_000_000_000)] | None = None


class PriceHistoryIn(UiIn):
    """A list price the plan had from `effective_at`: history from before the plan was recorded here."""

    id: Id
    unit_price: Annotated[float, Field(ge=0, le=1e9, allow_inf_nan=False)]
    effective_at: Annotated[datetime, Field(strict=False)]


Percentage = Annotated[float, Field(ge=0, le=100, allow_inf_nan=False)]


class LinkCreate(UiIn):
    customer_segment_id: Id
    pricing_plan_id: Id
    connection_type: ConnectionType = "finalized"
    percentage: Percentage | None = None
    is_active: bool = True


class LinkUpdate(UiIn):
    id: Id
    connection_type: ConnectionType | None = None
    percentage: Percentage | None = None
    is_active: bool | None = None


class CanvasConnectionIn(UiIn):
    source: Annotated[str, StringConstraints(pattern=r"^cs-[0-9a-f]{24}$")]
    target: Annotated[str, StringConstraints(pattern=r"^pp-[0-9a-f]{24}$")]
    connectionType: ConnectionType = "finalized"
    percentage: Percentage | None = None

    @field_validator("source", "target", mode="before")
    @classmethod
    def _strip(cls, v: Any) -> Any:
        return v.strip() if isinstance(v, str) else v


class Position(UiIn):
    id: Annotated[str, StringConstraints(pattern=r"^(cs|pp)-[0-9a-f]{24}$")]
    x: Annotated[float, Field(ge=-1e6, le=1e6, allow_inf_nan=False)]
    y: Annotated[float, Field(ge=-1e6, le=1e6, allow_inf_nan=False)]


class PositionsIn(UiIn):
    positions: list[Position] = Field(max_length=10_000)

    @field_validator("positions")
    @classmethod
    def _unique(cls, v: list[Position]) -> list[Position]:
        ids = [p.id for p in v]
        if len(ids) != len(set(ids)):
            raise ValueError("each node may appear once")
        return v


class SearchIn(UiIn):
    query: Annotated[str, StringConstraints(max_length=1000)]
    limit: Annotated[int, Field(ge=1, le=100)] = 20
    types: list[Literal["product", "customer_segment", "pricing_plan"]] | None = None


# --- configuration -----------------------------------------------------------------------

class CronTrigger(UiIn):
    type: Literal["cron"]
    cron: Annotated[str, StringConstraints(min_length=9, max_length=100)]

    @field_validator("cron")
    @classmethod
    def _valid(cls, v: str) -> str:
        from croniter import croniter

        if not croniter.is_valid(v):
            raise ValueError("is not a valid cron expression (5 fields, e.g. '0 9 * * 1')")
        return v


class IntervalTrigger(UiIn):
    type: Literal["interval"]
    every_minutes: Annotated[int, Field(ge=5, le=60 * 24 * 31)]


EVENT_TYPES = Literal["revenue_data_updated", "ai_analysis_completed", "canvas_connection_updated",
                      "orchestration_updated", "vector_store_updated"]


class EventTrigger(UiIn):
    type: Literal["event"]
    event: EVENT_TYPES


class RunWorkflow(UiIn):
    type: Literal["run_workflow"]
    workflow_type: Literal["pricing_analysis", "customer_segmentation", "revenue_forecast", "full_analysis"]
    product_id: Id | None = None


class GenerateReport(UiIn):
    type: Literal["generate_report"]
    report_template: Short = "pricing_optimization_report"
    recipients: list[Annotated[str, StringConstraints(pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")]] = Field(
        default_factory=list, max_length=50)


class SendAlert(UiIn):
    type: Literal["send_alert"]
    channel: Literal["email", "in_app"] = "in_app"
    recipients: list[Annotated[str, StringConstraints(pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")]] = Field(
        default_factory=list, max_length=50)
    message: Text = ""


class AutomationIn(UiIn):
    id: Id | None = Field(default=None, validation_alias=AliasChoices("id", "_id"))
    name: Name
    automation_type: Annotated[str, StringConstraints(min_length=1, max_length=50), AfterValidator(_no_controls)]
    trigger_config: Annotated[CronTrigger | IntervalTrigger | EventTrigger, Field(discriminator="type")]
    action_config: Annotated[RunWorkflow | GenerateReport | SendAlert, Field(discriminator="type")]
    is_active: bool = True


PromptKey = Annotated[str, StringConstraints(max_length=100)]
PromptMap = dict[PromptKey, Annotated[str, StringConstraints(max_length=20_000)]]


def _has_nul(v: Any) -> bool:
    if isinstance(v, str):
        return "\x00" in v
    if isinstance(v, dict):
        return any(_has_nul(k) or _has_nul(x) for k, x in v.items())
    return isinstance(v, list) and any(_has_nul(x) for x in v)


def _nul_free(v: Any) -> Any:
    if _has_nul(v):  # PostgreSQL's JSON cannot hold one, in a key or a value
        raise ValueError("must not contain NUL characters")
    return v


# Free-form settings stored as JSON.
Config = Annotated[dict[Annotated[str, StringConstraints(max_length=100)], Any], AfterValidator(_nul_free)]


class LlmTextUpdate(UiIn):
    system_prompts: PromptMap | None = None
    analysis_templates: PromptMap | None = None
    response_formats: Annotated[dict[str, dict[str, Any]], AfterValidator(_nul_free)] | None = None


class IntegrationIn(UiIn):
    product_id: Id
    integration_type: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=50)]
    config: Config = Field(default_factory=dict, max_length=50)


class DataSourceIn(UiIn):
    name: Name
    category: Literal["product", "revenue", "customer_segment"]
    source_type: Literal["api", "database", "webhook", "csv_upload"]
    config: Config = Field(default_factory=dict, max_length=50)

    @field_validator("config")
    @classmethod
    def _urls(cls, v: dict[str, Any]) -> dict[str, Any]:
        import re as _re

        for key in ("url", "endpoint", "base_url", "webhook_url"):
            if key in v and not (isinstance(v[key], str) and _re.match(r"^https?://\S+$", v[key])):
                raise ValueError(f"{key} must be an http:// or https:// URL")
        return v
