"""CSV imports through HTTP (and one through the command line), checked in the database."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, date, datetime
from pathlib import Path

import httpx
import pytest
from pydantic import AliasChoices
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import create_async_engine

from pricewise.analytics.models import Contribution, Customer, CustomerFeedback, SeriesPoint, UsageRecord
from pricewise.app import create_app
from pricewise.catalog.imports_router import router as imports_router
from pricewise.catalog.models import DataImport, DataSource
from pricewise.settings import Settings
from tests.conftest import SECRET_KEY, make_settings
from tests.support import signup

REVENUE_HEADER = "date,value,segment,plan"


def _mount(app) -> None:
    if not any(getattr(r, "path", None) == "/imports" for r in app.routes):
        app.include_router(imports_router)


@pytest.fixture
async def local(make_client):
    client = await make_client(auth_mode="local")
    _mount(client.app)
    return client


async def _mk(client, path, body):
    r = await client.post(path, json=body)
    assert r.status_code == 200, r.text
    return r.json()


@pytest.fixture
async def ws(local):
    """A product, two segments (one with a uid shared by nobody) and two plans."""
    prod = await _mk(local, "/product/create", {"name": "Analytics"})
    a = await _mk(local, "/customer-segment/create", {"customer_segment_name": "SMB", "customer_segment_uid": "SMB"})
    b = await _mk(local, "/customer-segment/create", {"customer_segment_name": "Enterprise",
                                                      "customer_segment_uid": "ENT", "product": prod["_id"]})
    basic = await _mk(local, "/pricing-plan/create", {"plan_name": "Basic", "unit_price": 10})
    pro = await _mk(local, "/pricing-plan/create", {"plan_name": "Pro", "unit_price": 50})
    return {"product": prod["_id"], "smb": a["_id"], "ent": b["_id"], "basic": basic["_id"], "pro": pro["_id"]}


async def _upload(client, kind, content, mode=None, name="data.csv", headers=None, **form):
    raw = content.encode() if isinstance(content, str) else content
    data = {**({"mode": mode} if mode else {}), **form}
    return await client.post(f"/imports/{kind}", files={"file": (name, raw, "text/csv")}, data=data,
                             headers=headers or {})


def _csv(header, *lines):
    return "\n".join([header, *lines]) + "\n"


def _months(n):
    return [date(2023 + (i // 12), i % 12 + 1, 1) for i in range(n)]


async def _rows(client, stmt):
    async with client.app.state.ctx.db.session() as s:
        return (await s.execute(stmt)).all()


async def _count(client, model):
    return (await _rows(client, select(func.count()).select_from(model)))[0][0]


async def _points(client):
    rows = await _rows(client, select(Contribution.segment_id, Contribution.plan_id, Contribution.product_id,
                                      SeriesPoint.metric, SeriesPoint.date, SeriesPoint.value)
                       .join(SeriesPoint, SeriesPoint.contribution_id == Contribution.id))
    return {(r[0], r[1], r[3], r[4]): (r[5], r[2]) for r in rows}


def _errors(r):
    return [(f["field"], f["message"]) for f in r.json()["error"]["fields"]]


async def test_revenue_import_then_reimport_updates(local, ws):
    sub = local.app.state.ctx.events.subscribe(local.app.state.ctx.local_principal.tenant_id)
    lines = [f"{d.isoformat()},{100 + i},SMB,Basic" for i, d in enumerate(_months(18))]
    lines += [f"{d.isoformat()}T12:00:00Z,{2000 + i}.5,{ws['ent']},{ws['pro']}" for i, d in enumerate(_months(18))]
    r = await _upload(local, "revenue", _csv(REVENUE_HEADER, *lines), name="rev.csv")
    assert r.status_code == 201, r.text
    body = r.json()
    assert (body["status"], body["records_processed"], body["records_success"], body["records_failed"]) == (
        "completed", 36, 36, 0)
    assert body["kind"] == "revenue" and body["filename"] == "rev.csv" and body["errors"] == []
    points = await _points(local)
    assert len(points) == 36
    assert points[(ws["smb"], ws["basic"], "revenue", date(2023, 1, 1))] == (100.0, None)
    # the Enterprise segment belongs to the product: its pair's contribution does too
    assert points[(ws["ent"], ws["pro"], "revenue", date(2024, 6, 1))] == (2017.5, ws["product"])
    event = await sub.get(wait=2)
    assert event is not None and event.type == "revenue_data_updated" and event.data["points"] == 36

    again = _csv(REVENUE_HEADER, *[f"{d.isoformat()},{7 * i},SMB,Basic" for i, d in enumerate(_months(18))])
    r2 = await _upload(local, "revenue", again)
    assert r2.status_code == 201 and r2.json()["records_success"] == 18
    points = await _points(local)
    assert len(points) == 36 and await _count(local, Contribution) == 2
    assert points[(ws["smb"], ws["basic"], "revenue", date(2024, 6, 1))][0] == 7 * 17
    sources = await _rows(local, select(DataSource.category, DataSource.source_type, DataSource.sync_status,
                                        DataSource.last_sync))
    assert [s[:3] for s in sources] == [("revenue", "csv_upload", "success")] and sources[0][3] is not None
    listed = await local.get("/imports")
    assert [x["_id"] for x in listed.json()] == [r2.json()["_id"], body["_id"]]
    assert listed.headers["X-Total-Count"] == "2"
    one = await local.get(f"/imports/{body['_id']}")
    assert one.status_code == 200 and one.json()["records_success"] == 36


BAD_REVENUE = _csv(
    REVENUE_HEADER,
    "2024-01-01,100,SMB,Basic",         # 2 good
    "2024-02-01,NaN,SMB,Basic",         # 3 not a number
    "2024-03-01,-5,SMB,Basic",          # 4 negative
    "2999-01-01,10,SMB,Basic",          # 5 future
    "2024-04-01,10,NOPE,Basic",         # 6 unknown segment
    "",                                 # 7 blank: skipped
    '2024-05-01,"20",SMB,Basic',        # 8 good (quoted)
    "2024-01-01,30,SMB,Basic",          # 9 duplicate of line 2
    "2024-06-01,1e999,SMB,Pro",         # 10 infinite
)
BAD_FIELDS = ["line 3: value", "line 4: value", "line 5: date", "line 6: segment", "line 9: date", "line 10: value"]


async def test_bad_rows_all_or_nothing_writes_nothing(local, ws):
    r = await _upload(local, "revenue", BAD_REVENUE)
    assert r.status_code == 422, r.text
    errors = _errors(r)
    assert [f for f, _ in errors] == BAD_FIELDS
    msgs = dict(errors)
    assert "not a finite number" in msgs["line 3: value"] and ">= 0" in msgs["line 4: value"]
    assert "future" in msgs["line 5: date"] and "NOPE" in msgs["line 6: segment"]
    assert "duplicate of line 2" in msgs["line 9: date"]
    assert "nothing was imported" in r.json()["error"]["message"]
    assert await _count(local, SeriesPoint) == 0 and await _count(local, Contribution) == 0
    [rec] = (await local.get("/imports")).json()
    assert (rec["status"], rec["records_processed"], rec["records_success"], rec["records_failed"]) == (
        "failed", 8, 0, 6)
    assert [(e["line"], e["field"]) for e in rec["errors"]] == [
        (3, "value"), (4, "value"), (5, "date"), (6, "segment"), (9, "date"), (10, "value")]
    assert (await _rows(local, select(DataSource.sync_status)))[0][0] == "failed"


async def test_bad_rows_skipped_good_rows_written(local, ws):
    r = await _upload(local, "revenue", BAD_REVENUE, mode="skip_bad_rows")
    assert r.status_code == 201, r.text
    body = r.json()
    assert (body["status"], body["records_processed"], body["records_success"], body["records_failed"]) == (
        "partial", 8, 2, 6)
    assert [e["line"] for e in body["errors"]] == [3, 4, 5, 6, 9, 10]
    points = await _points(local)
    assert {k[3]: v[0] for k, v in points.items()} == {date(2024, 1, 1): 100.0, date(2024, 5, 1): 20.0}
    assert (await _rows(local, select(DataSource.sync_status)))[0][0] == "partial"


@pytest.mark.parametrize("mode", ["all_or_nothing", "skip_bad_rows"])
async def test_file_level_problems_fail_in_both_modes(local, ws, mode):
    wrong = await _upload(local, "revenue", _csv("date,value,segment,plan,colour", "2024-01-01,1,SMB,Basic,red"),
                          mode=mode)
    assert wrong.status_code == 422 and _errors(wrong)[0][0] == "line 1: colour"
    assert "unknown column" in _errors(wrong)[0][1]
    missing = await _upload(local, "revenue", _csv("date,segment,plan", "2024-01-01,SMB,Basic"), mode=mode)
    assert _errors(missing) == [("line 1: value", "required column is missing")]
    latin = await _upload(local, "revenue", _csv(REVENUE_HEADER, "2024-01-01,1,Café,Basic").encode("latin-1"),
                          mode=mode)
    assert latin.status_code == 422 and _errors(latin)[0][0] == "file" and "not UTF-8" in _errors(latin)[0][1]
    binary = await _upload(local, "revenue", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", mode=mode)
    assert binary.status_code == 422 and "binary" in _errors(binary)[0][1]
    empty = await _upload(local, "revenue", REVENUE_HEADER + "\n", mode=mode)
    assert empty.status_code == 422 and "no data rows" in _errors(empty)[0][1]
    semicolons = await _upload(local, "revenue", _csv("date;value;segment;plan", "2024-01-01;1;SMB;Basic"), mode=mode)
    assert "not comma-separated" in _errors(semicolons)[0][1]
    assert await _count(local, SeriesPoint) == 0
    statuses = [x["status"] for x in (await local.get("/imports")).json()]
    assert statuses == ["failed"] * 6


async def test_bom_case_insensitive_columns_crlf_and_subscriptions(local, ws):
    content = ("\ufeffDate,VALUE,Segment,Plan_Name,Product\r\n"
               "2024-01-01,12,ENT,Pro,{p}\r\n2024-02-01,12.0,ENT,Pro,{p}\r\n")
    r = await _upload(local, "subscriptions", content.format(p=ws["product"]))
    assert r.status_code == 201, r.text
    points = await _points(local)
    assert {(k[2], v[0]) for k, v in points.items()} == {("subscriptions", 12.0)}
    frac = await _upload(local, "subscriptions", _csv(REVENUE_HEADER, "2024-03-01,2.5,ENT,Pro"))
    assert _errors(frac) == [("line 2: value", "must be a whole number, got 2.5")]


async def test_customers_usage_feedback(local, ws):
    customers = _csv("customer_uid,name,segment,plan,monthly_revenue,seats,signup_date,churned_at",
                     "c1,Acme,SMB,Basic,99.5,3,2023-01-15,",
                     "c2,Globex,ENT,Pro,1200,40,2022-06-01,2024-01-31")
    r = await _upload(local, "customers", customers)
    assert r.status_code == 201 and r.json()["records_success"] == 2, r.text
    bad = await _upload(local, "customers", _csv("customer_uid,seats,signup_date,churned_at",
                                                 "c3,2,2024-01-01,2023-12-31", "c4,0,,"))
    assert _errors(bad) == [("line 2: churned_at", "is before signup_date (2024-01-01)"),
                            ("line 3: seats", "must be >= 1, got 0")]
    upd = await _upload(local, "customers", _csv("customer_uid,monthly_revenue", "c1,150"))
    assert upd.status_code == 201
    rows = await _rows(local, select(Customer.customer_uid, Customer.name, Customer.segment_id, Customer.seats,
                                     Customer.monthly_revenue, Customer.churned_at).order_by(Customer.customer_uid))
    assert [tuple(r) for r in rows] == [("c1", "Acme", ws["smb"], 3, 150.0, None),
                                        ("c2", "Globex", ws["ent"], 40, 1200.0, date(2024, 1, 31))]

    usage = _csv("customer_uid,date,metric,quantity", "c1,2024-01-01,api_calls,1500", "c1,2024-01-02,api_calls,0")
    assert (await _upload(local, "usage", usage)).status_code == 201
    assert (await _upload(local, "usage", _csv("customer_uid,date,metric,quantity",
                                               "c1,2024-01-01,api_calls,1700"))).status_code == 201
    bad = await _upload(local, "usage", _csv("customer_uid,date,metric,quantity", "c1,2024-01-03,,5"))
    assert _errors(bad) == [("line 2: metric", "is required")]
    used = await _rows(local, select(UsageRecord.date, UsageRecord.quantity).order_by(UsageRecord.date))
    assert [tuple(u) for u in used] == [(date(2024, 1, 1), 1700.0), (date(2024, 1, 2), 0.0)]

    feedback = _csv("customer_uid,satisfaction_score,price_perception,churn_risk,feature_requests,feedback_source,"
                    "feedback_date,segment,comments",
                    'c1,8,fair,low,SSO; audit log,survey,2024-03-01T10:00:00Z,SMB,"Good value,\nwould renew"',
                    "c2,3,too_expensive,high,,interview,2024-03-02,ENT,")
    r = await _upload(local, "feedback", feedback)
    assert r.status_code == 201 and r.json()["records_success"] == 2, r.text
    bad = await _upload(local, "feedback", _csv("customer_uid,satisfaction_score,price_perception",
                                                "c1,11,fair", "c2,5,pricey"))
    assert [f for f, _ in _errors(bad)] == ["line 2: satisfaction_score", "line 3: price_perception"]
    fb = await _rows(local, select(CustomerFeedback.customer_uid, CustomerFeedback.feature_requests,
                                   CustomerFeedback.feedback_date, CustomerFeedback.segment_id,
                                   CustomerFeedback.comments).order_by(CustomerFeedback.customer_uid))
    assert fb[0][1] == ["SSO", "audit log"] and fb[0][2] == datetime(2024, 3, 1, 10, tzinfo=UTC)
    assert fb[0][3] == ws["smb"] and fb[0][4] == "Good value,\nwould renew" and fb[1][1] == []
    cats = {c for (c,) in await _rows(local, select(DataSource.category))}
    assert cats == {"customer_segment"}
    # the feedback row's line is where its record starts, even after a multi-line cell
    later = _csv("customer_uid,comments,satisfaction_score", 'c1,"two\nlines",5', "c2,x,0")
    assert _errors(await _upload(local, "feedback", later))[0][0] == "line 4: satisfaction_score"


async def test_file_over_the_size_limit(make_client, ws):
    client = await make_client(auth_mode="local", max_file_size_mb=1)
    _mount(client.app)
    big = REVENUE_HEADER + "\n" + "2024-01-01,1,SMB,Basic\n" * (2 * 1024 * 1024 // 23)
    r = await _upload(client, "revenue", big)
    assert r.status_code == 413, r.text
    assert "larger than the 1 MB limit" in r.json()["error"]["message"]
    assert [x["status"] for x in (await client.get("/imports")).json()] == ["failed"]


async def test_kind_mode_source_and_tenancy(local, ws, mailbox):
    r = await _upload(local, "invoices", "a\n1\n")
    assert r.status_code == 422 and _errors(r)[0][0] == "kind"
    r = await _upload(local, "revenue", _csv(REVENUE_HEADER, "2024-01-01,1,SMB,Basic"), mode="sometimes")
    assert r.status_code == 422 and _errors(r)[0][0] == "mode"
    ok = await _upload(local, "revenue", _csv(REVENUE_HEADER, "2024-01-01,1,SMB,Basic"))
    source_id = ok.json()["data_source_id"]
    wrong = await _upload(local, "customers", "customer_uid\nc1\n", data_source_id=source_id)
    assert wrong.status_code == 422 and _errors(wrong)[0][0] == "data_source_id"
    assert (await _upload(local, "revenue", "x", data_source_id="0" * 24)).status_code == 404

    other = await signup(local, mailbox, "owner@other.example", name="Other")
    assert (await local.get(f"/imports/{ok.json()['_id']}", headers=other.key_headers)).status_code == 404
    assert (await local.get("/imports", headers=other.key_headers)).json() == []
    theirs = await _upload(local, "revenue", _csv(REVENUE_HEADER, "2024-01-01,1,SMB,Basic"),
                           headers=other.key_headers)
    assert theirs.status_code == 422 and "no segment 'SMB'" in _errors(theirs)[0][1]  # not our segment
    assert (await local.get(f"/imports/{theirs.json()['error']['message'].split()[1]}")).status_code == 404
    assert await _count(local, DataImport) == 2  # ours, theirs (refusals before a record leave none)


# --- command line ----------------------------------------------------------------------

_SCRIPT = Path(sys.executable).with_name("pricewise")
CMD = [str(_SCRIPT)] if _SCRIPT.exists() else [sys.executable, "-m", "pricewise.cli"]


def _env(url: str, var_dir: Path) -> dict[str, str]:
    ours: set[str] = set()
    for name, field in Settings.model_fields.items():
        ours.add(f"PRICEWISE_{name.upper()}")
        if isinstance(field.validation_alias, AliasChoices):
            ours.update(str(c) for c in field.validation_alias.choices)
    env = {k: v for k, v in os.environ.items() if k.upper() not in ours}
    return {**env, "PRICEWISE_DATABASE_URL": url, "PRICEWISE_VAR_DIR": str(var_dir),
            "PRICEWISE_SECRET_KEY": SECRET_KEY, "PRICEWISE_LOG_LEVEL": "WARNING"}


async def test_cli_import_csv(sqlite_url, tmp_path):
    app = create_app(make_settings(sqlite_url, tmp_path), auth_mode="local")
    async with app.router.lifespan_context(app), httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://testserver") as client:
        await _mk(client, "/customer-segment/create", {"customer_segment_name": "SMB", "customer_segment_uid": "SMB"})
        await _mk(client, "/pricing-plan/create", {"plan_name": "Basic", "unit_price": 10})
        tenant_id = app.state.ctx.local_principal.tenant_id
    good = tmp_path / "revenue.csv"
    good.write_text(_csv(REVENUE_HEADER, *[f"{d.isoformat()},{i},SMB,Basic" for i, d in enumerate(_months(36))]))
    env = _env(sqlite_url, tmp_path / "var")

    def run(*args):
        return subprocess.run([*CMD, "import", "csv", *args], env=env, capture_output=True, text=True,
                              timeout=120, check=False)

    proc = run(str(good), "--kind", "revenue")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == f"imported 36 of 36 row(s) (revenue) into tenant {tenant_id}: completed"
    bad = tmp_path / "bad.csv"
    bad.write_text(_csv(REVENUE_HEADER, "2024-01-01,1,SMB,Basic", "2024-02-01,oops,SMB,Basic"))
    refused = run(str(bad), "--kind", "revenue", "--tenant", tenant_id)
    assert refused.returncode == 1 and "Traceback" not in refused.stderr
    assert "line 3: value: not a finite number: 'oops'" in refused.stderr
    skipped = run(str(bad), "--kind", "revenue", "--skip-bad-rows")
    assert skipped.returncode == 0, skipped.stderr
    assert skipped.stdout.startswith("imported 1 of 2 row(s) (revenue)") and ": partial; skipped 1 row(s)" in \
        skipped.stdout
    engine = create_async_engine(sqlite_url)
    async with engine.connect() as conn:
        points = (await conn.execute(select(func.count()).select_from(SeriesPoint))).scalar_one()
        statuses = (await conn.execute(select(DataImport.status).order_by(DataImport.created_at))).scalars().all()
    await engine.dispose()
    assert points == 36 and statuses == ["completed", "failed", "partial"]
