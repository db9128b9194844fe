"""Scheduled reports are generated when due and e-mailed over SMTP with the PDF attached, once per
due run, for every tenant; the scheduler's body runs here with a fixed "now"."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from email.message import Message
from zoneinfo import ZoneInfo

from sqlalchemy import update

from pricewise.reports.data import money
from pricewise.reports.models import ScheduledReport
from pricewise.reports.service import next_run
from pricewise.reports.tasks import _claim, run_due
from tests.analytics.market import make_market
from tests.reports.test_generated_reports import pdf_text
from tests.support import free_port, signup

SECTIONS = [{"id": "revenue_summary", "name": "Revenue Summary", "prompt": "Generate revenue summary"},
            {"id": "pricing", "name": "Pricing Outlook", "prompt": "What should we charge?",
             "section_type": "recommendations"}]


def _at(wire: str) -> datetime:
    return datetime.fromisoformat(wire.replace("Z", "+00:00"))


def _pdfs(msg: Message) -> list[tuple[str, bytes]]:
    return [(str(p.get_filename()), p.get_payload(decode=True)) for p in msg.walk()
            if p.get_content_type() == "application/pdf"]


async def _schedule(client, headers: dict[str, str] | None = None, **extra) -> dict:
    body = {"name": "Monthly Revenue Report", "schedule_type": "monthly", "timezone": "Europe/Paris",
            "schedule_config": {"day_of_month": 1, "time": "09:00"}, "sections": SECTIONS, **extra}
    r = await client.post("/scheduled-reporting/create", json=body, headers=headers)
    assert r.status_code == 200, r.text
    return r.json()


async def _set_next_run(ctx, schedule_id: str, at: datetime) -> None:
    async with ctx.db.session() as session:  # as a second scheduler that read the schedule earlier
        await session.execute(update(ScheduledReport).where(ScheduledReport.id == schedule_id).values(next_run_at=at))
        await session.commit()


async def test_a_due_report_reaches_each_tenants_recipients_once_with_the_pdf(make_client, mailbox):
    client = await make_client()  # no consumer: the scheduler's body is called with a fixed now
    ctx = client.app.state.ctx
    a = await signup(client, mailbox, "owner@a-reports.example", name="A")
    b = await signup(client, mailbox, "owner@b-reports.example", name="B")
    client.headers.update(a.bearer)
    m = await make_market(client)
    total = (await client.get("/api/analytics/revenue-attribution", params={"product_id": m.product})).json()[
        "totalRevenue"]
    rec = (await client.post("/api/recommendations/generate", json={"customer_segment": m.segment})).json()
    sched_a = await _schedule(client, product_id=m.product, recipients=["cfo@a.example", "ceo@a.example"])
    spas = (await client.post("/product/create", json={"name": "Spas"}, headers=b.bearer)).json()["_id"]
    sched_b = await _schedule(client, b.bearer, product_id=spas, recipients=["owner@b.example"])
    due = _at(sched_a["next_run_at"])
    assert _at(sched_b["next_run_at"]) == due
    local = due.astimezone(ZoneInfo("Europe/Paris"))
    assert (local.day, local.hour, local.minute) == (1, 9, 0)  # 09:00 on the 1st, Paris time
    before = len(mailbox.messages)

    assert await run_due(ctx, now=due - timedelta(seconds=1)) == 0  # not yet due
    assert len(mailbox.messages) == before
    now = due + timedelta(seconds=20)
    assert await run_due(ctx, now=now) == 2

    mail_a = mailbox.wait_for("cfo@a.example")
    assert "ceo@a.example" in mail_a["To"] and mail_a["Subject"].startswith("Monthly Revenue Report")
    [(name, pdf)] = _pdfs(mail_a)
    assert name.startswith("monthly-revenue-report-") and name.endswith(".pdf") and pdf.startswith(b"%PDF")
    text, images = pdf_text(pdf)  # pypdf opens it
    assert images >= 1
    for expected in ("Monthly Revenue Report", "Revenue Summary", "Pricing Outlook", "Product: Analytics",
                     money(total), f"{rec['recommended_price']:.2f}"):
        assert expected in text, expected
    assert "Spas" not in text
    [(_, pdf_b)] = _pdfs(mailbox.wait_for("owner@b.example"))
    text_b, _ = pdf_text(pdf_b)
    assert "Product: Spas" in text_b and "No revenue data for Spas" in text_b and money(total) not in text_b
    body = mailbox.body(mail_a)
    assert "Revenue Summary" in body and "http://testserver/api/reports/" in body

    # the same due run again (a retried job), and a second scheduler that read the schedule before
    # the first moved it on: nothing more is sent
    assert await run_due(ctx, now=now) == 0
    await _set_next_run(ctx, sched_a["_id"], due)
    assert await run_due(ctx, now=now + timedelta(seconds=5)) == 0
    assert len(mailbox.messages) == before + 2

    listed = {s["_id"]: s for s in (await client.get("/scheduled-reporting/list")).json()}
    mine = listed[sched_a["_id"]]
    assert mine["last_delivery_status"] == "sent to 2 recipient(s)" and _at(mine["last_run_at"]) == now
    assert _at(mine["next_run_at"]) == next_run("0 9 1 * *", "Europe/Paris", after=now) > now
    deliveries = await client.get(f"/scheduled-reporting/{sched_a['_id']}/deliveries")
    assert deliveries.headers["x-total-count"] == "1"
    [d] = deliveries.json()
    assert d["status"] == "sent" and d["recipients"] == ["cfo@a.example", "ceo@a.example"]
    assert d["run_key"] == f"{sched_a['_id']}:{due.strftime('%Y%m%dT%H%M')}Z"
    assert (await client.get(d["download_url"])).content == pdf  # the attachment is the stored report
    assert (await client.get(f"/scheduled-reporting/{sched_a['_id']}/deliveries", headers=b.bearer)).status_code == 404
    assert (await client.get(d["download_url"], headers=b.bearer)).status_code == 404


async def test_paused_schedules_wait_and_an_abandoned_claim_is_taken_over(make_client, mailbox):
    client = await make_client(auth_mode="local")
    ctx = client.app.state.ctx
    tenant = ctx.local_principal.tenant_id
    paused = await _schedule(client, recipients=["paused@x.example"])
    r = await client.post("/scheduled-reporting/pause", json={"id": paused["_id"]})
    assert r.json()["status"] == "paused" and r.json()["next_run_at"] is None
    sched = await _schedule(client, recipients=["team@x.example"], schedule_type="daily",
                            schedule_config={"time": "07:30"}, timezone="America/New_York")
    due = _at(sched["next_run_at"])
    assert due.astimezone(ZoneInfo("America/New_York")).strftime("%H:%M") == "07:30"

    # a scheduler claims the run, then dies before sending it
    assert await _claim(ctx, tenant, sched["_id"], due) is not None
    assert await run_due(ctx, now=due + timedelta(minutes=1)) == 0  # the claim is still fresh
    assert mailbox.messages == []
    assert await run_due(ctx, now=due + timedelta(minutes=16)) == 1  # past the lease: taken over
    [(_, pdf)] = _pdfs(mailbox.wait_for("team@x.example"))
    assert "No revenue data" in pdf_text(pdf)[0]
    assert not any("paused@x.example" in str(msg["To"]) for msg in mailbox.messages)

    resumed = (await client.post("/scheduled-reporting/resume", json={"id": paused["_id"]})).json()
    assert resumed["status"] == "active" and resumed["next_run_at"] is not None


async def test_an_smtp_failure_or_no_recipients_is_recorded(make_client, mailbox):
    client = await make_client(auth_mode="local", smtp_port=free_port())  # nothing listens there
    ctx = client.app.state.ctx
    failing = await _schedule(client, recipients=["cfo@x.example"])
    silent = await _schedule(client, recipients=[], name="Archive only")
    due = _at(failing["next_run_at"])
    assert await run_due(ctx, now=due) == 0
    listed = {s["_id"]: s for s in (await client.get("/scheduled-reporting/list")).json()}
    assert listed[failing["_id"]]["last_delivery_status"].startswith("failed: the SMTP server did not accept")
    assert listed[silent["_id"]]["last_delivery_status"] == "skipped: no recipients"
    [d] = (await client.get(f"/scheduled-reporting/{failing['_id']}/deliveries")).json()
    assert d["status"] == "failed" and d["download_url"] is None and d["report_id"]
    report = (await client.get(f"/api/reports/{d['report_id']}/status")).json()
    assert report["status"] == "completed"  # the report itself was made and is kept
    assert mailbox.messages == []


async def test_two_schedulers_at_once_send_a_due_run_once(make_client, mailbox):
    first = await make_client(auth_mode="local")
    second = await make_client(auth_mode="local")  # another process's engine on the same database
    sched = await _schedule(first, recipients=["ops@x.example"], schedule_type="weekly",
                            schedule_config={"day_of_week": 2, "time": "06:15"}, timezone="Asia/Tokyo")
    due = _at(sched["next_run_at"])
    assert due.astimezone(ZoneInfo("Asia/Tokyo")).strftime("%a %H:%M") == "Wed 06:15"
    now = due + timedelta(seconds=3)
    sent = await asyncio.gather(run_due(first.app.state.ctx, now=now), run_due(second.app.state.ctx, now=now))
    assert sorted(sent) == [0, 1]
    assert [m["To"] for m in mailbox.messages] == ["ops@x.example"]
    [d] = (await second.get(f"/scheduled-reporting/{sched['_id']}/deliveries")).json()
    assert d["status"] == "sent"
