"""A tenant written by `pricewise export` and loaded by `pricewise import` into another database is
the same tenant: every row of every tenant table, column by column, and it works there (log in,
read, write). A file cut short or damaged writes nothing; a second import is refused. Every table
with a tenant_id column must be populated here, so a new table that is not fails by its name."""

from __future__ import annotations

import asyncio
import base64
import json
import os
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import httpx
import pytest
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import create_async_engine

from pricewise.accounts import lifecycle
from pricewise.app import create_app
from pricewise.core.migrate import upgrade
from pricewise.models import Base
from pricewise.reports.tasks import run_due
from pricewise.settings import Settings
from tests.analytics.market import months_back
from tests.conftest import PG_ADMIN_URL, make_settings
from tests.estimation.test_classes_api import CLASS
from tests.knowledge.docs import SETUP_MD
from tests.support import PASSWORD, Account, Mailbox, OpenAIStub, row_counts, signup
from tests.test_cli import Cli

OWNER = "owner@roundtrip.example"
BYOK = "sk-test-good-key-1234"  # the stub accepts it: the tenant's own LLM key, stored encrypted
SITE = "https://shop.example.com"
# Tenant tables no API call can put a row in, each with the reason. Empty: every table is reached.
EXEMPT: dict[str, str] = {}


@asynccontextmanager
async def running(settings: Settings, embedded_jobs: bool = False) -> AsyncIterator[httpx.AsyncClient]:
    """The app on `settings` (with its job consumer when embedded_jobs), stopped on exit."""
    app = create_app(settings, auth_mode="required", embedded_jobs=embedded_jobs)
    transport = httpx.ASGITransport(app=app)
    async with app.router.lifespan_context(app), httpx.AsyncClient(transport=transport,
                                                                   base_url="http://testserver") as c:
        c.app = app  # type: ignore[attr-defined]
        yield c


async def _admin(sql: str) -> None:
    eng = create_async_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    async with eng.connect() as conn:
        await conn.execute(text(sql))
    await eng.dispose()


@pytest.fixture
def target_url(db_url: str, tmp_path: Path) -> Iterator[str]:
    """A second database of the same kind, with nothing in it (not even the schema)."""
    if db_url.startswith("sqlite"):
        yield f"sqlite+aiosqlite:///{tmp_path / 'restored.db'}"
        return
    name = f"pricewise_test_{os.getpid()}_restore"
    asyncio.run(_admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
    asyncio.run(_admin(f"CREATE DATABASE {name}"))
    yield PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    asyncio.run(_admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))


# --- reading databases ------------------------------------------------------------------------

def _plain(value: Any) -> Any:
    """One form per value whichever driver read it."""
    if isinstance(value, memoryview):
        return bytes(value)
    if isinstance(value, datetime):
        return value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)
    return value


async def tenant_rows(url: str, tenant_id: str) -> dict[str, list[dict[str, Any]]]:
    """Every row the tenant owns, table by table, in key order."""
    engine = create_async_engine(url)
    out: dict[str, list[dict[str, Any]]] = {}
    async with engine.connect() as conn:
        for table in [Base.metadata.tables["tenants"], *lifecycle.tenant_tables()]:
            owner = table.c.id if table.name == "tenants" else table.c.tenant_id
            result = await conn.execute(select(table).where(owner == tenant_id).order_by(*table.primary_key.columns))
            out[table.name] = [{k: _plain(v) for k, v in r._mapping.items()} for r in result]
    await engine.dispose()
    return out


async def platform_classes(url: str) -> dict[str, str]:
    """{name: id} of the platform reference classes."""
    rc = Base.metadata.tables["reference_classes"]
    engine = create_async_engine(url)
    async with engine.connect() as conn:
        rows = (await conn.execute(select(rc.c.name, rc.c.id).where(rc.c.tenant_id.is_(None)))).all()
    await engine.dispose()
    return {name: cid for name, cid in rows}


def assert_same_rows(got: dict[str, list[dict[str, Any]]], want: dict[str, list[dict[str, Any]]]) -> None:
    assert set(got) == set(want)
    for table, rows in want.items():
        assert len(got[table]) == len(rows), f"{table}: {len(got[table])} rows imported, {len(rows)} exported"
        for have, row in zip(got[table], rows, strict=True):
            diff = {k: (have.get(k), v) for k, v in row.items() if have.get(k) != v}
            assert not diff, f"{table} row {row.get('id')}: (imported, exported) {diff}"


# --- populating a tenant through the API ------------------------------------------------------

@dataclass
class Seeded:
    account: Account
    analyst_key: str
    widget_key: str
    product: dict[str, Any]
    estimate: dict[str, Any]  # GET /estimate/{session_id} of the refined, platform-class estimate
    own_class_estimate: dict[str, Any]


class Api:
    def __init__(self, client: httpx.AsyncClient, headers: dict[str, str]) -> None:
        self.c, self.h = client, headers

    async def __call__(self, method: str, path: str, **kw: Any) -> Any:
        r = await self.c.request(method, path, headers=self.h, **kw)
        assert r.status_code in (200, 201, 202), f"{method} {path}: {r.status_code} {r.text}"
        return r.json()

    async def until(self, path: str, done: Any, what: str, **params: Any) -> Any:
        """Poll a GET until done(body); the embedded consumer takes up to a second per job."""
        for _ in range(300):
            body = await self("GET", path, params=params)
            if done(body):
                return body
            await asyncio.sleep(0.2)
        raise AssertionError(f"{what} did not finish: {body}")


def _iso(d: Any) -> str:
    return f"{d.isoformat()}T00:00:00Z"


async def populate(c: httpx.AsyncClient, mailbox: Mailbox) -> Seeded:
    """A pro tenant with a row in every tenant table, made through the API as its users do."""
    a = await signup(c, mailbox, OWNER, tier="pro")
    api = Api(c, a.bearer)
    # accounts: the LLM key of its own, a second key, a user who accepted an invitation, one pending
    await api("PUT", "/tenants/settings", json={"openai_api_key": BYOK, "region_preferences": ["US-CA"]})
    analyst = (await api("POST", "/api-keys", json={"name": "ci", "role": "analyst"}))["api_key"]
    for email in ("ana@roundtrip.example", "pending@roundtrip.example"):
        await api("POST", "/invitations", json={"email": email, "role": "analyst"})
    token = mailbox.link("ana@roundtrip.example", "/auth/accept-invite").split("token=")[1]
    r = await c.post("/auth/accept-invite", json={"token": token, "password": PASSWORD, "name": "Ana"})
    assert r.status_code == 201, r.text

    # catalog
    product = await api("POST", "/product/create", json={
        "name": "Analytics", "icp_description": "Finance teams", "features_description_summary": "Reports",
        "competitors": [{"competitor_name": "Rival", "website_url": "https://rival.example", "unit_price": 40.0}]})
    pid = product["_id"]
    seg = (await api("POST", "/customer-segment/create", json={
        "product": pid, "customer_segment_name": "Small business", "customer_segment_uid": "SMB"}))["_id"]
    plan = (await api("POST", "/pricing-plan/create", json={
        "product": pid, "plan_name": "Pro", "unit_price": 50.125, "cogs_per_unit": 20}))["_id"]
    await api("POST", "/customer-segment/pricing-plan/link/create", json={
        "customer_segment_id": seg, "pricing_plan_id": plan})
    await api("POST", "/pricing-plan/price-history", json={"id": plan, "unit_price": 45,
                                                           "effective_at": "2024-01-01T00:00:00Z"})
    await api("PUT", "/api/canvas/positions", json={"positions": [{"id": f"cs-{seg}", "x": 5.5, "y": 7}]})
    await api("POST", "/datasources/create", json={"name": "Stripe", "category": "revenue", "source_type": "api",
                                                   "config": {"endpoint": "https://api.stripe.example",
                                                              "api_key": "sk_source_secret_1"}})
    await api("POST", "/productintegration/create", json={"product_id": pid, "integration_type": "stripe",
                                                          "config": {"account": "acct_1", "api_key": "sk_int_2"}})
    await api("PUT", "/llmstxt/update", json={"system_prompts": {"narrator": "Be brief."}})
    await api("POST", "/automation/push", json={
        "name": "Weekly run", "automation_type": "workflow", "trigger_config": {"type": "cron", "cron": "0 9 * * 1"},
        "action_config": {"type": "run_workflow", "workflow_type": "pricing_analysis"}, "is_active": True})

    # analytics: a series (its forecast is a job), imports, an alert, the analyses
    months = months_back(13)
    revenue = [10_000.0 + 250 * i for i in range(13)]
    series = list(zip(months, revenue, strict=True))
    contribution = (await api("POST", "/api/analytics/segment-contribution", json={
        "product": pid, "customer_segment": seg, "pricing_plan": plan,
        "revenue_ts_data": [{"date": _iso(m), "value": v} for m, v in series],
        "active_subscriptions": [{"date": _iso(m), "value": round(v / 50)} for m, v in series]}))["_id"]
    csvs = {"customers": "customer_uid,name,segment,plan,monthly_revenue,seats,signup_date,churned_at\n"
                         "c1,Acme,SMB,Pro,99.5,3,2023-01-15,\nc2,Globex,SMB,Pro,1200,40,2022-06-01,2024-01-31\n",
            "usage": "customer_uid,date,metric,quantity\nc1,2024-01-01,api_calls,1500\nc2,2024-01-02,api_calls,7\n",
            "feedback": "customer_uid,satisfaction_score,price_perception,churn_risk,feedback_date,segment,comments\n"
                        "c1,8,fair,low,2024-03-01T10:00:00Z,SMB,Good value\n"}
    for kind, body in csvs.items():
        await api("POST", f"/imports/{kind}", files={"file": (f"{kind}.csv", body.encode(), "text/csv")})
    await api("POST", "/api/notification-preferences", json={
        "alert_types": ["price_anomaly"], "channels": ["email"], "frequency": "daily"})
    await api("PUT", "/pricing-plan/update", json={"id": plan, "unit_price": 90.5})  # +80%: a price alert
    await api("POST", "/api/recommendations/generate", json={"customer_segment": seg})
    await api("POST", "/api/ai-analysis/gap-diagnosis", json={"pricing_model": plan})
    await api("POST", "/api/usage-analysis", json={
        "product": pid, "customer_segment": seg, "customer_uid": "c1", "customer_task_to_agent": "Monthly reports",
        "predicted_customer_satisfaction_response": 8.5})
    await api("POST", "/api/experiments", json={"name": "Raise", "product": pid, "experiment_type": "price_change",
                                                "baseline_pricing": plan, "experimental_pricing": {"unit_price": 95}})
    await api("POST", "/api/scenarios", json={"name": "FY", "product": pid, "scenario_type": "realistic"})

    # reports: one on demand (a job renders the PDF), one scheduled and delivered by the scheduler
    report = (await api("POST", "/api/reports/generate", json={
        "name": "Board pack", "product_id": pid, "sections": [{"name": "Summary", "prompt": "Summarise revenue"}]}
    ))["report_id"]
    schedule = await api("POST", "/scheduled-reporting/create", json={
        "name": "Monthly", "schedule_type": "monthly", "timezone": "Europe/Paris", "product_id": pid,
        "schedule_config": {"day_of_month": 1, "time": "09:00"}, "recipients": ["cfo@roundtrip.example"],
        "sections": [{"id": "revenue_summary", "name": "Revenue", "prompt": "Revenue summary"}]})

    # a run, and documentation (ingested by a job)
    run = (await api("POST", "/orchestration", json={"workflow_type": "revenue_forecast", "product_id": pid,
                                                     "parameters": {}}))["invocation_id"]
    doc = (await api("POST", "/api/knowledge/upload", data={"product_id": pid},
                     files={"file": ("setup.md", SETUP_MD, "text/markdown")}))["_id"]

    # estimation: a class of its own, estimates (one refined), a chat, an outcome by magic link, a lead
    own_class = (await api("POST", "/reference-classes", json=CLASS))["_id"]
    est = await api("POST", "/estimate/start", json={
        "description": "15x30 pool with spa in San Diego", "customer_email": "pat@example.com",
        "customer_name": "Pat Doe", "feedback_consent": True})
    await api("POST", f"/estimate/{est['session_id']}/refine", json={"additional_info": "heated, with a cover"})
    pergola = await api("POST", "/estimate/start", json={
        "description": "backyard cedar pergola shade structure with footings", "region": "SoCal - Coastal"})
    await api("POST", "/chat/send", json={"message": "I need a pool"})
    await api("PATCH", f"/leads/{est['estimation_id']}", json={"status": "contacted", "notes": "called back"})

    # the widget: origins, a publishable key, a visitor's session
    await api("PUT", "/tenants/widget", json={"allowed_origins": [SITE], "branding": {"primary_color": "#ff5733"}})
    widget_key = (await api("POST", "/tenants/widget/keys", json={"name": "site"}))["api_key"]
    r = await c.get("/widget/config", params={"api_key": widget_key}, headers={"Origin": SITE})
    assert r.status_code == 200, r.text

    # what the jobs do: the forecast, the report, the run, the ingestion, the feedback e-mail
    await api.until("/api/analytics/segment-contribution", lambda b: [
        x for x in b if x["_id"] == contribution and x["forecast_details"]["revenue"]["status"] == "current"],
        "the forecast", segment_id=seg)
    await api.until(f"/api/reports/{report}/status", lambda b: b["status"] in ("completed", "failed"), "the report")
    await api.until(f"/api/orchestration/runs/{run}", lambda b: b["status"] in ("completed", "failed"), "the run")
    await api.until(f"/api/knowledge/documents/{doc}", lambda b: b["status"] == "ingested", "the ingestion")
    link = await asyncio.to_thread(lambda: mailbox.link("pat@example.com", "/feedback/customer"))
    r = await c.post("/feedback/customer", params={"token": parse_qs(urlparse(link).query)["token"][0]},
                     json={"estimation_id": est["estimation_id"], "actual_cost": 80_000, "accuracy_rating": 4})
    assert r.status_code == 201, r.text
    # The scheduler's body, as its periodic job runs it once the schedule is due.
    due = datetime.fromisoformat(schedule["next_run_at"].replace("Z", "+00:00"))
    assert await run_due(c.app.state.ctx, now=due + timedelta(seconds=20)) >= 1  # type: ignore[attr-defined]

    pergola_view = await api("GET", f"/estimate/{pergola['session_id']}")
    assert pergola_view["matched_reference_class"]["id"] == own_class, pergola_view
    return Seeded(a, analyst, widget_key, await api("GET", "/product/read", params={"id": pid}),
                  await api("GET", f"/estimate/{est['session_id']}"), pergola_view)


# --- the round trip ------------------------------------------------------------------------------

def _refused(proc: Any, marker: str) -> str:
    assert proc.returncode != 0, proc.stdout
    assert "Traceback" not in proc.stderr, proc.stderr
    lines = [ln for ln in proc.stderr.splitlines() if marker in ln]
    assert len(lines) == 1, f"expected one line with {marker!r} on stderr:\n{proc.stderr}"
    return lines[0]


async def test_export_then_import_into_an_empty_database_is_the_same_tenant(
        db_url: str, target_url: str, tmp_path: Path, mailbox: Mailbox, openai_stub: OpenAIStub) -> None:
    settings = make_settings(db_url, tmp_path, smtp_host="127.0.0.1", smtp_port=mailbox.port,
                             openai_base_url=openai_stub.base_url, rate_limit_requests_per_minute=100_000)
    async with running(settings, embedded_jobs=True) as c:
        other = await signup(c, mailbox, "boss@other.example", name="Other Co")  # stays behind
        r = await c.post("/product/create", json={"name": "Not exported"}, headers=other.bearer)
        assert r.status_code == 200, r.text
        seeded = await populate(c, mailbox)
    tid = seeded.account.tenant_id
    source = await tenant_rows(db_url, tid)
    empty = sorted(t for t, rows in source.items() if not rows and t not in EXEMPT)
    assert not empty, f"tenant tables the test leaves empty (populate them, or exempt with a reason): {empty}"
    assert any(r["tenant_id"] == tid for r in source["reference_classes"])
    assert source["llm_usage"][0]["key_source"] == "tenant"

    src_cli = Cli(db_url, tmp_path / "cli")
    file = tmp_path / "tenant.jsonl"
    out = await asyncio.to_thread(src_cli.run, "export", OWNER, str(file))
    total = sum(len(rows) for rows in source.values())
    assert f"exported {total} row(s) to {file}" in out.stdout
    assert await tenant_rows(db_url, tid) == source, "the export changed the source"
    lines = file.read_text(encoding="utf-8").splitlines()
    head, items = json.loads(lines[0]), [json.loads(ln) for ln in lines[1:]]
    assert head["rows"] == total == len(items)
    tables_in_file = {i["table"] for i in items}
    assert "audit_log" not in tables_in_file and "platform_calibration" not in tables_in_file
    # platform classes are referred to by name, never exported as rows
    assert all(i["row"]["tenant_id"] == tid for i in items if i["table"] == "reference_classes")
    assert seeded.estimate["matched_reference_class"]["id"] in head["platform_classes"]
    assert other.tenant_id not in file.read_text(encoding="utf-8")

    cli = Cli(target_url, tmp_path / "cli")
    run = lambda *args: asyncio.to_thread(cli.run, *args, check=False)  # noqa: E731

    # Damaged files write nothing, whichever way they are damaged.
    cut = tmp_path / "cut.jsonl"
    cut.write_text("\n".join(lines[:-3]) + "\n", encoding="utf-8")  # at a line boundary
    assert "cut short" in _refused(await run("import", str(cut)), "import refused")
    zeros = await row_counts(target_url)
    assert zeros == dict.fromkeys(zeros, 0)
    raw = file.read_bytes()
    cut.write_bytes(raw[: len(raw) * 2 // 3])  # mid-line
    assert "not valid JSON" in _refused(await run("import", str(cut)), "import refused")
    cut.write_bytes(raw[:100] + b"\xff\xfe" + raw[102:])
    assert "not UTF-8" in _refused(await run("import", str(cut)), "import refused")
    # a late row pointing nowhere: every table before it was inserted, then all rolled back
    late = next(n for n, i in enumerate(items) if i["table"] == "forecast_points")
    bad = [*lines[: late + 1], json.dumps({**items[late], "row": {**items[late]["row"], "forecast_id": "f" * 24}}),
           *lines[late + 2:]]
    cut.write_text("\n".join(bad) + "\n", encoding="utf-8")
    assert "nothing was written" in _refused(await run("import", str(cut)), "import refused")
    assert await row_counts(target_url) == zeros
    # An installation whose key ring cannot read the tenant's secrets (encrypted with k0, the key
    # derived from the exporting side's secret key) refuses rather than keep unreadable ones.
    ring = "k9:" + base64.b64encode(bytes(range(32))).decode()
    wrong = await asyncio.to_thread(cli.run, "import", str(file), check=False, PRICEWISE_ENCRYPTION_KEYS=ring)
    assert "no key with id k0" in _refused(wrong, "import refused")
    assert await row_counts(target_url) == zeros

    done = await run("import", str(file))
    assert done.returncode == 0, done.stderr
    assert f"imported tenant {tid}: {total} row(s)" in done.stdout
    assert_same_rows(await tenant_rows(target_url, tid), source)
    counts = await row_counts(target_url)
    assert counts["tenants"] == 1 and counts["audit_log"] == 1  # the import's own audit row
    # the platform classes the tenant's rows name exist here under the same ids; no other platform data
    here = await platform_classes(target_url)
    assert seeded.estimate["matched_reference_class"]["id"] in here.values()
    assert {cid: name for name, cid in here.items()}.items() <= head["platform_classes"].items()
    assert counts["platform_calibration"] == 0

    again = await run("import", str(file))
    assert f"tenant {tid} already exists" in _refused(again, "already exists")
    assert await row_counts(target_url) == counts

    # The imported tenant works: same password, same keys, same secrets, new rows numbered anew.
    openai_stub.requests.clear()
    target = make_settings(target_url, tmp_path, smtp_host="127.0.0.1", smtp_port=mailbox.port,
                           openai_base_url=openai_stub.base_url)
    async with running(target) as t:
        login = await t.post("/auth/login", json={"email": OWNER, "password": PASSWORD})
        assert login.status_code == 200, login.text
        api = Api(t, {"Authorization": f"Bearer {login.json()['access_token']}"})
        assert await api("GET", "/product/read", params={"id": seeded.product["_id"]}) == seeded.product
        assert await api("GET", f"/estimate/{seeded.estimate['session_id']}") == seeded.estimate
        refined = await api("POST", f"/estimate/{seeded.estimate['session_id']}/refine",
                            json={"additional_info": "add a spa"})
        assert refined["version"] == seeded.estimate["version"] + 1
        me = await t.get("/tenants/me", headers={"X-API-Key": seeded.analyst_key})
        assert me.status_code == 200 and me.json()["tenant_id"] == tid
        widget = await t.get("/widget/config", params={"api_key": seeded.widget_key}, headers={"Origin": SITE})
        assert widget.status_code == 200, widget.text
        # the LLM key decrypts here: the next narrated answer is paid with it
        segment = source["customer_segments"][0]["id"]
        await api("POST", "/api/recommendations/generate", json={"customer_segment": segment})
        assert {r["key"] for r in openai_stub.posts} == {BYOK}
        # rows with database-numbered keys (usage, LLM usage) are added after the imported ones
        await api("POST", "/imports/usage", files={"file": ("u.csv", b"customer_uid,date,metric,quantity\n"
                                                                    b"c1,2024-02-01,api_calls,9\n", "text/csv")})
    after = await tenant_rows(target_url, tid)
    for table in ("usage_records", "llm_usage"):
        assert len(after[table]) > len(source[table]), table
        assert after[table][: len(source[table])] == source[table], table


async def test_import_into_an_installation_with_data_of_its_own(
        db_url: str, target_url: str, tmp_path: Path, mailbox: Mailbox) -> None:
    """Platform classes are found by name and numbered rows renumbered, so a tenant can move into
    an installation that already serves others."""
    usage = b"customer_uid,date,metric,quantity\nc1,2024-01-01,api_calls,5\nc1,2024-01-02,api_calls,6\n"
    settings = make_settings(db_url, tmp_path, smtp_host="127.0.0.1", smtp_port=mailbox.port)
    async with running(settings) as c:
        a = await signup(c, mailbox, OWNER, tier="pro")
        api = Api(c, a.bearer)
        own = (await api("POST", "/reference-classes", json=CLASS))["_id"]
        pool = await api("POST", "/estimate/start", json={"description": "15x30 pool with spa in San Diego"})
        await api("POST", f"/estimate/{pool['session_id']}/refine", json={"additional_info": "heated"})
        pool = await api("GET", f"/estimate/{pool['session_id']}")
        await api("POST", "/estimate/start", json={"description": "cedar pergola shade structure with footings"})
        await api("POST", "/imports/usage", files={"file": ("u.csv", usage, "text/csv")})
    source = await tenant_rows(db_url, a.tenant_id)
    file = tmp_path / "tenant.jsonl"
    await asyncio.to_thread(Cli(db_url, tmp_path / "cli").run, "export", OWNER, str(file))

    await asyncio.to_thread(upgrade, target_url)
    here = make_settings(target_url, tmp_path, smtp_host="127.0.0.1", smtp_port=mailbox.port)
    async with running(here) as t:  # its own platform classes (other ids) and a tenant with usage rows
        b = await signup(t, mailbox, "owner@here.example", name="Here Co")
        r = await t.post("/imports/usage", files={"file": ("u.csv", usage + b"c9,2024-01-03,api_calls,1\n",
                                                           "text/csv")}, headers=b.bearer)
        assert r.status_code == 201, r.text
    theirs = await tenant_rows(target_url, b.tenant_id)
    src_ids, here_ids = await platform_classes(db_url), await platform_classes(target_url)
    moved = {src_ids[name]: here_ids[name] for name in src_ids}
    assert all(old != new for old, new in moved.items())

    done = await asyncio.to_thread(Cli(target_url, tmp_path / "cli").run, "import", str(file))
    assert f"imported tenant {a.tenant_id}" in done.stdout
    got = await tenant_rows(target_url, a.tenant_id)
    assert await tenant_rows(target_url, b.tenant_id) == theirs
    assert await platform_classes(target_url) == here_ids  # no second platform set

    def moved_ids(value: Any) -> Any:
        if isinstance(value, str):
            return moved.get(value, value)
        if isinstance(value, list):
            return [moved_ids(v) for v in value]
        if isinstance(value, dict):
            return {moved.get(k, k): moved_ids(v) for k, v in value.items()}
        return value

    want = {t: [{k: moved_ids(v) for k, v in row.items()} for row in rows] for t, rows in source.items()}
    # usage rows were numbered by this database, after its own; their order is kept
    assert min(r["id"] for r in got["usage_records"]) > max(r["id"] for r in theirs["usage_records"])
    for rows in (got["usage_records"], want["usage_records"]):
        for row in rows:
            row.pop("id")
    assert_same_rows(got, want)
    async with running(here) as t:
        login = await t.post("/auth/login", json={"email": OWNER, "password": PASSWORD})
        api = Api(t, {"Authorization": f"Bearer {login.json()['access_token']}"})
        view = await api("GET", f"/estimate/{pool['session_id']}")
        assert view["matched_reference_class"]["id"] == moved[pool["matched_reference_class"]["id"]]
        assert own in {c["_id"] for c in await api("GET", "/reference-classes") if not c["is_platform"]}
        again = await api("POST", f"/estimate/{pool['session_id']}/refine", json={"additional_info": "a spa"})
        assert again["matched_reference_class"]["id"] in here_ids.values()
