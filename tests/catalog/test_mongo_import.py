"""`import mongo DIR`: a MongoDB export of the original collections, in both mongoexport forms
(JSON lines and --jsonArray) with extended JSON, loaded into a real database twice."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console
from rich.progress import Progress
from sqlalchemy import func, select

from pricewise.accounts.models import Tenant
from pricewise.analytics.models import Contribution, SeriesPoint
from pricewise.catalog.extjson import parse
from pricewise.catalog.models import CustomerSegment, PriceChange, PricingPlan, Product, SearchDoc, SegmentPlanLink
from pricewise.catalog.mongo import import_mongo
from pricewise.core.context import AppContext
from pricewise.core.errors import Invalid
from tests.conftest import SECRET_KEY, make_settings

_SCRIPT = Path(sys.executable).with_name("pricewise")
CMD = [str(_SCRIPT)] if _SCRIPT.exists() else [sys.executable, "-m", "pricewise.cli"]

PROD = "65a1b2c3d4e5f60718293a4b"
SEG_SMB = "65a1b2c3d4e5f60718293a51"
SEG_ENT = "65a1b2c3d4e5f60718293a52"
PLAN_STARTER = "65a1b2c3d4e5f60718293a61"
PLAN_PRO = "65a1b2c3d4e5f60718293a62"
LINK_FIN = "65a1b2c3d4e5f60718293a71"
LINK_EXP = "65a1b2c3d4e5f60718293a72"
CONTRIB = "65a1b2c3d4e5f60718293a81"
MISSING = "65a1b2c3d4e5f60718293aff"


def oid(x: str) -> dict[str, str]:
    return {"$oid": x}


def num(x: float) -> dict[str, str]:
    return {"$numberDouble": str(x)}


def _lines(path: Path, docs: list[Any]) -> None:
    path.write_text("".join(json.dumps(d) + "\n" for d in docs), encoding="utf-8")


def _array(path: Path, docs: list[Any]) -> None:
    path.write_text(json.dumps(docs, indent=2), encoding="utf-8")


def write_export(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    _lines(folder / "product.jsonl", [
        {"_id": oid(PROD), "name": "Acme Analytics", "icp_description": "Data teams",
         "competitors": [{"competitor_name": "Rival", "website_url": "https://rival.example",
                          "product_description": "Dashboards"}],
         "product_documentations": ["https://docs.acme.example"],
         "created_at": {"$date": "2023-05-01T10:00:00Z"}},
        {"_id": oid("65a1b2c3d4e5f60718293a4c"), "icp_description": "no name"},  # line 2: bad
    ])
    _array(folder / "customer_segment.json", [
        {"_id": oid(SEG_SMB), "product": oid(PROD), "customer_segment_uid": "SMB",
         "customer_segment_name": "Small business", "customer_segment_description": "10-50 staff"},
        {"_id": oid(SEG_ENT), "product": {"$ref": "product", "$id": oid(PROD)}, "customer_segment_uid": "ENT",
         "customer_segment_name": "Enterprise"},
        {"_id": oid("65a1b2c3d4e5f60718293a53"), "product": oid(MISSING), "customer_segment_uid": "X",
         "customer_segment_name": "Orphan"},
    ])
    _lines(folder / "product_pricing_model.jsonl", [
        {"_id": oid(PLAN_STARTER), "plan_name": "Starter", "unit_price": num(49.5),
         "min_unit_count": {"$numberInt": "3"}, "unit_calculation_logic": "per seat per month",
         "min_unit_utilization_period": "monthly", "created_at": {"$date": {"$numberLong": "1672531200000"}}},
        {"_id": oid(PLAN_PRO), "plan_name": "Pro", "unit_price": {"$numberDecimal": "99.00"},
         "min_unit_count": {"$numberLong": "5"}},
    ])
    _array(folder / "product_pricing_mapping.json", [
        {"_id": oid(LINK_FIN), "customer_segment": oid(SEG_SMB), "pricing_plan": oid(PLAN_STARTER),
         "connection_type": "finalized", "is_active": True},
        {"_id": oid(LINK_EXP), "customer_segment_id": SEG_SMB, "pricing_plan_id": PLAN_PRO,
         "connection_type": "experimental", "percentage": num(30.0)},
        {"_id": oid("65a1b2c3d4e5f60718293a73"), "customer_segment_id": SEG_ENT, "pricing_plan_id": MISSING},
    ])
    _lines(folder / "pricing_plan_segment_contribution.jsonl", [
        {"_id": oid(CONTRIB), "product": oid(PROD), "customer_segment": oid(SEG_SMB),
         "pricing_plan": oid(PLAN_STARTER),
         "revenue_ts_data": [{"date": {"$date": "2024-01-01T00:00:00Z"}, "value": num(1500.5)},
                             {"date": {"$date": {"$numberLong": "1706745600000"}}, "value": 1800}],
         "active_subscriptions": [{"date": {"$date": "2024-01-01T00:00:00.000Z"}, "value": {"$numberInt": "30"}},
                                  {"date": {"$date": "2024-02-01T00:00:00Z"}, "value": 36}],
         "revenue_forecast_ts_data": [{"date": {"$date": "2024-03-01T00:00:00Z"}, "value": 2000}]},
    ])
    _lines(folder / "orchestration_result.jsonl", [
        {"_id": oid(f"65a1b2c3d4e5f60718293b0{i}"), "invocation_id": "run-1", "step_name": f"s{i}",
         "step_order": i} for i in range(3)])
    _array(folder / "customer_usage_analysis.json", [
        {"_id": oid("65a1b2c3d4e5f60718293c01"), "customer_uid": "c1"},
        {"_id": oid("65a1b2c3d4e5f60718293c02"), "customer_uid": "c2"}])
    return folder


def quiet_progress() -> Progress:
    return Progress(console=Console(file=io.StringIO(), force_terminal=False))


async def _counts(ctx: AppContext) -> dict[str, int]:
    async with ctx.db.session() as s:
        return {m.__name__: int((await s.execute(select(func.count()).select_from(m))).scalar_one())
                for m in (Product, CustomerSegment, PricingPlan, PriceChange, SegmentPlanLink, Contribution,
                          SeriesPoint, SearchDoc)}


def test_extended_json_forms() -> None:
    docs = parse('[\n {"_id": {"$oid": "65A1B2C3D4E5F60718293A4B"},\n  "d": {"$date": 0}},\n'
                 ' {"n": {"$numberLong": "7"}, "x": {"$numberDouble": "-Infinity"}}\n]')
    assert [d.line for d in docs] == [2, 4]
    assert docs[0].data == {"_id": PROD, "d": datetime(1970, 1, 1, tzinfo=UTC)}
    assert docs[1].data is not None and docs[1].data["n"] == 7 and docs[1].data["x"] == float("-inf")
    broken = parse('{"a": 1}\n{"a": \n{"a": {"$numberDecimal": "1.50"}}\n[1]\n')
    assert [(d.line, d.error is None) for d in broken] == [(1, True), (2, False), (3, True), (4, False)]
    assert broken[2].data == {"a": Decimal("1.50")}


async def test_import_keeps_ids_references_and_series(db_url: str, tmp_path: Path) -> None:
    folder = write_export(tmp_path / "dump")
    ctx = AppContext.build(make_settings(db_url, tmp_path))
    try:
        summary = await import_mongo(ctx, folder, None, quiet_progress)
        assert "\n" not in summary
        assert "product: 1 created, 0 unchanged, 1 bad" in summary
        assert "customer_segment: 2 created, 0 unchanged, 1 bad" in summary
        assert "product_pricing_model: 2 created" in summary
        assert "product_pricing_mapping: 2 created, 0 unchanged, 1 bad" in summary
        assert "pricing_plan_segment_contribution: 1 created" in summary
        assert "orchestration_result: 3 skipped: no table yet" in summary
        assert "customer_usage_analysis: 2 skipped: no table yet" in summary
        assert "4 series point(s) added" in summary
        assert "product line 2: name is required" in summary
        assert "3 bad document(s) skipped" in summary and "+" not in summary.split("skipped (")[1]
        first = await _counts(ctx)
        assert first == {"Product": 1, "CustomerSegment": 2, "PricingPlan": 2, "PriceChange": 2,
                         "SegmentPlanLink": 2, "Contribution": 1, "SeriesPoint": 4, "SearchDoc": 5}

        async with ctx.db.session() as s:
            local = (await s.execute(select(Tenant.id).where(Tenant.is_local.is_(True)))).scalar_one()
            product = await s.get(Product, PROD)
            assert product is not None and product.tenant_id == local
            assert product.competitors[0]["website_url"] == "https://rival.example"
            assert product.created_at == datetime(2023, 5, 1, 10, tzinfo=UTC)
            segs = {x.id: x for x in (await s.execute(select(CustomerSegment))).scalars()}
            assert segs[SEG_SMB].product_id == PROD and segs[SEG_ENT].product_id == PROD
            starter = await s.get(PricingPlan, PLAN_STARTER)
            pro = await s.get(PricingPlan, PLAN_PRO)
            assert starter is not None and starter.unit_price == Decimal("49.5") and starter.min_unit_count == 3
            assert pro is not None and pro.unit_price == Decimal("99") and pro.min_unit_count == 5
            change = (await s.execute(select(PriceChange).where(PriceChange.plan_id == PLAN_STARTER))).scalar_one()
            assert change.effective_at == datetime(2023, 1, 1, tzinfo=UTC)
            links = {x.id: x for x in (await s.execute(select(SegmentPlanLink))).scalars()}
            assert (links[LINK_FIN].segment_id, links[LINK_FIN].plan_id) == (SEG_SMB, PLAN_STARTER)
            assert links[LINK_FIN].connection_type == "finalized" and links[LINK_FIN].percentage is None
            assert (links[LINK_EXP].plan_id, links[LINK_EXP].percentage) == (PLAN_PRO, 30.0)
            assert links[LINK_EXP].is_active is True
            contrib = await s.get(Contribution, CONTRIB)
            assert contrib is not None and (contrib.segment_id, contrib.plan_id) == (SEG_SMB, PLAN_STARTER)
            points = (await s.execute(select(SeriesPoint.metric, SeriesPoint.date, SeriesPoint.value)
                                      .order_by(SeriesPoint.metric, SeriesPoint.date))).all()
            assert [tuple(p) for p in points] == [
                ("revenue", date(2024, 1, 1), 1500.5), ("revenue", date(2024, 2, 1), 1800.0),
                ("subscriptions", date(2024, 1, 1), 30.0), ("subscriptions", date(2024, 2, 1), 36.0)]

        again = await import_mongo(ctx, folder, None, quiet_progress)
        assert "product: 0 created, 1 unchanged, 1 bad" in again
        assert "product_pricing_mapping: 0 created, 2 unchanged" in again
        assert "0 series point(s) added" in again
        assert await _counts(ctx) == first
    finally:
        await ctx.db.dispose()


async def test_import_into_named_tenant_and_foreign_ids(db_url: str, tmp_path: Path) -> None:
    from pricewise.accounts.service import ensure_local_tenant
    from pricewise.core.base import utcnow
    from pricewise.core.db import commit
    from pricewise.core.ids import new_id

    folder = write_export(tmp_path / "dump")
    ctx = AppContext.build(make_settings(db_url, tmp_path))
    try:
        async with ctx.db.session() as s:
            await ensure_local_tenant(s)
            other = Tenant(id=new_id(), name="Other", email="other@acme.example", tier="pro",
                           email_verified_at=utcnow(), region_preferences=[], branding={})
            s.add(other)
            await commit(s)
        await import_mongo(ctx, folder, None, quiet_progress)
        # the same export into another workspace: every id is taken, nothing is written there
        summary = await import_mongo(ctx, folder, "other@acme.example", quiet_progress)
        assert f"tenant {other.id}" in summary
        assert "already used by another workspace" in summary
        async with ctx.db.session() as s:
            mine = (await s.execute(select(func.count()).select_from(Product)
                                    .where(Product.tenant_id == other.id))).scalar_one()
            assert mine == 0
        with pytest.raises(Invalid):
            await import_mongo(ctx, tmp_path / "empty", None, quiet_progress)
    finally:
        await ctx.db.dispose()


def test_cli_import_mongo(tmp_path: Path) -> None:
    folder = write_export(tmp_path / "dump")
    db = tmp_path / "cli.db"
    env = {k: v for k, v in os.environ.items() if not k.upper().startswith("PRICEWISE_")}
    env.update({"PRICEWISE_DATABASE_URL": f"sqlite+aiosqlite:///{db}", "PRICEWISE_VAR_DIR": str(tmp_path / "var"),
                "PRICEWISE_SECRET_KEY": SECRET_KEY, "PRICEWISE_LOG_LEVEL": "WARNING"})
    proc = subprocess.run([*CMD, "import", "mongo", str(folder)], env=env, capture_output=True, text=True,
                          timeout=120, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = proc.stdout.strip().splitlines()
    assert len(out) == 1 and "customer_segment: 2 created" in out[0] and "4 series point(s)" in out[0]
    starts = [i + 1 for i, line in enumerate((folder / "customer_segment.json").read_text().splitlines())
              if line == "  {"]
    assert f"customer_segment line {starts[2]}: product {MISSING} not found" in proc.stderr
    proc = subprocess.run([*CMD, "import", "mongo", str(tmp_path / "nope")], env=env, capture_output=True,
                          text=True, timeout=120, check=False)
    assert proc.returncode == 2 and "folder" in proc.stderr
