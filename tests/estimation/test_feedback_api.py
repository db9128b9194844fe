"""Outcomes: the magic link e-mailed to a consenting customer, contractor feedback, the summary,
and the calibration that outcomes feed into later estimates."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs, urlparse

import jwt
import pytest
from sqlalchemy import func, select, update

from pricewise.accounts.models import Tenant
from pricewise.core.security import encode_jwt
from pricewise.estimation.models import Estimation, Feedback
from tests.support import Mailbox, OpenAIStub, signup


async def feedback_rows(client: Any) -> int:
    async with client.app.state.ctx.db.session() as s:
        return int((await s.execute(select(func.count()).select_from(Feedback))).scalar_one())


async def wait_mail(mailbox: Mailbox, to: str) -> str:
    for _ in range(300):  # the e-mail is sent by the embedded job consumer
        if any(to in str(m["To"]) for m in mailbox.messages):
            return mailbox.link(to, "/feedback/customer")
        await asyncio.sleep(0.05)
    raise AssertionError(f"no feedback e-mail to {to}")


async def test_magic_link_feedback_is_single_use(make_client, mailbox: Mailbox):
    client = await make_client(auth_mode="local", embedded_jobs=True)
    r = await client.post("/estimate/start", json={
        "description": "15x30 pool with spa in San Diego", "customer_email": "pat@example.com",
        "feedback_consent": True})
    assert r.status_code == 200, r.text
    est = r.json()
    link = await wait_mail(mailbox, "pat@example.com")
    token = parse_qs(urlparse(link).query)["token"][0]
    body = {"estimation_id": est["estimation_id"], "actual_cost": est["estimate"]["cost_p50"] * 1.1,
            "actual_timeline_weeks": 9, "accuracy_rating": 4, "comments": "Soil was harder than expected"}
    # no credentials at all: the token is the credential
    anon = client.headers.copy()
    r = await client.post("/feedback/customer", params={"token": token}, json=body, headers=anon)
    assert r.status_code == 201, r.text
    fb = r.json()
    assert fb["variance_cost_pct"] == pytest.approx(10.0, abs=0.1)
    assert fb["submitted_by"] == "pat@example.com"
    again = await client.post("/feedback/customer", params={"token": token}, json=body)
    assert again.status_code == 409 and again.json()["error"]["code"] == "link_used"
    assert await feedback_rows(client) == 1
    got = (await client.get(f"/estimate/{est['session_id']}")).json()
    assert got["status"] == "feedback_submitted"


async def test_expired_forged_and_misdirected_links_are_refused(make_client, mailbox: Mailbox):
    client = await make_client(auth_mode="local", embedded_jobs=True)
    ests = []
    for who in ("x@example.com", "y@example.com"):
        r = await client.post("/estimate/start", json={"description": "bathroom remodel in Fresno",
                                                       "customer_email": who, "feedback_consent": True})
        ests.append(r.json())
    link = await wait_mail(mailbox, "x@example.com")
    token = parse_qs(urlparse(link).query)["token"][0]
    claims = jwt.decode(token, options={"verify_signature": False})
    body = {"estimation_id": ests[1]["estimation_id"], "actual_cost": 20000}
    r = await client.post("/feedback/customer", params={"token": token}, json=body)
    assert r.status_code == 422 and r.json()["error"]["fields"][0]["field"] == "estimation_id"
    keys = client.app.state.ctx.keys
    expired = encode_jwt(keys.jwt, {k: claims[k] for k in ("typ", "sub", "tid", "eid")}, timedelta(seconds=-60))
    r = await client.post("/feedback/customer", params={"token": expired},
                          json={**body, "estimation_id": ests[0]["estimation_id"]})
    assert r.status_code == 401 and r.json()["error"]["code"] == "link_expired"
    forged = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
    r = await client.post("/feedback/customer", headers={"X-Feedback-Token": forged},
                          json={**body, "estimation_id": ests[0]["estimation_id"]})
    assert r.status_code == 401 and r.json()["error"]["code"] == "link_invalid"
    assert await feedback_rows(client) == 0


async def test_no_consent_no_email(make_client, mailbox: Mailbox):
    client = await make_client(auth_mode="local", embedded_jobs=True)
    await client.post("/estimate/start", json={"description": "new roof", "customer_email": "no@example.com"})
    await client.post("/estimate/start", json={"description": "new roof", "customer_email": "yes@example.com",
                                               "feedback_consent": True})
    await wait_mail(mailbox, "yes@example.com")
    assert not any("no@example.com" in str(m["To"]) for m in mailbox.messages)


@pytest.mark.parametrize("patch, field", [
    ({"actual_cost": -5}, "actual_cost"),
    ({"actual_cost": 0}, "actual_cost"),
    ({"actual_cost": "lots"}, "actual_cost"),
    ({"actual_timeline_weeks": -1}, "actual_timeline_weeks"),
    ({"accuracy_rating": 9}, "accuracy_rating"),
])
async def test_bad_feedback_is_refused_and_nothing_written(make_client, patch, field):
    client = await make_client(auth_mode="local")
    est = (await client.post("/estimate/start", json={"description": "kitchen remodel"})).json()
    r = await client.post("/feedback/contractor", json={"estimation_id": est["estimation_id"],
                                                        "actual_cost": 30000, **patch})
    assert r.status_code == 422
    assert r.json()["error"]["fields"][0]["field"].endswith(field)
    assert await feedback_rows(client) == 0


async def test_contractor_breakdown_must_add_up_and_flags_are_computed(make_client):
    client = await make_client(auth_mode="local")
    est = (await client.post("/estimate/start", json={"description": "15x30 pool in San Diego"})).json()
    eid = est["estimation_id"]
    p80 = est["estimate"]["cost_p80"]
    wrong = {"materials": 1000, "labor": 1000}
    r = await client.post("/feedback/contractor", json={"estimation_id": eid, "actual_cost": p80 * 1.2,
                                                        "actual_breakdown": wrong})
    assert r.status_code == 422 and r.json()["error"]["fields"][0]["field"] == "actual_breakdown"
    actual = round(p80 * 1.2)
    parts = {"materials": actual - 20000, "labor": 15000, "rock_removal": 5000}
    r = await client.post("/feedback/contractor", json={
        "estimation_id": est["session_id"], "actual_cost": actual, "actual_timeline_weeks": 12,
        "actual_breakdown": parts, "discrepancy_explanation": "Encountered rock layer, required additional "
                                                             "excavation"})
    assert r.status_code == 201, r.text
    flags = r.json()["discrepancy_flags"]
    assert flags["hidden_costs"] is True and flags["scope_creep"] is True and flags["market_changes"] is False
    summary = (await client.get("/feedback/summary")).json()
    assert summary["total_estimates"] == 1 and summary["feedback_submissions"] == 1
    assert summary["feedback_rate"] == 1.0
    assert summary["accuracy_metrics"]["within_20_pct"] == 0.0
    (name, entry), = summary["by_reference_class"].items()
    assert name == est["matched_reference_class"]["name"] and entry["count"] == 1


async def test_roles_contractor_feedback_needs_an_admin(client, mailbox: Mailbox):
    a = await signup(client, mailbox, "boss@example.com")
    est = (await client.post("/estimate/start", json={"description": "new roof"}, headers=a.bearer)).json()
    keys = {}
    for role in ("viewer", "analyst"):
        r = await client.post("/api-keys", json={"name": role, "role": role}, headers=a.bearer)
        assert r.status_code in (200, 201), r.text
        keys[role] = {"X-API-Key": r.json()["api_key"]}
    body = {"estimation_id": est["estimation_id"], "actual_cost": 15000}
    assert (await client.post("/feedback/contractor", json=body, headers=keys["analyst"])).status_code == 403
    # a viewer reads but does not estimate
    assert (await client.post("/estimate/start", json={"description": "new roof"},
                              headers=keys["viewer"])).status_code == 403
    assert (await client.get(f"/estimate/{est['session_id']}", headers=keys["viewer"])).status_code == 200
    ok = await client.post("/feedback/contractor", json=body, headers=a.bearer)
    assert ok.status_code == 201, ok.text


async def test_outcomes_calibrate_later_estimates(make_client):
    client = await make_client(auth_mode="local")
    desc = {"description": "midrange kitchen remodel, 200 sq ft", "region": "SoCal - Coastal"}
    first = (await client.post("/estimate/start", json=desc)).json()
    assert first["calibration"]["applied"] is False
    p50 = first["estimate"]["cost_p50"]
    for k in range(8):  # every such kitchen came in about 30% over
        e = (await client.post("/estimate/start", json=desc)).json()
        r = await client.post("/feedback/contractor", json={"estimation_id": e["estimation_id"],
                                                            "actual_cost": p50 * (1.28 + 0.01 * k)})
        assert r.status_code == 201, r.text
    later = (await client.post("/estimate/start", json=desc)).json()
    assert later["calibration"]["applied"] is True
    assert later["estimate"]["cost_p50"] > p50 * 1.1
    assert any("Calibration" in f["label"] for f in later["estimate"]["factors"])
    async with client.app.state.ctx.db.session() as s:
        assert (await s.execute(select(func.count()).select_from(Estimation))).scalar_one() == 10


async def test_platform_evidence_calibrates_a_tenant_without_outcomes(client, mailbox: Mailbox):
    from pricewise.estimation.tasks import refit_platform

    a = await signup(client, mailbox, "pa@example.com")
    b = await signup(client, mailbox, "pb@example.com", name="B")
    async with client.app.state.ctx.db.session() as s:  # enough estimates an hour for the test
        await s.execute(update(Tenant).values(tier="enterprise"))
        await s.commit()
    desc = {"description": "midrange kitchen remodel, 200 sq ft", "region": "SoCal - Coastal"}
    first_b = (await client.post("/estimate/start", json=desc, headers=b.bearer)).json()
    for k in range(8):  # A's kitchens all came in about 30% over
        e = (await client.post("/estimate/start", json=desc, headers=a.bearer)).json()
        r = await client.post("/feedback/contractor", headers=a.bearer, json={
            "estimation_id": e["estimation_id"], "actual_cost": e["estimate"]["cost_p50"] * (1.28 + 0.01 * k)})
        assert r.status_code == 201, r.text
    assert await refit_platform(client.app.state.ctx) == 8  # the job body: no consumer runs here
    later_b = (await client.post("/estimate/start", json=desc, headers=b.bearer)).json()
    assert later_b["calibration"]["applied"] is True and later_b["calibration"]["source"] == "platform"
    assert later_b["estimate"]["cost_p50"] > first_b["estimate"]["cost_p50"] * 1.1
    # B learns the class's bias, nothing of A's projects
    summary_b = (await client.get("/feedback/summary", headers=b.bearer)).json()
    assert summary_b["feedback_submissions"] == 0 and summary_b["by_reference_class"] == {}


async def test_a_pro_tenant_uses_its_own_llm_key_and_a_trial_tenant_none(client, mailbox: Mailbox,
                                                                          openai_stub: OpenAIStub):
    pro = await signup(client, mailbox, "pro@example.com")
    trial = await signup(client, mailbox, "trial@example.com", name="T")
    async with client.app.state.ctx.db.session() as s:
        await s.execute(update(Tenant).where(Tenant.id == pro.tenant_id).values(tier="pro"))
        await s.commit()
    client.app.state.ctx.settings.openai_base_url = openai_stub.base_url
    r = await client.put("/tenants/settings", json={"openai_api_key": "sk-test-good-key-1234"}, headers=pro.bearer)
    assert r.status_code == 200, r.text
    before = len(openai_stub.posts)
    r = await client.post("/estimate/start", json={"description": "a new roof in Fresno"}, headers=trial.bearer)
    assert r.status_code == 200 and len(openai_stub.posts) == before  # no key: rules and template only
    r = await client.post("/estimate/start", json={"description": "a new roof in Fresno"}, headers=pro.bearer)
    assert r.status_code == 200, r.text
    calls = openai_stub.posts[before:]
    assert calls and {c["key"] for c in calls} == {"sk-test-good-key-1234"}
    assert "sk-test-good-key-1234" not in r.text
