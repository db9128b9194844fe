"""Revenue evidence per segment x plan pair, read from the analytics tables."""

from __future__ import annotations

from sqlalchemy import func, select

from pricewise.analytics.models import Contribution, SeriesPoint
from pricewise.core.tenancy import Scope


async def revenue_by_pair(scope: Scope) -> dict[tuple[str, str], float]:
    stmt = scope.where(
        select(Contribution.segment_id, Contribution.plan_id, func.sum(SeriesPoint.value))
        .join(SeriesPoint, SeriesPoint.contribution_id == Contribution.id)
        .where(SeriesPoint.metric == "revenue", Contribution.deleted_at.is_(None))
        .group_by(Contribution.segment_id, Contribution.plan_id), Contribution)
    return {(r[0], r[1]): float(r[2] or 0.0) for r in (await scope.session.execute(stmt)).all()}
