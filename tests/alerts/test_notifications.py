"""Who hears of alerts: a churn spike found by the job a customers import queues, immediate e-mails
sent by the queued job, daily digests, and each user's notification preferences."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from email.message import Message
from typing import Any

import pytest

from pricewise.alerts.tasks import send_digests
from tests.alerts.test_alerts import alerts, ok, pair
from tests.analytics.market import months_back
from tests.support import Mailbox, signup


async def mails(mailbox: Mailbox, to: str, subject: str, tries: int = 400) -> list[Message]:
    """The messages to `to` whose subject contains `subject`, once there is at least one."""
    for _ in range(tries):  # the embedded consumer polls its queue at most every second
        hits = [m for m in mailbox.messages if to in str(m["To"]) and subject in str(m["Subject"])]
        if hits:
            return hits
        await asyncio.sleep(0.05)
    raise AssertionError(f"no mail to {to} about {subject!r}; got {[m['Subject'] for m in mailbox.messages]}")


async def test_a_customers_import_with_a_churn_spike_raises_it_for_plan_and_segment(make_client, mailbox):
    client = await make_client(embedded_jobs=True, rate_limit_requests_per_minute=100_000)
    a = await signup(client, mailbox, "owner@churn.example", name="A")
    ctx = client.app.state.ctx
    product, seg, plan = await pair(client, a, "SMB")
    sub = ctx.events.subscribe(a.tenant_id)
    months = months_back(7)  # the six months before last month, and last month
    signup_day = (months[0] - timedelta(days=200)).isoformat()
    lines, n = [], 0
    for i, m in enumerate(months):
        for _ in range(12 if i == len(months) - 1 else 2):  # 2 a month, then 12
            n += 1
            lines.append(f"c{n},Customer {n},SMB,Pro,100,1,{signup_day},{(m + timedelta(days=9)).isoformat()}")
    lines += [f"k{i},Kept {i},SMB,Pro,100,1,{signup_day}," for i in range(150)]
    csv = "customer_uid,name,segment,plan,monthly_revenue,seats,signup_date,churned_at\n" + "\n".join(lines) + "\n"
    r = await client.post("/imports/customers", files={"file": ("customers.csv", csv.encode(), "text/csv")},
                          headers=a.bearer)
    assert r.status_code == 201, r.text

    seen: list[Any] = []
    for _ in range(120):  # the import queued the check; the embedded consumer runs it
        ev = await sub.get(1.0)
        if ev is not None and ev.type == "alert_created" and ev.data["type"] == "churn_spike":
            seen.append(ev)
            if len(seen) == 2:
                break
    assert len(seen) == 2
    found, total = await alerts(client, a, type="churn_spike")
    assert total == 2
    by_subject = {(x["pricing_model"], x["customer_segment"]): x for x in found}
    assert set(by_subject) == {(plan, None), (None, seg)}
    spike = by_subject[(plan, None)]
    assert spike["product"] == product and spike["severity"] == "critical"
    t = spike["trigger_data"]
    assert t["month"] == months[-1].strftime("%Y-%m") and t["churned"] == 12
    assert t["active_at_start"] == 150 + 12 and t["churn_rate"] == pytest.approx(12 / 162, abs=1e-4)
    assert "12 of the 162 customers of plan Pro" in spike["message"]


async def test_an_immediate_preference_gets_one_email_from_the_queued_job(make_client, mailbox):
    client = await make_client(embedded_jobs=True, rate_limit_requests_per_minute=100_000)
    a = await signup(client, mailbox, "owner@now-a.example", name="A")
    b = await signup(client, mailbox, "owner@now-b.example", name="B")
    for acct in (a, b):
        pref = await ok(client, "POST", "/api/notification-preferences", acct, {
            "alert_types": ["price_anomaly"], "channels": ["email"], "frequency": "immediate"})
        assert pref["frequency"] == "immediate" and pref["product"] is None
    _, _, plan = await pair(client, a, "SMB", price=50.0)
    await ok(client, "PUT", "/pricing-plan/update", a, {"id": plan, "unit_price": 90.0})
    (alert,), _ = await alerts(client, a)

    (msg,) = await mails(mailbox, a.email, "Alert (medium)")
    assert alert["title"] in str(msg["Subject"])
    body = mailbox.body(msg)
    assert alert["message"] in body and alert["_id"] in body and "immediate" in body
    for _ in range(200):  # marked as notified by the job, right after sending
        alert = await ok(client, "GET", f"/api/alerts/{alert['_id']}", a)
        if alert["notified_at"]:
            break
        await asyncio.sleep(0.05)
    assert alert["notified_at"] is not None
    assert len([m for m in mailbox.messages if a.email in str(m["To"]) and "Alert" in str(m["Subject"])]) == 1
    assert not [m for m in mailbox.messages if b.email in str(m["To"]) and "Alert" in str(m["Subject"])]


async def test_a_daily_digest_sends_what_accumulated_once(make_client, mailbox):
    client = await make_client(rate_limit_requests_per_minute=100_000)
    ctx = client.app.state.ctx
    a = await signup(client, mailbox, "owner@digest-a.example", name="A")
    b = await signup(client, mailbox, "owner@digest-b.example", name="B")
    for acct in (a, b):
        await ok(client, "POST", "/api/notification-preferences", acct, {
            "alert_types": ["price_anomaly", "revenue_drop"], "channels": ["email", "in_app"],
            "frequency": "daily"})
    _, _, plan = await pair(client, a, "SMB", price=50.0, cogs=40.0)
    await ok(client, "PUT", "/pricing-plan/update", a, {"id": plan, "unit_price": 90.0, "cogs_per_unit": 100.0})
    raised, total = await alerts(client, a)
    assert total == 2  # the +80% change, and the price below its cost

    assert await send_digests(ctx, "hourly") == 0  # nobody asked for hourly
    assert await send_digests(ctx, "daily") == 1  # B has no alert: no e-mail
    (msg,) = await mails(mailbox, a.email, "daily alert digest")
    assert str(msg["Subject"]) == "Your daily alert digest: 2 alert(s)"
    body = mailbox.body(msg)
    assert all(x["title"] in body for x in raised)
    assert not [m for m in mailbox.messages if b.email in str(m["To"]) and "digest" in str(m["Subject"])]
    (pref,) = await ok(client, "GET", "/api/notification-preferences", a)
    assert pref["last_sent_at"] is not None

    assert await send_digests(ctx, "daily") == 0  # nothing new since
    await ok(client, "PUT", "/pricing-plan/update", a, {"id": plan, "unit_price": 200.0})
    assert await send_digests(ctx, "daily") == 1
    latest = (await mails(mailbox, a.email, "daily alert digest"))[-1]
    assert str(latest["Subject"]) == "Your daily alert digest: 1 alert(s)" and "+122%" in mailbox.body(latest)


async def test_preferences_are_each_users_own_and_checked(make_client, mailbox):
    client = await make_client(rate_limit_requests_per_minute=100_000)
    a = await signup(client, mailbox, "owner@prefs-a.example", name="A")
    b = await signup(client, mailbox, "owner@prefs-b.example", name="B")
    product = (await ok(client, "POST", "/product/create", a, {"name": "Analytics"}))["_id"]
    theirs = (await ok(client, "POST", "/product/create", b, {"name": "Theirs"}))["_id"]

    async def post(body: dict[str, Any], headers: dict[str, str] | None = None) -> Any:
        return await client.post("/api/notification-preferences", json=body, headers=headers or a.bearer)

    for body, field in (({"alert_types": ["bogus"]}, "alert_types"), ({"alert_types": []}, "alert_types"),
                        ({"channels": ["slack"]}, "channels"), ({"frequency": "weekly"}, "frequency"),
                        ({"is_active": "yes"}, "is_active")):
        r = await post(body)
        assert r.status_code == 422 and field in r.text, (body, r.text)
    r = await post({"product": theirs})
    assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"
    r = await post({}, a.key_headers)  # an API key is no user
    assert r.status_code == 403 and "signed-in user" in r.text
    assert (await client.get("/api/notification-preferences", headers=a.key_headers)).json() == []

    first = await post({"product": product, "alert_types": ["churn_spike", "churn_spike"], "frequency": "hourly"})
    assert first.status_code == 201
    made = first.json()
    assert made["alert_types"] == ["churn_spike"] and made["channels"] == ["email", "in_app"]
    replaced = await post({"product": product, "alert_types": ["revenue_drop"], "channels": ["in_app"]})
    assert replaced.status_code == 200 and replaced.json()["_id"] == made["_id"]
    assert replaced.json()["frequency"] == "immediate" and replaced.json()["channels"] == ["in_app"]
    everything = await post({})
    assert everything.status_code == 201 and len(everything.json()["alert_types"]) == 4
    listed = await ok(client, "GET", "/api/notification-preferences", a)
    assert {p["_id"] for p in listed} == {made["_id"], everything.json()["_id"]}
    assert await ok(client, "GET", "/api/notification-preferences", b) == []

    gone = await client.delete(f"/api/notification-preferences/{made['_id']}", headers=b.bearer)
    assert gone.status_code == 404
    assert (await ok(client, "DELETE", f"/api/notification-preferences/{made['_id']}", a)) == {"success": True}
    assert [p["_id"] for p in await ok(client, "GET", "/api/notification-preferences", a)] == [
        everything.json()["_id"]]
    assert (await client.delete(f"/api/notification-preferences/{made['_id']}",
                                headers=a.bearer)).status_code == 404

