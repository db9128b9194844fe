"""Request bodies of the estimation routes (the spec's shapes), with their limits."""

from __future__ import annotations

import math
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, EmailStr, Field, StringConstraints

from pricewise.core.schemas import Name, _no_controls

MAX_DESCRIPTION = 4000  # characters: a project description, not a document
MAX_MESSAGE = 2000


def _finite(v: float) -> float:
    if not math.isfinite(v):
        raise ValueError("must be a finite number")
    return v


Description = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=MAX_DESCRIPTION),
                        AfterValidator(_no_controls)]
Message = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=MAX_MESSAGE),
                    AfterValidator(_no_controls)]
Short = Annotated[str, StringConstraints(strip_whitespace=True, max_length=200), AfterValidator(_no_controls)]
Comment = Annotated[str, StringConstraints(max_length=5000), AfterValidator(_no_controls)]
Money = Annotated[float, Field(gt=0, le=1e10), AfterValidator(_finite)]
Weeks = Annotated[float, Field(gt=0, le=520), AfterValidator(_finite)]
Share = Annotated[float, Field(ge=0, le=1), AfterValidator(_finite)]
Multiplier = Annotated[float, Field(gt=0, le=10), AfterValidator(_finite)]
Quantile = Annotated[float, Field(gt=0, le=1e10), AfterValidator(_finite)]
Phone = Annotated[str, StringConstraints(strip_whitespace=True, pattern=r"^\+?[0-9 ()./-]{5,30}$")]
SessionId = Annotated[str, StringConstraints(pattern=r"^[0-9a-fA-F-]{32,36}$")]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class EstimateStartIn(Strict):
    description: Description
    region: Short | None = None
    customer_email: EmailStr | None = None
    customer_name: Short | None = None
    customer_phone: Phone | None = None
    # Whether the customer agreed to be asked for the project's outcome later.
    feedback_consent: bool = False


class RefineIn(Strict):
    additional_info: Description
    region: Short | None = None


class ChatSendIn(Strict):
    session_id: SessionId | None = None
    message: Message


class CustomerFeedbackIn(Strict):
    estimation_id: Short  # the estimate's _id or its session_id
    actual_cost: Money
    actual_timeline_weeks: Weeks | None = None
    accuracy_rating: Annotated[int, Field(ge=1, le=5)] | None = None
    comments: Comment = ""
    discrepancy_flags: dict[Literal["scope_creep", "hidden_costs", "market_changes"], bool] | None = None


class ContractorFeedbackIn(Strict):
    estimation_id: Short
    actual_cost: Money
    actual_timeline_weeks: Weeks | None = None
    actual_breakdown: dict[Annotated[str, StringConstraints(min_length=1, max_length=60)],
                           Annotated[float, Field(ge=0, le=1e10), AfterValidator(_finite)]] = Field(
        default_factory=dict, max_length=30)
    discrepancy_explanation: Comment = ""
    discrepancy_flags: dict[Literal["scope_creep", "hidden_costs", "market_changes"], bool] | None = None


class Distribution(Strict):
    P50: Quantile
    P80: Quantile
    P95: Quantile


class CostDistribution(Distribution):
    currency: Annotated[str, StringConstraints(pattern=r"^[A-Z]{3}$")] = "USD"


class TimelineDistribution(Distribution):
    unit: Literal["weeks"] = "weeks"


Keyword = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=60),
                    AfterValidator(_no_controls)]


class ReferenceClassIn(Strict):
    category: Keyword
    subcategory: Keyword
    name: Name
    description: Comment = ""
    keywords: list[Keyword] = Field(default_factory=list, max_length=50)
    regions: list[Keyword] = Field(default_factory=list, max_length=50)
    attributes: dict[Keyword, str | int | float | bool | None] = Field(default_factory=dict, max_length=30)
    cost_distribution: CostDistribution
    timeline_distribution: TimelineDistribution
    cost_breakdown_template: dict[Keyword, Share] = Field(min_length=1, max_length=20)
    regional_multipliers: dict[Keyword, Multiplier] = Field(default_factory=dict, max_length=50)
    validation_source: Annotated[str, StringConstraints(max_length=300)] = ""


class ReferenceClassPatch(Strict):
    description: Comment | None = None
    keywords: list[Keyword] | None = Field(default=None, max_length=50)
    regions: list[Keyword] | None = Field(default=None, max_length=50)
    attributes: dict[Keyword, str | int | float | bool | None] | None = Field(default=None, max_length=30)
    cost_distribution: CostDistribution | None = None
    timeline_distribution: TimelineDistribution | None = None
    cost_breakdown_template: dict[Keyword, Share] | None = Field(default=None, min_length=1, max_length=20)
    regional_multipliers: dict[Keyword, Multiplier] | None = Field(default=None, max_length=50)
    validation_source: Annotated[str, StringConstraints(max_length=300)] | None = None


class SyntheticGenerateIn(Strict):
    category: Keyword = "construction"
    subcategories: list[Keyword] = Field(min_length=1, max_length=20)
    regions: list[Keyword] = Field(default_factory=list, max_length=20)
    count_per_subcategory: Annotated[int, Field(ge=1, le=20)] = 3
    seed: Annotated[int, Field(ge=0, le=2**31)] = 0


class ApplyTuningIn(Strict):
    reference_class_id: Annotated[str, StringConstraints(pattern=r"^[0-9a-fA-F]{24}$")]


LeadStatus = Literal["new", "contacted", "won", "lost"]


class LeadPatch(Strict):
    status: LeadStatus | None = None
    notes: Comment | None = None
