"""Details from free text by the tenant's LLM, when it has one. The LLM only reads: its answer is
validated field by field, regions are mapped onto the known ones, and nothing it says becomes a
number of the estimate except through the documented adjustments."""

from __future__ import annotations

import asyncio
import logging
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field
from sqlalchemy import select

from pricewise.accounts.llm import llm_for
from pricewise.accounts.models import Tenant
from pricewise.core.context import AppContext
from pricewise.core.llm import LLMClient, LLMError
from pricewise.core.tenancy import Scope
from pricewise.estimation import extract

log = logging.getLogger("pricewise.estimation")
BUDGET_SECONDS = 8.0

SYSTEM = ("You read a customer's description of a home project and extract only what it states. "
          "Leave a field null when the text does not say it. Never guess prices. Sizes are areas in square "
          "feet (a 15x30 ft pool is 450). Regions are California areas: " + ", ".join(extract.REGIONS) + ".")


class Details(BaseModel):
    region: str | None = None
    size_sqft: Annotated[float, Field(gt=0, le=100_000)] | None = None
    quality: Literal["basic", "midrange", "premium", "luxury"] | None = None
    includes_spa: bool | None = None
    heating: bool | None = None
    automatic_cover: bool | None = None
    adu_type: Literal["detached", "attached", "garage_conversion"] | None = None
    material: Literal["asphalt", "tile", "metal", "wood", "hardwood", "laminate", "vinyl", "carpet"] | None = None
    stories: Annotated[int, Field(ge=1, le=5)] | None = None
    demolition: bool | None = None


async def llm_client(ctx: AppContext, scope: Scope, own_key: bool | None = None) -> LLMClient | None:
    """The tenant's LLM, or None, without a database read in the offline case: without a platform
    key a trial tenant has none, and another tenant only with a key of its own (`own_key` when
    the caller read it, else the principal's; the local workspace's principal is built once at
    start, so it is read then)."""
    p = scope.principal
    platform = ctx.settings.openai_api_key is not None
    if p.tier == "trial" and not platform:
        return None
    if p.tier != "trial" and not (p.kind == "local" and platform):
        if own_key is None:
            own_key = p.has_llm_key if p.kind != "local" else bool(await scope.session.scalar(
                select(Tenant.openai_key_encrypted.is_not(None)).where(Tenant.id == scope.tenant_id)))
        if not own_key:
            return None
    return await llm_for(ctx, scope.tenant_id)


async def llm_details(llm: LLMClient, text: str) -> dict[str, Any]:
    try:
        got = await asyncio.wait_for(llm.structured(
            [{"role": "system", "content": SYSTEM}, {"role": "user", "content": text[:4000]}], Details,
            purpose="estimate:extract", max_tokens=300), BUDGET_SECONDS)
    except (LLMError, TimeoutError) as exc:
        log.warning("detail extraction by LLM failed (%s); rules only", getattr(exc, "reason", "timeout"))
        return {}
    out = {k: v for k, v in got.model_dump().items() if v is not None}
    if "region" in out:
        region = extract.canonical_region(out.pop("region"))
        if region is not None:
            out["region"] = region
    return out
