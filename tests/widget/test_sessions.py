"""Widget sessions: conversation -> estimate -> lead, scoping, expiry, bad input, limits."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select, update

from pricewise.core.base import utcnow
from pricewise.core.security import sha256
from pricewise.estimation.models import Estimation
from pricewise.widget.models import WidgetSession
from tests.widget.support import SITE, as_widget, chat, converse_to_estimate, open_session, widget_tenant


async def test_conversation_estimate_and_contact_make_a_lead(make_client, mailbox):
    client = await make_client(embedded_jobs=True)
    t = await widget_tenant(client, mailbox, "lead@example.com")
    token = await open_session(client, t.publishable_key)
    est = await converse_to_estimate(client, token)
    assert est["estimate"]["cost_p80"] > est["estimate"]["cost_p50"] > 0
    assert est["estimate"]["timeline_weeks_p80"] >= est["estimate"]["timeline_weeks_p50"] > 0
    assert est["estimate"]["cost_breakdown"] and est["assumptions"] and est["risks"]
    assert est["extracted_attributes"]["size_sqft"] == 450 and est["region"] == "SoCal - Coastal"
    # The conversation is the widget's own: its history links the estimate.
    h = await client.get(f"/chat/{est['_conversation']}/history", headers=as_widget(token))
    assert h.status_code == 200 and h.json()["estimation_id"] == est["estimation_id"]
    assert (await client.get("/widget/estimate", headers=as_widget(token))).json()["session_id"] == est["session_id"]
    assert (await client.get("/leads", headers=t.admin)).json() == []
    r = await client.post("/widget/contact", headers=as_widget(token), json={
        "email": "pat@example.com", "name": "Pat Doe", "phone": "+1 619 555 0100", "consent": True})
    assert r.status_code == 200, r.text
    leads = (await client.get("/leads", headers=t.admin)).json()
    assert len(leads) == 1 and leads[0]["customer_name"] == "Pat Doe"
    assert leads[0]["customer_email"] == "pat@example.com" and leads[0]["cost_p50"] > 0
    async with client.app.state.ctx.db.session() as s:
        ws = (await s.execute(select(WidgetSession))).scalar_one()
        row = (await s.execute(select(Estimation))).scalar_one()
    assert ws.customer_info["name"] == "Pat Doe" and ws.customer_info["consent"] is True
    assert ws.estimation_id == row.id and ws.chat_session_id == est["_conversation"]
    assert row.widget_session is True and row.feedback_consent is True
    # Consent: the feedback request e-mail goes out (delay 0 in tests).
    assert "token=" in mailbox.link("pat@example.com", "/feedback/customer")


async def test_contact_without_consent_sends_nothing_and_needs_an_estimate(client, mailbox):
    t = await widget_tenant(client, mailbox, "noconsent@example.com")
    token = await open_session(client, t.publishable_key)
    r = await client.post("/widget/contact", headers=as_widget(token), json={"email": "a@example.com"})
    assert r.status_code == 409 and r.json()["error"]["code"] == "no_estimate"
    await converse_to_estimate(client, token)
    for bad in ({"email": "not-an-email"}, {"email": "a@example.com", "phone": "call me"},
                {"email": "a@example.com", "consent": True, "extra": 1}):
        r = await client.post("/widget/contact", headers=as_widget(token), json=bad)
        assert r.status_code == 422, r.text
    r = await client.post("/widget/contact", headers=as_widget(token), json={"email": "a@example.com"})
    assert r.status_code == 200 and r.json()["feedback_consent"] is False


async def test_a_session_sees_only_what_it_created(client, mailbox):
    t = await widget_tenant(client, mailbox, "scope@example.com")
    other = await widget_tenant(client, mailbox, "scope2@example.com")
    a = await open_session(client, t.publishable_key)
    b = await open_session(client, t.publishable_key)
    c = await open_session(client, other.publishable_key)
    est = await converse_to_estimate(client, a)
    conv = est["_conversation"]
    for token in (b, c):
        r = await client.get(f"/chat/{conv}/history", headers=as_widget(token))
        assert r.status_code == 404, r.text
        r = await chat(client, token, "add a spa", conv)
        assert r.status_code == 404, r.text
        assert (await client.get("/widget/estimate", headers=as_widget(token))).status_code == 404
        r = await client.post("/widget/contact", headers=as_widget(token), json={"email": "x@example.com"})
        assert r.status_code == 409
    # Nor any route outside the widget's: the tenant's estimates, leads, the estimate by id.
    for path in (f"/estimate/{est['session_id']}", "/estimates", "/leads", "/feedback/summary"):
        assert (await client.get(path, headers=as_widget(a))).status_code == 401
    # The conversation B starts is its own; A's is untouched.
    r = await chat(client, b, "I want a kitchen remodel")
    assert r.status_code == 200 and r.json()["session_id"] != conv
    h = (await client.get(f"/chat/{conv}/history", headers=as_widget(a))).json()
    assert all("kitchen" not in m["content"] for m in h["messages"] if m["role"] == "user")
    # The tenant's analysts still use the chat routes as before.
    h = await client.get(f"/chat/{conv}/history", headers=t.admin)
    assert h.status_code == 200 and h.json()["estimation_id"] == est["estimation_id"]


async def test_a_token_works_only_from_its_own_origin(client, mailbox):
    t = await widget_tenant(client, mailbox, "origin@example.com", origins=(SITE, "https://blog.example.com"))
    token = await open_session(client, t.publishable_key)
    for origin in (None, "https://blog.example.com", "https://evil.example.com"):
        headers = {"X-Widget-Session": token} | ({"Origin": origin} if origin else {})
        r = await client.post("/chat/send", json={"message": "a pool"}, headers=headers)
        assert r.status_code == 403 and "access-control-allow-origin" not in r.headers, r.text
    assert (await chat(client, token, "a pool")).status_code == 200
    # The tenant removes the origin: its open sessions stop at once.
    await client.put("/tenants/widget", json={"allowed_origins": ["https://blog.example.com"]}, headers=t.admin)
    assert (await chat(client, token, "a pool")).status_code == 403


async def test_expired_unknown_and_missing_tokens(client, mailbox):
    t = await widget_tenant(client, mailbox, "expiry@example.com")
    token = await open_session(client, t.publishable_key)
    assert (await chat(client, token, "a pool")).status_code == 200
    async with client.app.state.ctx.db.session() as s:
        await s.execute(update(WidgetSession).values(expires_at=utcnow() - timedelta(seconds=1)))
        await s.commit()
    r = await chat(client, token, "a pool")
    assert r.status_code == 401 and r.json()["error"]["code"] == "widget_session_expired"
    assert r.headers["access-control-allow-origin"] == SITE  # the page can read why, and reload
    r = await client.post("/widget/estimate", json={"session_token": token, "description": "a pool"},
                          headers={"Origin": SITE})
    assert r.status_code == 401 and "expired" in r.json()["error"]["message"]
    r = await chat(client, "wst_" + "A" * 43, "a pool")
    assert r.status_code == 401 and r.json()["error"]["code"] == "widget_session_unknown"
    r = await client.post("/widget/estimate", json={"description": "a pool"}, headers={"Origin": SITE})
    assert r.status_code == 401 and r.json()["error"]["code"] == "widget_session_missing"


async def test_oversized_and_bad_messages_are_refused(client, mailbox):
    t = await widget_tenant(client, mailbox, "big@example.com")
    token = await open_session(client, t.publishable_key)
    r = await chat(client, token, "a" * (1024 * 1024))
    assert r.status_code in (413, 422), r.text
    r = await chat(client, token, "b" * 2001)
    assert r.status_code == 422 and r.json()["error"]["fields"]
    r = await client.post("/widget/estimate", headers=as_widget(token), json={"description": "x" * 4001})
    assert r.status_code == 422
    async with client.app.state.ctx.db.session() as s:
        assert (await s.execute(select(WidgetSession))).scalar_one().chat_session_id is None


async def test_session_address_and_tier_limits(make_client, mailbox):
    client = await make_client(widget_session_per_minute=3, widget_new_sessions_per_minute=4,
                               estimates_per_hour_pro=1)
    t = await widget_tenant(client, mailbox, "limits@example.com")
    a = await open_session(client, t.publishable_key)
    codes = [(await chat(client, a, "a pool")).status_code for _ in range(4)]
    assert codes == [200, 200, 200, 429]
    b = await open_session(client, t.publishable_key)
    assert (await chat(client, b, "a pool")).status_code == 200  # another session has its own count
    await open_session(client, t.publishable_key)
    await open_session(client, t.publishable_key)
    r = await client.get("/widget/config", params={"api_key": t.publishable_key}, headers={"Origin": SITE})
    assert r.status_code == 429 and "Retry-After" in r.headers  # new sessions per address
    r = await client.post("/widget/estimate", headers=as_widget(b), json={"description": "15x30 pool in San Diego"})
    assert r.status_code == 200, r.text
    r = await client.post("/widget/estimate", headers=as_widget(b), json={"description": "15x30 pool in San Diego"})
    assert r.status_code == 429 and "estimates per hour" in r.json()["error"]["message"]


async def test_address_limit_spans_sessions(make_client, mailbox):
    client = await make_client(widget_address_per_minute=3)
    t = await widget_tenant(client, mailbox, "addr@example.com")
    tokens = [await open_session(client, t.publishable_key) for _ in range(4)]
    codes = [(await chat(client, tok, "a pool")).status_code for tok in tokens]
    assert codes == [200, 200, 200, 429]


async def test_expired_sessions_are_forgotten_after_a_week(client, mailbox):
    from pricewise.widget.tasks import purge_sessions

    t = await widget_tenant(client, mailbox, "purge@example.com")
    old, recent, live = [await open_session(client, t.publishable_key) for _ in range(3)]
    ctx = client.app.state.ctx
    async with ctx.db.session() as s:
        for token, age in ((old, 8), (recent, 1)):
            await s.execute(update(WidgetSession).where(WidgetSession.token_hash == sha256(token))
                            .values(expires_at=utcnow() - timedelta(days=age)))
        await s.commit()
    assert await purge_sessions(ctx) == 1
    assert (await chat(client, old, "a pool")).json()["error"]["code"] == "widget_session_unknown"
    assert (await chat(client, recent, "a pool")).json()["error"]["code"] == "widget_session_expired"
    assert (await chat(client, live, "a pool")).status_code == 200


async def test_the_spec_shaped_estimate_with_an_email_is_a_lead_at_once(client, mailbox):
    t = await widget_tenant(client, mailbox, "spec@example.com")
    token = await open_session(client, t.publishable_key)
    r = await client.post("/widget/estimate", headers={"Origin": SITE}, json={
        "session_token": token, "description": "15x30 pool with spa in San Diego",
        "customer_email": "sam@example.com"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["customer_email"] == "sam@example.com" and body["estimate"]["cost_p50"] > 0
    assert body["extracted_attributes"]["subcategory"] == "pool"
    leads = (await client.get("/leads", headers=t.admin)).json()
    assert [lead["_id"] for lead in leads] == [body["_id"]]
    # Without a conversation first, the estimate still belongs to this session only.
    got = await client.get("/widget/estimate", headers=as_widget(token))
    assert got.json()["_id"] == body["_id"]
