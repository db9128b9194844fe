"""What a run analyses: its product, the product's segments (limited to target_segments when the
run names some) and plans, and the segment x plan pairs that have revenue or subscription history."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import or_, select

from pricewise.analytics.models import Contribution
from pricewise.catalog.models import CustomerSegment, PricingPlan, Product
from pricewise.core.tenancy import Scope
from pricewise.orchestration.workflows import PermanentStepError, StepInput


@dataclass(frozen=True)
class ProductScope:
    product: Product
    segments: dict[str, CustomerSegment]
    plans: dict[str, PricingPlan]
    pairs: list[tuple[str, str]]  # (segment id, plan id) with history, in creation order
    contributions: list[Contribution]
    targeted: bool  # target_segments limited the segments

    def pair_label(self, segment_id: str, plan_id: str) -> str:
        return f"{self.segments[segment_id].customer_segment_name} x {self.plans[plan_id].plan_name}"


async def load(scope: Scope, inp: StepInput) -> ProductScope:
    if inp.product_id is None:
        raise PermanentStepError("this workflow needs a product")
    product = (await scope.session.execute(scope.select(Product).where(Product.id == inp.product_id))).scalar()
    if product is None:
        raise PermanentStepError(f"product {inp.product_id} no longer exists")
    pid = product.id
    segments = {s.id: s for s in await scope.list(CustomerSegment, CustomerSegment.product_id == pid)}
    plans = {p.id: p for p in await scope.list(PricingPlan, PricingPlan.product_id == pid)}
    # History may link a product's series to segments or plans that are not the product's own.
    filters = [Contribution.product_id == pid]
    if segments:
        filters.append(Contribution.segment_id.in_(list(segments)))
    if plans:
        filters.append(Contribution.plan_id.in_(list(plans)))
    contributions = list(await scope.list(Contribution, or_(*filters)))
    extra_segments = {c.segment_id for c in contributions} - set(segments)
    extra_plans = {c.plan_id for c in contributions} - set(plans)
    if extra_segments:
        segments.update({s.id: s for s in (await scope.session.execute(
            scope.select(CustomerSegment).where(CustomerSegment.id.in_(list(extra_segments))))).scalars()})
    if extra_plans:
        plans.update({p.id: p for p in (await scope.session.execute(
            scope.select(PricingPlan).where(PricingPlan.id.in_(list(extra_plans))))).scalars()})
    targets = inp.parameters.target_segments
    if targets:
        segments = {k: v for k, v in segments.items() if k in set(targets)}
    contributions = [c for c in contributions if c.segment_id in segments and c.plan_id in plans]
    pairs = list(dict.fromkeys((c.segment_id, c.plan_id) for c in contributions))
    return ProductScope(product, segments, plans, pairs, contributions, bool(targets))


async def resolve_targets(scope: Scope, product_id: str | None, targets: list[str]) -> list[str]:
    """target_segments as segment ids: each entry may be a segment's id, uid or name."""
    stmt = scope.select(CustomerSegment)
    if product_id:
        stmt = stmt.where(or_(CustomerSegment.product_id == product_id, CustomerSegment.product_id.is_(None),
                              CustomerSegment.id.in_(select(Contribution.segment_id).where(
                                  Contribution.product_id == product_id, Contribution.tenant_id == scope.tenant_id))))
    rows = list((await scope.session.execute(stmt)).scalars())
    out: list[str] = []
    unknown: list[str] = []
    for t in targets:
        key = t.strip()
        hit = next((s for s in rows if key in (s.id, s.customer_segment_uid)), None) or next(
            (s for s in rows if s.customer_segment_name.casefold() == key.casefold()), None)
        if hit is None:
            unknown.append(t)
        elif hit.id not in out:
            out.append(hit.id)
    if unknown:
        from pricewise.core.errors import invalid

        raise invalid("parameters.target_segments", f"no segment of this product is named {', '.join(unknown)} "
                      "(give segment ids, uids or names)")
    return out
