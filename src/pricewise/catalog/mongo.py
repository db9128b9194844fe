"""`pricewise import mongo DIR`: load a MongoDB export of the original tool's collections.

The folder holds one file per collection (`<collection>.json` or `.jsonl`, see extjson.py).
Original 24-hex ids become our ids and references keep pointing at them. A document whose id
already exists in the workspace is left as it is ("unchanged"), so importing twice changes
nothing. A bad document (a required field missing, a reference to an id that does not exist)
is reported with its collection and line and skipped; the rest is committed once, at the end.

Collections read, in reference order:
  product                           -> products
  customer_segment                  -> customer_segments (segment.product -> product id)
  product_pricing_model             -> pricing_plans (and their first price-history row)
  product_pricing_mapping           -> segment_plan_links
  pricing_plan_segment_contribution -> contributions + series_points (revenue, subscriptions);
                                       stored forecasts are not imported: they are recomputed
  orchestration_result, customer_usage_analysis: counted, not stored (no table yet)
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from rich.progress import Progress
from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from pricewise.accounts.lifecycle import operator_scope
from pricewise.analytics.models import Contribution, SeriesPoint
from pricewise.catalog import links as links_service
from pricewise.catalog import service
from pricewise.catalog.extjson import RawDoc, collection_file, finite, read_collection
from pricewise.catalog.models import CustomerSegment, PriceChange, PricingPlan, Product, SegmentPlanLink
from pricewise.core.base import Base
from pricewise.core.db import commit
from pricewise.core.errors import AppError, Invalid
from pricewise.core.ids import is_id
from pricewise.core.tenancy import Scope

STORED: dict[str, type[Base]] = {
    "product": Product,
    "customer_segment": CustomerSegment,
    "product_pricing_model": PricingPlan,
    "product_pricing_mapping": SegmentPlanLink,
    "pricing_plan_segment_contribution": Contribution,
}
NO_TABLE = ("orchestration_result", "customer_usage_analysis")
COLLECTIONS = (*STORED, *NO_TABLE)
SERIES = {"revenue_ts_data": "revenue", "active_subscriptions": "subscriptions"}
CONNECTION_TYPES = ("finalized", "experimental")
SHOWN_PROBLEMS = 3

ProgressFactory = Callable[[], Progress]


class BadDocument(ValueError):
    pass


@dataclass
class Tally:
    created: int = 0
    unchanged: int = 0
    bad: int = 0
    skipped: int = 0


@dataclass
class MongoReport:
    tenant_id: str = ""
    tallies: dict[str, Tally] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    points: int = 0
    missing: list[str] = field(default_factory=list)

    def summary(self) -> str:
        parts = []
        for name, t in self.tallies.items():
            if name in NO_TABLE:
                parts.append(f"{name}: {t.skipped} skipped: no table yet")
            else:
                parts.append(f"{name}: {t.created} created, {t.unchanged} unchanged, {t.bad} bad")
        text = f"mongo import into tenant {self.tenant_id}: " + "; ".join(parts)
        text += f"; {self.points} series point(s) added"
        if self.missing:
            text += f"; no file for {', '.join(self.missing)}"
        if self.problems:
            shown = "; ".join(self.problems[:SHOWN_PROBLEMS])
            more = len(self.problems) - SHOWN_PROBLEMS
            text += f"; {len(self.problems)} bad document(s) skipped ({shown}{f'; +{more} more' if more > 0 else ''})"
        return text


# --- field helpers -----------------------------------------------------------------------

def _text(doc: dict[str, Any], key: str, *, required: bool = False) -> str | None:
    value = doc.get(key)
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            raise BadDocument(f"{key} is required")
        return None
    if not isinstance(value, str | int | float | Decimal) or isinstance(value, bool):
        raise BadDocument(f"{key} must be text")
    return str(value)


def _ref(doc: dict[str, Any], *keys: str, required: bool = True) -> str | None:
    """The first of `keys` present, as an id (a reference may also be an embedded document)."""
    for key in keys:
        value = doc.get(key)
        if value is None:
            continue
        if isinstance(value, dict):
            value = value.get("_id")
        if not is_id(value):
            raise BadDocument(f"{key} must be a 24-hex ObjectId, got {value!r}")
        return str(value)
    if required:
        raise BadDocument(f"{' or '.join(keys)} is required")
    return None


def _stamps(doc: dict[str, Any]) -> dict[str, datetime]:
    return {k: doc[k] for k in ("created_at", "updated_at") if isinstance(doc.get(k), datetime)}


def _competitors(value: Any) -> list[dict[str, str]]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(c, dict) for c in value):
        raise BadDocument("competitors must be a list of documents")
    keys = ("competitor_name", "website_url", "product_description")
    return [{k: str(c.get(k) or "") for k in keys} for c in value]


def _strings(value: Any, key: str) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise BadDocument(f"{key} must be a list")
    return [str(v) for v in value if v is not None]


def _point_date(value: Any, where: str) -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value.replace("Z", "+00:00")).date()
        except ValueError:
            pass
    raise BadDocument(f"{where}.date is not a date: {value!r}")


def _series(doc: dict[str, Any], key: str) -> dict[date, float]:
    raw = doc.get(key)
    if raw is None:
        return {}
    if not isinstance(raw, list):
        raise BadDocument(f"{key} must be a list of {{date, value}}")
    out: dict[date, float] = {}
    for i, item in enumerate(raw):
        where = f"{key}[{i}]"
        if not isinstance(item, dict):
            raise BadDocument(f"{where} must be a {{date, value}} document")
        value = finite(item.get("value"))
        if value is None:
            raise BadDocument(f"{where}.value must be a finite number")
        out[_point_date(item.get("date"), where)] = value  # a repeated date: the last one wins
    return out


# --- the loader --------------------------------------------------------------------------

class _Loader:
    def __init__(self, scope: Scope, owners: dict[str, dict[str, str]], report: MongoReport) -> None:
        self.scope = scope
        self.owners = owners  # collection -> {id: tenant_id} for the export's ids, any tenant
        self.report = report
        self.seen: dict[str, set[str]] = {name: set() for name in STORED}
        self.points: list[dict[str, Any]] = []

    async def load(self, name: str, docs: list[RawDoc], progress: Progress) -> None:
        tally = self.report.tallies.setdefault(name, Tally())
        task = progress.add_task(name, total=len(docs))
        for raw in docs:
            try:
                if raw.data is None:
                    raise BadDocument(raw.error or "unreadable document")
                if name in NO_TABLE:
                    tally.skipped += 1
                elif await self._one(name, raw.data):
                    tally.created += 1
                else:
                    tally.unchanged += 1
            except BadDocument as exc:
                tally.bad += 1
                problem = f"{name} line {raw.line}: {exc}"
                self.report.problems.append(problem)
                progress.console.print(f"skipped {problem}", markup=False, highlight=False, soft_wrap=True)
            progress.advance(task)
        await self._flush_points()

    async def _one(self, name: str, doc: dict[str, Any]) -> bool:
        oid = doc.get("_id")
        if not is_id(oid):
            raise BadDocument(f"_id must be a 24-hex ObjectId, got {oid!r}")
        assert isinstance(oid, str)
        if oid in self.seen[name]:
            raise BadDocument(f"_id {oid} appears twice in this collection")
        self.seen[name].add(oid)
        owner = self.owners[name].get(oid)
        if owner == self.scope.tenant_id:
            return False
        if owner is not None:
            raise BadDocument(f"_id {oid} is already used by another workspace")
        try:
            await getattr(self, f"_{name}")(oid, doc)
        except AppError as exc:  # a service refused it: a missing reference, a taken uid
            raise BadDocument(exc.message) from exc
        return True

    async def _product(self, oid: str, doc: dict[str, Any]) -> None:
        data: dict[str, Any] = {
            "id": oid, "name": _text(doc, "name", required=True),
            "competitors": _competitors(doc.get("competitors")),
            "product_documentations": _strings(doc.get("product_documentations"), "product_documentations"),
            **_stamps(doc)}
        for key in ("icp_description", "unit_level_cogs", "features_description_summary", "vector_store_id",
                    "category", "pricing_objective"):
            data[key] = _text(doc, key)
        await service.create_product(self.scope, data)

    async def _customer_segment(self, oid: str, doc: dict[str, Any]) -> None:
        await service.create_segment(self.scope, {
            "id": oid, "product": _ref(doc, "product", "product_id", required=False),
            "customer_segment_uid": _text(doc, "customer_segment_uid", required=True),
            "customer_segment_name": _text(doc, "customer_segment_name", required=True),
            "customer_segment_description": _text(doc, "customer_segment_description") or "",
            **_stamps(doc)})

    async def _product_pricing_model(self, oid: str, doc: dict[str, Any]) -> None:
        price = finite(doc.get("unit_price"))
        if price is None or price < 0:
            raise BadDocument("unit_price is required: a number >= 0")
        units = doc.get("min_unit_count", 1)
        if isinstance(units, bool) or finite(units) is None or float(units) != int(units) or int(units) < 0:
            raise BadDocument("min_unit_count must be a whole number >= 0")
        cogs = doc.get("cogs_per_unit")
        if cogs is not None and finite(cogs) is None:
            raise BadDocument("cogs_per_unit must be a number")
        exact = doc["unit_price"] if isinstance(doc["unit_price"], Decimal) else Decimal(str(price))
        stamps = _stamps(doc)
        plan = await service.create_plan(self.scope, {
            "id": oid, "product": _ref(doc, "product", "product_id", required=False),
            "plan_name": _text(doc, "plan_name", required=True), "unit_price": exact,
            "min_unit_count": int(units), "cogs_per_unit": cogs,
            "unit_calculation_logic": _text(doc, "unit_calculation_logic") or "",
            "min_unit_utilization_period": _text(doc, "min_unit_utilization_period") or "",
            "currency": (_text(doc, "currency") or "USD").upper()[:3], **stamps})
        if "created_at" in stamps:  # the price has been in force since the plan was made
            for change in await self.scope.list(PriceChange, PriceChange.plan_id == plan.id):
                change.effective_at = stamps["created_at"]

    async def _product_pricing_mapping(self, oid: str, doc: dict[str, Any]) -> None:
        seg = await self.scope.get(CustomerSegment, _ref(doc, "customer_segment", "customer_segment_id") or "",
                                   label="customer_segment")
        plan = await self.scope.get(PricingPlan, _ref(doc, "pricing_plan", "pricing_plan_id", "pricing_model",
                                                      "pricing_model_id") or "", label="pricing_plan")
        ctype = (_text(doc, "connection_type") or "finalized").lower()
        if ctype not in CONNECTION_TYPES:
            raise BadDocument(f"connection_type must be finalized or experimental, got {ctype!r}")
        pct: float | None = None
        if doc.get("percentage") is not None:
            pct = finite(doc["percentage"])
            if pct is None or not 0 <= pct <= 100:
                raise BadDocument("percentage must be a number from 0 to 100")
        active = doc.get("is_active", True)
        if not isinstance(active, bool):
            raise BadDocument("is_active must be true or false")
        if ctype == "experimental" and active:
            await links_service._check_experiment_total(self.scope, seg.id, None, pct or 0.0)
        self.scope.add(SegmentPlanLink(id=oid, segment_id=seg.id, plan_id=plan.id, connection_type=ctype,
                                       percentage=pct, is_active=active, **_stamps(doc)))
        await self.scope.session.flush()

    async def _pricing_plan_segment_contribution(self, oid: str, doc: dict[str, Any]) -> None:
        product_id = _ref(doc, "product", "product_id", required=False)
        if product_id is not None:
            await self.scope.get(Product, product_id, include_deleted=True, label="product")
        seg = await self.scope.get(CustomerSegment, _ref(doc, "customer_segment", "customer_segment_id") or "",
                                   label="customer_segment")
        plan = await self.scope.get(PricingPlan, _ref(doc, "pricing_plan", "pricing_plan_id", "pricing_model",
                                                      "pricing_model_id") or "", label="pricing_plan")
        series = {metric: _series(doc, key) for key, metric in SERIES.items()}
        self.scope.add(Contribution(id=oid, product_id=product_id, segment_id=seg.id, plan_id=plan.id,
                                    **_stamps(doc)))
        for metric, points in series.items():
            self.points += [{"tenant_id": self.scope.tenant_id, "contribution_id": oid, "metric": metric,
                             "date": d, "value": v} for d, v in sorted(points.items())]

    async def _flush_points(self) -> None:
        if not self.points:
            return
        await self.scope.session.flush()  # the contributions first: the points reference them
        for i in range(0, len(self.points), 1000):
            await self.scope.session.execute(insert(SeriesPoint), self.points[i:i + 1000])
        self.report.points += len(self.points)
        self.points = []


async def _owners(session: AsyncSession, export: dict[str, list[RawDoc]]) -> dict[str, dict[str, str]]:
    """Who owns each id of the export already, in any workspace (read before the session is
    tied to one tenant, so an id taken elsewhere is reported instead of failing the commit)."""
    out: dict[str, dict[str, str]] = {}
    for name, model in STORED.items():
        ids = sorted({d.data["_id"] for d in export.get(name, []) if d.data and is_id(d.data.get("_id"))})
        found: dict[str, str] = {}
        for i in range(0, len(ids), 500):
            stmt = select(model.id, model.tenant_id).where(model.id.in_(ids[i:i + 500]))  # type: ignore[attr-defined]
            found.update({r[0]: r[1] for r in (await session.execute(stmt)).all()})
        out[name] = found
    return out


def read_export(folder: Path) -> tuple[dict[str, list[RawDoc]], list[str]]:
    export: dict[str, list[RawDoc]] = {}
    missing: list[str] = []
    for name in COLLECTIONS:
        path = collection_file(folder, name)
        if path is None:
            missing.append(name)
        else:
            export[name] = read_collection(path)
    if not export:
        raise Invalid(f"no collection files in {folder}: expected files like product.json or product.jsonl "
                      f"for {', '.join(COLLECTIONS)}")
    return export, missing


async def import_mongo(ctx: Any, path: Path | str, tenant_ref: str | None,
                       progress_factory: ProgressFactory) -> str:
    """Load the export folder into the tenant (default: the local workspace); a one-line summary."""
    export, missing = read_export(Path(path))
    report = MongoReport(missing=missing)
    async with ctx.db.session() as session:
        owners = await _owners(session, export)
        scope = await operator_scope(session, tenant_ref)
        report.tenant_id = scope.tenant_id
        loader = _Loader(scope, owners, report)
        with progress_factory() as progress:
            for name in COLLECTIONS:
                if name in export:
                    await loader.load(name, export[name], progress)
        await commit(session)
    return report.summary()
