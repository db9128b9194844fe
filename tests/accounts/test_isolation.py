"""The isolation matrix, built from the app's route table so that a new route is covered the day it
is added: another tenant's object is not found (404, never 403 or 200), nothing but the public
routes answers without credentials, a viewer changes nothing, and a widget session token is a
credential of the widget's routes only, where it reaches nothing but what its own session made.

When a test here fails because of a new route, it says which table below to extend.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi.routing import APIRoute, iter_route_contexts
from sqlalchemy import update

from pricewise.accounts.models import Tenant, User
from pricewise.core.ids import new_id
from pricewise.core.security import hash_password
from tests.support import PASSWORD, Account, signup
from tests.widget.support import SITE, as_widget, chat, converse_to_estimate, open_session

# Routes that answer without credentials.
PUBLIC = {
    ("GET", "/health"), ("GET", "/health/ready"), ("POST", "/tenants/register"), ("POST", "/auth/login"),
    ("POST", "/auth/refresh"), ("POST", "/auth/logout"), ("GET", "/auth/verify-email"),
    ("POST", "/auth/accept-invite"),
    ("POST", "/feedback/customer"),  # the magic link's token is the credential (or a JWT)
    # The widget: its publishable key or session token is the credential (tests/widget).
    ("GET", "/widget.js"), ("GET", "/widget/config"), ("POST", "/widget/estimate"), ("GET", "/widget/estimate"),
    ("POST", "/widget/contact"),
}
# Routes with a writing method that a viewer may call: reads sent as POST, or calls that change
# nothing of the tenant's data.
VIEWER_MAY_WRITE = {("POST", "/auth/resend-verification"), ("POST", "/search"), ("POST", "/api/scenarios/compare"),
                    # each user's own notification preferences
                    ("POST", "/api/notification-preferences"),
                    ("DELETE", "/api/notification-preferences/{preference_id}")}
VIEWER_MAY_WRITE |= {("POST", "/api/knowledge/search")}
# Path parameter -> the kind of object it names (a key of what `makers` below returns).
ID_PARAMS = {"key_id": "api_key", "user_id": "user", "segment_id": "segment", "plan_id": "plan",
             "link_id": "link", "import_id": "data_import", "analysis_id": "usage_analysis",
             "experiment_id": "experiment", "scenario_id": "scenario", "alert_id": "alert",
             "preference_id": "notification_preference"}
ID_PARAMS |= {"document_id": "document"}
ID_PARAMS |= {"report_id": "generated_report", "schedule_id": "scheduled_report"}
ID_PARAMS |= {"invocation_id": "run"}
ID_PARAMS |= {"invite_id": "invitation"}
ID_PARAMS |= {"session_id": "estimate", "conversation_id": "conversation", "class_id": "reference_class",
              "lead_id": "lead"}
ID_PARAMS |= {"widget_key_id": "widget_key"}
# Path parameters that name a kind of thing rather than an object, with a valid value.
FIXED_PARAMS = {"kind": "revenue"}
# A valid request body for routes whose body has required fields or must not be empty.
SAMPLE_BODIES: dict[tuple[str, str], dict[str, Any]] = {
    ("PATCH", "/users/{user_id}"): {"role": "viewer"},
    ("POST", "/estimate/{session_id}/refine"): {"additional_info": "heated"},
}
WRITES = {"POST", "PUT", "PATCH", "DELETE"}


@dataclass(frozen=True)
class Endpoint:
    method: str
    path: str
    params: tuple[str, ...]
    has_body: bool

    def url(self, ids: dict[str, str]) -> str:
        return re.sub(r"{(\w+)(:\w+)?}", lambda m: ids[m.group(1)], self.path)

    @property
    def body(self) -> dict[str, Any] | None:
        if not self.has_body:
            return None
        return SAMPLE_BODIES.get((self.method, self.path), {})

    def __str__(self) -> str:
        return f"{self.method} {self.path}"


def endpoints(app: Any) -> list[Endpoint]:
    """Every (method, path) the app serves through an APIRoute, included routers flattened."""
    out: list[Endpoint] = []
    for rc in iter_route_contexts(app.routes):
        route = rc.original_route
        if not isinstance(route, APIRoute):
            continue  # /openapi.json, /docs, /redoc: starlette routes without data
        path = str(rc.path)
        if path.startswith("/console"):
            continue  # HTML pages on the console's cookie session: tests/console/ asserts their isolation
        params = tuple(re.findall(r"{(\w+)", path))
        for method in sorted(rc.methods or ()):
            if method in ("HEAD", "OPTIONS"):
                continue
            out.append(Endpoint(method, path, params, route.body_field is not None))
    assert out, "no APIRoute found in the app"
    return out


def makers(client: Any, acct: Account) -> dict[str, Callable[[], Awaitable[str]]]:
    """For each kind in ID_PARAMS, a way to make a fresh object of that tenant and return its id."""

    async def ok(method: str, url: str, body: dict[str, Any]) -> dict[str, Any]:
        r = await client.request(method, url, json=body, headers=acct.bearer)
        assert r.status_code in (200, 201), f"{method} {url}: {r.status_code} {r.text}"
        out: dict[str, Any] = r.json()
        return out

    async def api_key() -> str:
        return str((await ok("POST", "/api-keys", {"name": "fresh", "role": "analyst"}))["id"])

    async def user() -> str:
        async with client.app.state.ctx.db.session() as s:
            row = User(id=new_id(), tenant_id=acct.tenant_id, email=f"{new_id()}@users.example",
                       name="Extra", password_hash=hash_password(PASSWORD), role="analyst")
            s.add(row)
            await s.commit()
            return row.id

    async def segment() -> str:
        made = await ok("POST", "/customer-segment/create",
                        {"customer_segment_name": "SMB", "customer_segment_uid": new_id()})
        return str(made["_id"])

    async def plan() -> str:
        return str((await ok("POST", "/pricing-plan/create", {"plan_name": "Pro", "unit_price": 49.0}))["_id"])

    async def link() -> str:  # a customer segment linked to a pricing plan
        made = await ok("POST", "/customer-segment/pricing-plan/link/create",
                        {"customer_segment_id": await segment(), "pricing_plan_id": await plan()})
        return str(made["_id"])

    async def data_import() -> str:  # a CSV upload of one revenue row
        uid, plan_name = new_id(), f"Plan {new_id()}"
        await ok("POST", "/customer-segment/create", {"customer_segment_name": "SMB", "customer_segment_uid": uid})
        await ok("POST", "/pricing-plan/create", {"plan_name": plan_name, "unit_price": 10.0})
        csv = f"date,value,segment,plan\n2024-01-01,100,{uid},{plan_name}\n".encode()
        r = await client.post("/imports/revenue", files={"file": ("rev.csv", csv, "text/csv")},
                              headers=acct.bearer)
        assert r.status_code == 201, r.text
        return str(r.json()["_id"])

    async def usage_analysis() -> str:
        product = (await ok("POST", "/product/create", {"name": "P"}))["_id"]
        return str((await ok("POST", "/api/usage-analysis", {
            "product": product, "customer_uid": "c", "customer_task_to_agent": "t",
            "predicted_customer_satisfaction_response": 5}))["_id"])

    async def experiment() -> str:  # running, so that its results can be read
        return str((await ok("POST", "/api/experiments", {
            "name": "E", "experiment_type": "price_change", "baseline_pricing": await plan(), "status": "running",
            "experimental_pricing": {"unit_price": 55.0}}))["_id"])

    async def scenario() -> str:  # a product with one month of revenue
        product = (await ok("POST", "/product/create", {"name": "S"}))["_id"]
        await ok("POST", "/api/analytics/segment-contribution", {
            "product": product, "customer_segment": await segment(), "pricing_plan": await plan(),
            "revenue_ts_data": [{"date": "2024-01-01", "value": 100}]})
        return str((await ok("POST", "/api/scenarios", {"name": "S", "product": product,
                                                        "scenario_type": "realistic"}))["_id"])

    async def generated_report() -> str:  # completed by its job's body: no consumer runs here
        from pricewise.reports.tasks import generate

        made = await ok("POST", "/api/reports/generate", {"template_id": "revenue_report"})
        await generate(client.app.state.ctx, acct.tenant_id, made["report_id"])
        return str(made["report_id"])

    async def scheduled_report() -> str:
        return str((await ok("POST", "/scheduled-reporting/create", {
            "name": "R", "schedule_type": "daily", "sections": [{"id": "s", "name": "S", "prompt": "p"}]}))["_id"])

    makers_of_reports = {"generated_report": generated_report, "scheduled_report": scheduled_report}

    async def document() -> str:  # an upload waiting for its job: no consumer runs here
        product = (await ok("POST", "/product/create", {"name": "D"}))["_id"]
        r = await client.post("/api/knowledge/upload", data={"product_id": product}, headers=acct.bearer,
                              files={"file": ("notes.md", b"# Notes\n\nSome text.\n", "text/markdown")})
        assert r.status_code == 201, r.text
        return str(r.json()["_id"])

    makers_of_reports["document"] = document

    async def alert() -> str:  # a price change beyond +/-50% raises a price_anomaly alert
        await ok("PUT", "/pricing-plan/update", {"id": await plan(), "unit_price": 149.0})
        r = await client.get("/api/alerts", params={"limit": 1}, headers=acct.bearer)
        return str(r.json()[0]["_id"])

    async def notification_preference() -> str:  # one per user and product: a new product each time
        product = (await ok("POST", "/product/create", {"name": "N"}))["_id"]
        return str((await ok("POST", "/api/notification-preferences", {"product": product}))["_id"])

    makers_of_reports |= {"alert": alert, "notification_preference": notification_preference}

    async def run() -> str:  # an analysis run, started (no consumer runs here)
        product = (await ok("POST", "/product/create", {"name": "R"}))["_id"]
        made = await ok("POST", "/orchestration", {"workflow_type": "revenue_forecast", "product_id": product})
        return str(made["invocation_id"])

    makers_of_reports["run"] = run

    async def invitation() -> str:
        return str((await ok("POST", "/invitations", {"email": f"{new_id()}@invited.example"}))["id"])

    async def estimate() -> str:
        return str((await ok("POST", "/estimate/start", {"description": "a 15x30 pool"}))["session_id"])

    async def lead() -> str:  # an estimate with the customer's contact
        return str((await ok("POST", "/estimate/start", {"description": "new roof",
                                                         "customer_email": "lead@example.com"}))["_id"])

    async def conversation() -> str:
        return str((await ok("POST", "/chat/send", {"message": "I need a pool"}))["session_id"])

    async def reference_class() -> str:  # custom classes need the pro or enterprise tier
        async with client.app.state.ctx.db.session() as s:
            await s.execute(update(Tenant).where(Tenant.id == acct.tenant_id).values(tier="enterprise"))
            await s.commit()
        return str((await ok("POST", "/reference-classes", {
            "category": "construction", "subcategory": "shed", "name": f"Shed {new_id()}",
            "cost_distribution": {"P50": 5000, "P80": 6000, "P95": 8000},
            "timeline_distribution": {"P50": 1, "P80": 2, "P95": 3},
            "cost_breakdown_template": {"materials": 0.6, "labor": 0.4}}))["_id"])

    makers_of_reports |= {"invitation": invitation, "estimate": estimate, "lead": lead, "conversation": conversation,
                          "reference_class": reference_class}

    async def widget_key() -> str:
        return str((await ok("POST", "/tenants/widget/keys", {"name": "site"}))["id"])

    makers_of_reports |= {"widget_key": widget_key}
    return {"api_key": api_key, "user": user, "segment": segment, "plan": plan, "link": link,
            "data_import": data_import, "usage_analysis": usage_analysis, "experiment": experiment,
            "scenario": scenario, **makers_of_reports}


@dataclass
class World:
    client: Any
    a: Account
    b: Account
    b_ids: dict[str, str]  # kind -> an object of tenant B
    makers: dict[str, Callable[[], Awaitable[str]]]  # kind -> make a fresh object of tenant A
    viewer_key: dict[str, str]


@pytest.fixture
async def world(make_client, mailbox) -> World:
    client = await make_client(rate_limit_requests_per_minute=100_000)
    a = await signup(client, mailbox, "owner@a.example", name="Tenant A")
    b = await signup(client, mailbox, "owner@b.example", name="Tenant B")
    b_ids = {kind: await make() for kind, make in makers(client, b).items()}
    viewer = await client.post("/api-keys", json={"name": "read-only", "role": "viewer"}, headers=a.bearer)
    assert viewer.status_code == 201
    return World(client, a, b, b_ids, makers(client, a), {"X-API-Key": viewer.json()["api_key"]})


async def _snapshot(client: Any, acct: Account) -> dict[str, Any]:
    return {"me": (await client.get("/tenants/me", headers=acct.key_headers)).json(),
            "keys": (await client.get("/api-keys", headers=acct.key_headers)).json(),
            "users": (await client.get("/users", headers=acct.key_headers)).json(),
            "invitations": (await client.get("/invitations", headers=acct.key_headers)).json()}


async def test_another_tenants_object_is_not_found_on_every_id_route(world: World) -> None:
    client, a = world.client, world.a
    eps = endpoints(client.app)
    unmapped = sorted({f"{p} ({e})" for e in eps for p in e.params
                       if p not in ID_PARAMS and p not in FIXED_PARAMS})
    assert not unmapped, (f"path parameters without an isolation check: {unmapped}; add each to "
                          "ID_PARAMS and a maker for its kind to `makers` (or, if it is not an object "
                          "id, to FIXED_PARAMS) in tests/accounts/test_isolation.py")
    with_ids = [e for e in eps if any(p in ID_PARAMS for p in e.params)]
    assert with_ids, "expected routes with an id in the path"
    b_before = await _snapshot(client, world.b)

    for e in with_ids:
        foreign = e.url({p: world.b_ids[ID_PARAMS[p]] if p in ID_PARAMS else FIXED_PARAMS[p]
                         for p in e.params})
        for headers in (a.bearer, a.key_headers):
            r = await client.request(e.method, foreign, json=e.body, headers=headers)
            assert r.status_code == 404, (
                f"{e} with tenant B's id answered {r.status_code}, not 404: {r.text}"
                + (" (if 422: add a valid body to SAMPLE_BODIES)" if r.status_code == 422 else ""))
            assert r.json()["error"]["code"] == "not_found"
            assert world.b.email not in r.text
        # the same call on an object of A's own succeeds, so the 404 above is the tenant wall
        own = e.url({p: await world.makers[ID_PARAMS[p]]() if p in ID_PARAMS else FIXED_PARAMS[p]
                     for p in e.params})
        r = await client.request(e.method, own, json=e.body, headers=a.bearer)
        hint = " (add a valid body to SAMPLE_BODIES)" if r.status_code == 422 else ""
        assert r.status_code < 400, f"{e} on tenant A's own object answered {r.status_code}: {r.text}{hint}"

    assert await _snapshot(client, world.b) == b_before, "a call of tenant A changed tenant B's data"
    assert (await client.get("/tenants/me", headers=world.b.key_headers)).status_code == 200


async def test_every_non_public_route_needs_credentials(world: World) -> None:
    eps = endpoints(world.client.app)
    served = {(e.method, e.path) for e in eps}
    assert served >= PUBLIC, f"PUBLIC lists routes that no longer exist: {sorted(PUBLIC - served)}"
    guarded = [e for e in eps if (e.method, e.path) not in PUBLIC]
    assert guarded
    dummy = new_id()
    for e in guarded:
        r = await world.client.request(e.method, e.url(dict.fromkeys(e.params, dummy)), json=e.body)
        assert r.status_code == 401, (f"{e} answered {r.status_code} without credentials: {r.text} "
                                      "(if the route is meant to be public, add it to PUBLIC)")
        assert r.json()["error"]["code"] == "unauthorized"
        assert r.headers.get("www-authenticate") == "Bearer"
        # a credential that is not one is refused the same way
        bad = await world.client.request(e.method, e.url(dict.fromkeys(e.params, dummy)), json=e.body,
                                         headers={"X-API-Key": "efofx_forged-key-0000000000000000"})
        assert bad.status_code == 401, f"{e} accepted a forged key: {bad.status_code}"


async def test_a_viewer_cannot_change_anything(world: World) -> None:
    client, a = world.client, world.a
    writes = [e for e in endpoints(client.app)
              if e.method in WRITES and (e.method, e.path) not in PUBLIC | VIEWER_MAY_WRITE]
    assert writes
    own = {kind: await make() for kind, make in world.makers.items()}
    before = await _snapshot(client, a)
    for e in writes:
        missing = [p for p in e.params if p not in ID_PARAMS and p not in FIXED_PARAMS]
        if missing:
            pytest.fail(f"{e}: add {missing} to ID_PARAMS or FIXED_PARAMS")
        ids = {p: own[ID_PARAMS[p]] if p in ID_PARAMS else FIXED_PARAMS[p] for p in e.params}
        r = await client.request(e.method, e.url(ids), json=e.body, headers=world.viewer_key)
        assert r.status_code == 403, (f"{e} answered {r.status_code} to a viewer: {r.text} "
                                      "(if viewers may call it, add it to VIEWER_MAY_WRITE)")
        assert r.json()["error"]["code"] == "forbidden"
    assert await _snapshot(client, a) == before, "a viewer's request changed data"
    # reading is allowed
    assert (await client.get("/tenants/me", headers=world.viewer_key)).status_code == 200
    assert (await client.get("/users", headers=world.viewer_key)).status_code == 200


# --- the widget session role --------------------------------------------------------------------

@dataclass
class Widgets:
    client: Any
    a: str  # tenant A's widget session token: it has a conversation and an estimate
    b: str  # tenant B's: a conversation of its own, no estimate yet
    a_conversation: str
    a_staff_conversation: str  # one that tenant A's staff started through the API
    a_estimate: dict[str, Any]
    b_conversation: str
    world: World


def _not_found(r: Any, what: str) -> None:
    assert r.status_code == 404, f"{what}: tenant B's widget session got {r.status_code}, not 404: {r.text}"
    assert r.json()["error"]["code"] == "not_found"


async def _a_history(w: Widgets) -> list[Any]:
    r = await w.client.get(f"/chat/{w.a_conversation}/history", headers=as_widget(w.a))
    assert r.status_code == 200, r.text
    return list(r.json()["messages"])


async def _chat_send(w: Widgets) -> None:
    before = await _a_history(w)
    for conv in (w.a_conversation, w.a_staff_conversation):
        _not_found(await chat(w.client, w.b, "add a spa", conv), "POST /chat/send to tenant A's conversation")
    own = await chat(w.client, w.b, "15x30 feet", w.b_conversation)
    assert own.status_code == 200 and own.json()["session_id"] == w.b_conversation, own.text
    assert await _a_history(w) == before, "tenant B's widget session changed tenant A's conversation"


async def _chat_history(w: Widgets) -> None:
    for conv in (w.a_conversation, w.a_staff_conversation):
        r = await w.client.get(f"/chat/{conv}/history", headers=as_widget(w.b))
        _not_found(r, "GET /chat/{id}/history of tenant A's conversation")
    own = await w.client.get(f"/chat/{w.b_conversation}/history", headers=as_widget(w.b))
    assert own.status_code == 200 and own.json()["session_id"] == w.b_conversation, own.text
    assert "pool" not in own.text.lower()  # tenant A's conversation is about a pool


async def _read_estimate(w: Widgets) -> None:
    # A's session has an estimate, B's has none: B sees none, never A's.
    _not_found(await w.client.get("/widget/estimate", headers=as_widget(w.b)), "GET /widget/estimate")
    made = await w.client.post("/widget/estimate", headers=as_widget(w.b), json={"description": "a 12x16 deck"})
    assert made.status_code == 200, made.text
    own = await w.client.get("/widget/estimate", headers=as_widget(w.b))
    assert own.status_code == 200 and own.json()["session_id"] == made.json()["session_id"], own.text
    assert own.json()["session_id"] != w.a_estimate["session_id"]


async def _make_estimate(w: Widgets) -> None:
    # The body cannot name another estimate or conversation; what B makes is tenant B's.
    for field in ("session_id", "estimation_id", "conversation_id"):
        r = await w.client.post("/widget/estimate", headers=as_widget(w.b),
                                json={"description": "a deck", field: w.a_estimate["session_id"]})
        assert r.status_code == 422, f"POST /widget/estimate took {field}: {r.status_code} {r.text}"
    made = await w.client.post("/widget/estimate", headers=as_widget(w.b), json={"description": "a 10x10 deck"})
    assert made.status_code == 200, made.text
    ids = {x["session_id"] for x in (await w.client.get("/estimates", headers=w.world.b.bearer)).json()}
    assert made.json()["session_id"] in ids
    ids = {x["session_id"] for x in (await w.client.get("/estimates", headers=w.world.a.bearer)).json()}
    assert made.json()["session_id"] not in ids and w.a_estimate["session_id"] in ids


async def _contact(w: Widgets) -> None:
    # A fresh session of B has no estimate of its own: A's is out of its reach.
    fresh = await _open_widget(w.client, w.world.b)
    r = await w.client.post("/widget/contact", headers=as_widget(fresh), json={"email": "stray@b.example"})
    assert r.status_code == 409 and r.json()["error"]["code"] == "no_estimate", r.text
    made = await w.client.post("/widget/estimate", headers=as_widget(fresh), json={"description": "new fence"})
    assert made.status_code == 200, made.text
    r = await w.client.post("/widget/contact", headers=as_widget(fresh), json={"email": "pat@b.example"})
    assert r.status_code == 200 and r.json()["estimation_id"] == made.json()["estimation_id"], r.text
    a_leads = (await w.client.get("/leads", headers=w.world.a.bearer)).json()
    assert all(lead["customer_email"] != "pat@b.example" for lead in a_leads)


# Routes that take a widget session token, each with its proof that tenant B's session reaches
# nothing of tenant A's there (404) and works on its own session's objects.
WIDGET_ROUTES: dict[tuple[str, str], Callable[[Widgets], Awaitable[None]]] = {
    ("POST", "/chat/send"): _chat_send,
    ("GET", "/chat/{conversation_id}/history"): _chat_history,
    ("GET", "/widget/estimate"): _read_estimate,
    ("POST", "/widget/estimate"): _make_estimate,
    ("POST", "/widget/contact"): _contact,
}
FORGED_WIDGET_TOKEN = "wst_" + "x" * 43  # of a session token's shape, but no session's


async def _open_widget(client: Any, acct: Account) -> str:
    r = await client.put("/tenants/widget", headers=acct.bearer, json={"allowed_origins": [SITE]})
    assert r.status_code == 200, r.text
    r = await client.post("/tenants/widget/keys", headers=acct.bearer, json={"name": "site"})
    assert r.status_code == 201, r.text
    return await open_session(client, r.json()["api_key"])


async def test_a_widget_session_is_refused_everywhere_but_the_widget_routes(world: World) -> None:
    client = world.client
    eps = endpoints(client.app)
    served = {(e.method, e.path) for e in eps}
    stale = sorted(set(WIDGET_ROUTES) - served)
    assert not stale, f"WIDGET_ROUTES lists routes that no longer exist: {stale}"
    token = await _open_widget(client, world.b)
    hint = ("add it to WIDGET_ROUTES in tests/accounts/test_isolation.py with a probe showing that "
            "tenant B's widget session gets 404 for tenant A's objects there")
    for e in eps:
        if (e.method, e.path) in WIDGET_ROUTES:
            continue
        # tenant B's session on tenant B's own objects: the most a token could reach
        url = e.url({p: world.b_ids[ID_PARAMS[p]] if p in ID_PARAMS else FIXED_PARAMS[p] for p in e.params})
        body = None if e.body is None else {**e.body, "session_token": token}
        r = await client.request(e.method, url, json=body, headers=as_widget(token))
        if (e.method, e.path) in PUBLIC:  # it answers without credentials: the token must change nothing
            forged = None if e.body is None else {**e.body, "session_token": FORGED_WIDGET_TOKEN}
            bare = await client.request(e.method, url, json=forged, headers={"Origin": SITE})
            assert r.status_code == bare.status_code, (
                f"{e} answered {r.status_code} to a widget session and {bare.status_code} without one: {hint}")
            continue
        assert r.status_code == 401, f"{e} answered {r.status_code} to a widget session: {r.text}; {hint}"
        assert r.json()["error"]["code"] == "unauthorized"
    # nor is the token a bearer credential, on any guarded route (the chat routes included)
    for e in eps:
        if (e.method, e.path) in PUBLIC:
            continue
        url = e.url({p: world.b_ids[ID_PARAMS[p]] if p in ID_PARAMS else FIXED_PARAMS[p] for p in e.params})
        r = await client.request(e.method, url, json=e.body, headers={"Authorization": f"Bearer {token}",
                                                                      "Origin": SITE})
        assert r.status_code == 401, f"{e} took a widget session token as a bearer token: {r.status_code}"


async def test_a_widget_session_reaches_only_its_own_conversation_and_estimate(world: World) -> None:
    client = world.client
    a_token, b_token = await _open_widget(client, world.a), await _open_widget(client, world.b)
    a_estimate = await converse_to_estimate(client, a_token)
    staff = await client.post("/chat/send", json={"message": "I need a pool"}, headers=world.a.bearer)
    assert staff.status_code == 200, staff.text
    b_conv = await chat(client, b_token, "I want a kitchen remodel")
    assert b_conv.status_code == 200, b_conv.text
    w = Widgets(client, a_token, b_token, a_estimate["_conversation"], staff.json()["session_id"], a_estimate,
                b_conv.json()["session_id"], world)
    for probe in WIDGET_ROUTES.values():
        await probe(w)
    # tenant A's session still has its own conversation and estimate, and nothing of B's
    own = await client.get("/widget/estimate", headers=as_widget(a_token))
    assert own.status_code == 200 and own.json()["session_id"] == a_estimate["session_id"], own.text
    r = await client.get(f"/chat/{w.b_conversation}/history", headers=as_widget(a_token))
    assert r.status_code == 404, f"tenant A's widget session read tenant B's conversation: {r.status_code}"
