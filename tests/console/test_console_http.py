"""The tenant console over HTTP: its session, CSRF and role checks, tenant isolation, and the
pages that change data (leads, settings) through the API's own services."""

from __future__ import annotations

import html
import re

from sqlalchemy import select, update

from pricewise.accounts.models import RefreshToken, Tenant
from tests.console.conftest import add_user, console_login, csrf_of, estimate, person
from tests.support import PASSWORD, Mailbox, OpenAIStub, signup


async def test_login_sets_a_hardened_session_and_logout_revokes_it(make_client, mailbox: Mailbox):
    client = await make_client()
    acct = await signup(client, mailbox, "owner@example.com")
    async with person(client) as b:
        r = await b.get("/console/leads")
        assert r.status_code == 303 and r.headers["location"].startswith("/console/login")
        bad = await console_login(b, acct.email, "Wrong-password-99")
        assert bad.status_code == 401 and "invalid credentials" in bad.text
        r = await console_login(b, acct.email)
        assert r.status_code == 303 and r.headers["location"] == "/console/leads"
        cookies = [c for c in r.headers.get_list("set-cookie") if c.startswith("pw_console=")]
        assert len(cookies) == 1
        attrs = cookies[0].lower()
        assert "httponly" in attrs and "samesite=lax" in attrs and "path=/console" in attrs
        assert "secure" not in attrs  # plain http: a Secure cookie would never come back
        page = await b.get("/console/leads")
        assert page.status_code == 200 and "owner@example.com" in page.text
        assert "default-src 'self'" in page.headers["content-security-policy"]
        # The cookie is not a credential for the API: it reads headers only.
        assert (await b.get("/tenants/me")).status_code == 401
        out = await b.post("/console/logout", data={"csrf_token": csrf_of(page.text)})
        assert out.status_code == 303 and out.headers["location"] == "/console/login"
        assert (await b.get("/console/leads")).status_code == 303
    async with client.app.state.ctx.db.session() as s:
        tokens = (await s.execute(select(RefreshToken))).scalars().all()
    console_tokens = [t for t in tokens if t.user_id and t.revoked_at is not None]
    assert console_tokens, "logging out must revoke the console's refresh token"
    async with person(client, "https://testserver") as b:
        r = await console_login(b, acct.email)
        secure = [c for c in r.headers.get_list("set-cookie") if c.startswith("pw_console=")]
        assert "secure" in secure[0].lower()


async def test_an_expired_access_cookie_is_renewed_with_the_refresh_cookie(make_client, mailbox: Mailbox):
    client = await make_client()
    acct = await signup(client, mailbox, "owner@example.com")
    async with person(client) as b:
        await console_login(b, acct.email)
        jar = {c.name: c.value for c in b.cookies.jar}
        b.cookies.clear()
        b.cookies.set("pw_console", "not-a-token", path="/console")
        b.cookies.set("pw_console_refresh", jar["pw_console_refresh"], path="/console")
        b.cookies.set("pw_console_csrf", jar["pw_console_csrf"], path="/console")
        r = await b.get("/console/leads")
        assert r.status_code == 200 and "owner@example.com" in r.text
        assert any(c.startswith("pw_console=ey") for c in r.headers.get_list("set-cookie"))
        # The spent refresh token is refused afterwards (rotation), so a copy of it is worthless.
        async with person(client) as thief:
            thief.cookies.set("pw_console_refresh", jar["pw_console_refresh"], path="/console")
            assert (await thief.get("/console/leads")).status_code == 303
    # ...and its replay revoked the whole family, the renewed session's refresh token included.
    async with client.app.state.ctx.db.session() as s:
        tokens = (await s.execute(select(RefreshToken))).scalars().all()
    console = [t for t in tokens if t.family_id == max(tokens, key=lambda t: t.created_at).family_id]
    assert len(console) == 2 and all(t.revoked_at is not None for t in console)


async def test_a_renewal_stands_when_the_page_itself_is_refused(make_client, mailbox: Mailbox):
    client = await make_client()
    admin = await signup(client, mailbox, "owner@example.com")
    await add_user(client, admin, mailbox, "viewer@example.com", "viewer")
    async with person(client) as b:
        await console_login(b, "viewer@example.com")
        refresh = next(c.value for c in b.cookies.jar if c.name == "pw_console_refresh")
        b.cookies.set("pw_console", "expired", path="/console")
        r = await b.get("/console/settings")  # renewed, then refused: a viewer
        assert r.status_code == 403
        renewed = next(c.value for c in b.cookies.jar if c.name == "pw_console_refresh")
        assert renewed != refresh
        b.cookies.set("pw_console", "expired", path="/console")
        r = await b.get("/console/leads")  # the renewed refresh token was kept: still signed in
        assert r.status_code == 200 and "viewer@example.com" in r.text


async def test_forms_without_a_valid_csrf_token_are_refused(make_client, mailbox: Mailbox):
    client = await make_client()
    acct = await signup(client, mailbox, "owner@example.com")
    other = await signup(client, mailbox, "rival@example.com", name="Rival")
    lead = await estimate(client, acct.bearer, customer_email="pat@example.com", customer_name="Pat")
    lead_id = lead["_id"]
    async with person(client) as b, person(client) as rb:
        await console_login(b, acct.email)
        await console_login(rb, other.email)
        token = csrf_of((await b.get("/console/leads")).text)
        foreign = csrf_of((await rb.get("/console/leads")).text)
        url = f"/console/leads/{lead_id}/status"
        for data, headers in (({"status": "won"}, {}),  # no token
                              ({"status": "won", "csrf_token": "x" * 64}, {}),  # a made-up one
                              ({"status": "won", "csrf_token": foreign}, {}),  # someone else's
                              ({"status": "won", "csrf_token": token}, {"Origin": "https://evil.example"})):
            r = await b.post(url, data=data, headers=headers)
            assert r.status_code == 403, r.text
            assert "security token" in r.text or "another site" in r.text
        got = (await client.get("/leads", headers=acct.bearer)).json()
        assert got[0]["status"] == "new"
        ok = await b.post(url, data={"status": "won", "csrf_token": token})
        assert ok.status_code == 303
        assert (await client.get("/leads", headers=acct.bearer)).json()[0]["status"] == "won"
        # Login itself is protected too: a form posted without the page's token does not log in.
        async with person(client) as fresh:
            r = await fresh.post("/console/login", data={"email": acct.email, "password": acct.password})
            assert r.status_code == 403 and "pw_console=" not in r.headers.get("set-cookie", "")


async def test_roles_gate_the_console_as_they_gate_the_api(make_client, mailbox: Mailbox):
    client = await make_client()
    admin = await signup(client, mailbox, "owner@example.com")
    await add_user(client, admin, mailbox, "viewer@example.com", "viewer")
    await add_user(client, admin, mailbox, "analyst@example.com", "analyst")
    lead = await estimate(client, admin.bearer, customer_email="pat@example.com")
    url = f"/console/leads/{lead['_id']}/status"
    async with person(client) as v, person(client) as a:
        await console_login(v, "viewer@example.com")
        await console_login(a, "analyst@example.com")
        page = await v.get("/console/leads")
        assert page.status_code == 200 and "pat@example.com" in page.text
        assert url not in page.text  # no status form for a viewer
        assert "/console/settings" not in page.text
        r = await v.post(url, data={"status": "lost", "csrf_token": csrf_of(page.text)})
        assert r.status_code == 403 and "analyst role" in r.text
        assert (await v.get("/console/calibration")).status_code == 200
        assert (await v.get("/console/settings")).status_code == 403
        page = await a.get("/console/leads")
        r = await a.post(url, data={"status": "contacted", "csrf_token": csrf_of(page.text)})
        assert r.status_code == 303
        assert (await a.get("/console/settings")).status_code == 403
        r = await a.post("/console/settings/api-keys", data={"name": "x", "role": "admin",
                                                             "csrf_token": csrf_of(page.text)})
        assert r.status_code == 403
    leads = (await client.get("/leads", headers=admin.bearer)).json()
    assert leads[0]["status"] == "contacted"
    keys = (await client.get("/api-keys", headers=admin.bearer)).json()
    assert [k["name"] for k in keys] == ["default"]  # the analyst's key was not created


async def test_another_tenants_estimate_is_not_found_in_the_console(make_client, mailbox: Mailbox):
    client = await make_client()
    mine = await signup(client, mailbox, "owner@example.com")
    theirs = await signup(client, mailbox, "rival@example.com", name="Rival")
    est = await estimate(client, theirs.bearer, description="Secret backyard ADU of 600 sq ft in Fresno")
    r = await client.post(f"/estimate/{est['session_id']}/refine", headers=theirs.bearer,
                          json={"additional_info": "It needs a full kitchen and one bathroom"})
    assert r.status_code == 200, r.text
    r = await client.post("/feedback/contractor", headers=theirs.bearer,
                          json={"estimation_id": est["_id"], "actual_cost": est["estimate"]["cost_p50"] * 1.3,
                                "actual_timeline_weeks": 20})
    assert r.status_code == 201, r.text
    async with person(client) as b:
        await console_login(b, mine.email)
        for ref in (est["_id"], est["session_id"]):
            r = await b.get(f"/console/estimates/{ref}")
            assert r.status_code == 404 and "Secret backyard" not in r.text
    async with person(client) as b:
        await console_login(b, theirs.email)
        r = await b.get(f"/console/estimates/{est['_id']}")
        assert r.status_code == 200 and "Secret backyard ADU" in r.text
        assert r.text.count('data-testid="version-row"') == 2
        assert "It needs a full kitchen" in r.text
        assert r.text.count('data-testid="feedback-row"') == 1
        actual = f"${est['estimate']['cost_p50'] * 1.3:,.0f}"
        assert f'data-testid="feedback-actual">{actual}<' in r.text


async def test_leads_filter_status_change_and_csv_export(make_client, mailbox: Mailbox):
    client = await make_client()
    acct = await signup(client, mailbox, "owner@example.com")
    first = await estimate(client, acct.bearer, customer_email="ann@example.com", customer_name="Ann")
    await estimate(client, acct.bearer, description="kitchen remodel in Fresno",
                   customer_email="bob@example.com", customer_name="=HYPERLINK(1)")
    await estimate(client, acct.bearer, description="roof replacement in Fresno")  # no contact: not a lead
    async with person(client) as b:
        await console_login(b, acct.email)
        page = await b.get("/console/leads")
        assert page.text.count('data-testid="lead-row"') == 2
        r = await b.post(f"/console/leads/{first['_id']}/status",
                         data={"status": "won", "csrf_token": csrf_of(page.text)})
        assert r.status_code == 303
        won = await b.get(r.headers["location"].replace("?", "?status=won&", 1))
        assert won.text.count('data-testid="lead-row"') == 1 and "ann@example.com" in won.text
        assert "Lead updated." in won.text
        new = await b.get("/console/leads", params={"status": "new"})
        assert "bob@example.com" in new.text and "ann@example.com" not in new.text
        bad = await b.post(f"/console/leads/{first['_id']}/status",
                           data={"status": "archived", "csrf_token": csrf_of(page.text)})
        assert bad.status_code == 422
        csv_console = await b.get("/console/leads.csv")
        csv_api = await client.get("/leads", params={"format": "csv"}, headers=acct.bearer)
        assert csv_console.status_code == 200 and csv_console.headers["content-type"].startswith("text/csv")
        assert csv_console.text == csv_api.text
        assert "'=HYPERLINK(1)" in csv_console.text
    assert [x["status"] for x in (await client.get("/leads", headers=acct.bearer)).json()] == ["new", "won"]


async def test_local_mode_needs_no_login_but_only_on_localhost(make_client):
    client = await make_client(auth_mode="local")
    await estimate(client, customer_email="pat@example.com")
    async with person(client) as b:
        page = await b.get("/console/leads")
        assert page.status_code == 200 and "pat@example.com" in page.text and "local admin" in page.text
        assert (await b.get("/console/settings")).status_code == 200
        r = await b.get("/console/leads", headers={"Host": "rebound.example.com"})
        assert r.status_code == 403
        # Even credential-less, writes need the page's token.
        lead = (await client.get("/leads")).json()[0]
        r = await b.post(f"/console/leads/{lead['_id']}/status", data={"status": "won"})
        assert r.status_code == 403
        r = await b.post(f"/console/leads/{lead['_id']}/status",
                         data={"status": "won", "csrf_token": csrf_of(page.text)})
        assert r.status_code == 303
    assert (await client.get("/leads")).json()[0]["status"] == "won"


async def test_settings_branding_byok_api_keys_and_users(make_client, mailbox: Mailbox, openai_stub: OpenAIStub):
    client = await make_client(openai_base_url=openai_stub.base_url)
    admin = await signup(client, mailbox, "owner@example.com")
    await add_user(client, admin, mailbox, "viewer@example.com", "viewer")
    async with person(client) as b:
        await console_login(b, admin.email)
        page = await b.get("/console/settings")
        assert page.status_code == 200
        token = csrf_of(page.text)
        r = await b.post("/console/settings/branding", data={
            "logo_url": "https://cdn.example.com/logo.png", "primary_color": "#0f766e",
            "widget_button_text": "Price my project", "csrf_token": token})
        assert r.status_code == 303
        branding = (await client.get("/tenants/me", headers=admin.bearer)).json()["branding"]
        assert branding["primary_color"].lower() == "#0f766e" and branding["widget_button_text"] == "Price my project"
        bad = await b.post("/console/settings/branding", data={"primary_color": "red;x", "csrf_token": token})
        assert bad.status_code == 422 and "primary_color" in bad.text
        preview = (await b.get("/console/settings")).text
        assert 'src="https://cdn.example.com/logo.png"' in preview and ">Price my project<" in preview

        # BYOK: validated with the provider, then shown only by its last four characters.
        refused = await b.post("/console/settings/openai-key",
                               data={"openai_api_key": "sk-not-accepted-1234", "action": "set", "csrf_token": token})
        assert refused.status_code == 422 and "rejected" in refused.text
        good = next(iter(openai_stub.valid_keys))
        r = await b.post("/console/settings/openai-key", data={"openai_api_key": good, "action": "set",
                                                               "csrf_token": token})
        assert r.status_code == 303
        page = (await b.get("/console/settings")).text
        assert good not in page and f"…{good[-4:]}" in page
        r = await b.post("/console/settings/openai-key", data={"action": "clear", "csrf_token": token})
        assert (await client.get("/tenants/me", headers=admin.bearer)).json()["openai_api_key"]["configured"] is False

        # API keys: the new key is shown once and works; rotation and revocation take effect.
        r = await b.post("/console/settings/api-keys", data={"name": "crm", "role": "viewer", "csrf_token": token})
        assert r.status_code == 200
        raw_key = html.unescape(re.findall(r'value="(efofx_[^"]+)"', r.text)[0])
        assert (await client.get("/tenants/me", headers={"X-API-Key": raw_key})).status_code == 200
        assert raw_key not in (await b.get("/console/settings")).text
        key_id = next(k["id"] for k in (await client.get("/api-keys", headers=admin.bearer)).json()
                      if k["name"] == "crm")
        r = await b.post(f"/console/settings/api-keys/{key_id}/rotate", data={"csrf_token": token})
        rotated = html.unescape(re.findall(r'value="(efofx_[^"]+)"', r.text)[0])
        assert rotated != raw_key
        assert (await client.get("/tenants/me", headers={"X-API-Key": rotated})).status_code == 200
        new_id = next(k["id"] for k in (await client.get("/api-keys", headers=admin.bearer)).json()
                      if k["name"] == "crm" and k["expires_at"] is None)
        r = await b.post(f"/console/settings/api-keys/{new_id}/revoke", data={"csrf_token": token})
        assert r.status_code == 303
        assert (await client.get("/tenants/me", headers={"X-API-Key": rotated})).status_code == 401

        # Users: a role change, and the guard that keeps the last admin.
        users = (await client.get("/users", headers=admin.bearer)).json()
        viewer = next(u for u in users if u["email"] == "viewer@example.com")
        me = next(u for u in users if u["email"] == admin.email)
        r = await b.post(f"/console/settings/users/{viewer['id']}", data={"role": "analyst", "csrf_token": token})
        assert r.status_code == 303
        r = await b.post(f"/console/settings/users/{me['id']}", data={"role": "viewer", "csrf_token": token})
        assert r.status_code == 422 and "demote" in r.text
    roles = {u["email"]: u["role"] for u in (await client.get("/users", headers=admin.bearer)).json()}
    assert roles == {"owner@example.com": "admin", "viewer@example.com": "analyst"}


async def test_pages_render_for_a_tenant_with_data(make_client, mailbox: Mailbox):
    client = await make_client()
    acct = await signup(client, mailbox, "owner@example.com")
    await estimate(client, acct.bearer)
    async with person(client) as b:
        await console_login(b, acct.email)
        for path, marker in (("/console/estimates", 'data-testid="estimate-row"'),
                             ("/console/classes", 'data-source="platform"'),
                             ("/console/calibration", 'data-testid="no-trend"'),
                             ("/console/static/console.css", "--accent")):
            r = await b.get(path)
            assert r.status_code == 200 and marker in r.text, path
        assert (await b.get("/console/static/secret.key")).status_code == 404
        assert (await b.get("/console")).headers["location"] == "/console/leads"


async def test_login_redirect_target_stays_in_the_console(make_client, mailbox: Mailbox):
    client = await make_client()
    acct = await signup(client, mailbox, "owner@example.com")
    async with person(client) as b:
        page = await b.get("/console/login", params={"next": "//evil.example/x"})
        r = await b.post("/console/login", data={"email": acct.email, "password": acct.password,
                                                  "next": "https://evil.example/", "csrf_token": csrf_of(page.text)})
        assert r.headers["location"] == "/console/leads"
    async with person(client) as b:
        r = await b.get("/console/calibration")
        page = await b.get(r.headers["location"])
        assert 'value="/console/calibration"' in page.text
        r = await b.post("/console/login", data={"email": acct.email, "password": acct.password,
                                                  "next": "/console/calibration", "csrf_token": csrf_of(page.text)})
        assert r.headers["location"] == "/console/calibration"


async def test_widget_keys_and_allowed_origins(make_client, mailbox: Mailbox):
    client = await make_client()
    admin = await signup(client, mailbox, "owner@example.com")
    async with person(client) as b:
        await console_login(b, admin.email)
        token = csrf_of((await b.get("/console/settings")).text)
        r = await b.post("/console/settings/widget/origins", data={
            "allowed_origins": "https://www.acme-pools.example\r\nhttps://acme-pools.example:443/\r\n\r\n",
            "csrf_token": token})
        assert r.status_code == 200 and "Allowed origins saved." in r.text
        widget = (await client.get("/tenants/widget", headers=admin.bearer)).json()
        assert widget["allowed_origins"] == ["https://www.acme-pools.example", "https://acme-pools.example"]
        bad = await b.post("/console/settings/widget/origins", data={"allowed_origins": "https://*.example.com",
                                                                     "csrf_token": token})
        assert bad.status_code == 422 and "allowed_origins" in bad.text
        assert (await client.get("/tenants/widget", headers=admin.bearer)).json() == widget

        r = await b.post("/console/settings/widget/keys", data={"name": "site", "csrf_token": token})
        assert r.status_code == 200
        tag = html.unescape(re.findall(r'value="(&lt;script[^"]+)"', r.text)[0])
        pk = re.search(r'data-key="(efofx_pk_[^"]+)"', tag)
        assert pk and tag.endswith("async></script>") and "/widget.js" in tag
        assert admin.api_key not in r.text  # a secret key never goes into an embed tag
        cfg = await client.get("/widget/config", params={"api_key": pk.group(1)},
                               headers={"Origin": "https://www.acme-pools.example"})
        assert cfg.status_code == 200, cfg.text
        keys = (await client.get("/tenants/widget/keys", headers=admin.bearer)).json()
        r = await b.post(f"/console/settings/widget/keys/{keys[0]['id']}/revoke", data={"csrf_token": token})
        assert r.status_code == 200 and "Widget key revoked." in r.text
        cfg = await client.get("/widget/config", params={"api_key": pk.group(1)},
                               headers={"Origin": "https://www.acme-pools.example"})
        assert cfg.status_code == 401


async def test_every_console_page_needs_a_session(client):
    """The console's counterpart of the API's isolation matrix: without a session, every page and
    form of the console sends the browser to the login page or refuses; nothing is shown or done."""
    from fastapi.routing import APIRoute, iter_route_contexts

    open_paths = {"/console/login", "/console/static/{name}"}
    checked = 0
    for rc in iter_route_contexts(client.app.routes):
        path = str(rc.path)
        if not isinstance(rc.original_route, APIRoute) or not path.startswith("/console") or path in open_paths:
            continue
        url = re.sub(r"{\w+}", "6b0000000000000000000000", path)
        for method in sorted((rc.methods or set()) - {"HEAD", "OPTIONS"}):
            r = await client.request(method, url, data={"csrf_token": "x"})
            assert r.status_code in (303, 401, 403), f"{method} {path}: {r.status_code}"
            if r.status_code == 303 and not r.headers["location"].startswith("/console/login"):
                then = await client.get(r.headers["location"])  # e.g. / -> /leads -> the login page
                assert then.status_code == 303 and then.headers["location"].startswith("/console/login"), path
            checked += 1
    assert checked >= 10


CLASS_FORM = {
    "category": "construction", "subcategory": "pergola", "name": "Backyard Pergola - Cedar",
    "description": "Freestanding cedar pergola", "keywords": "pergola, shade structure",
    "regions": "SoCal - Coastal", "cost_p50": "12000", "cost_p80": "15000", "cost_p95": "19000",
    "timeline_p50": "2", "timeline_p80": "3", "timeline_p95": "4",
    "breakdown": "materials=0.5\nlabor=0.4\npermits=0.1", "multipliers": "SoCal - Coastal=1.0\nSoCal - Inland=0.9",
}


async def _tier(client, tenant_id: str, tier: str) -> None:
    async with client.app.state.ctx.db.session() as s:
        await s.execute(update(Tenant).where(Tenant.id == tenant_id).values(tier=tier))
        await s.commit()


async def _own_classes(client, acct) -> list[dict]:
    r = await client.get("/reference-classes?mine=true", headers=acct.bearer)
    assert r.status_code == 200, r.text
    return r.json()


async def test_admins_create_edit_and_delete_their_own_reference_classes(make_client, mailbox: Mailbox):
    client = await make_client()
    admin = await signup(client, mailbox, "owner@example.com")
    await _tier(client, admin.tenant_id, "pro")
    async with person(client) as b:
        await console_login(b, admin.email)
        page = await b.get("/console/classes")
        assert page.status_code == 200 and 'data-testid="class-form"' in page.text
        token = csrf_of(page.text)
        r = await b.post("/console/classes", data={**CLASS_FORM, "csrf_token": token})
        assert r.status_code == 303, r.text
        [made] = await _own_classes(client, admin)
        assert made["name"] == "Backyard Pergola - Cedar" and made["keywords"] == ["pergola", "shade structure"]
        assert made["cost_distribution"]["P80"] == 15000 and made["timeline_distribution"]["P95"] == 4
        assert made["cost_breakdown_template"] == {"materials": 0.5, "labor": 0.4, "permits": 0.1}
        assert made["regional_multipliers"] == {"SoCal - Coastal": 1.0, "SoCal - Inland": 0.9}
        listed = await b.get("/console/classes?done=created")
        assert "Reference class created." in listed.text and f"/console/classes/{made['_id']}/edit" in listed.text

        # An unsound class: shown again with each message by its field, nothing written.
        bad = await b.post("/console/classes", data={**CLASS_FORM, "name": "Unsound", "cost_p80": "9000",
                                                    "breakdown": "materials=0.5\nlabor=0.4", "csrf_token": token})
        assert bad.status_code == 422
        text = html.unescape(bad.text)
        cost_err = re.search(r'data-testid="error-cost">([^<]+)<', text)
        assert cost_err and "P80 (9000) must be >= P50 (12000)" in cost_err.group(1)
        share_err = re.search(r'data-testid="error-breakdown">([^<]+)<', text)
        assert share_err and "sum to 1" in share_err.group(1)
        assert 'value="Unsound"' in text  # the admin's input is kept
        bad = await b.post("/console/classes", data={**CLASS_FORM, "name": "Unsound", "multipliers": "Inland=0",
                                                    "csrf_token": token})
        assert bad.status_code == 422 and 'data-testid="error-multipliers"' in bad.text
        assert [c["name"] for c in await _own_classes(client, admin)] == ["Backyard Pergola - Cedar"]

        edit = await b.get(f"/console/classes/{made['_id']}/edit")
        assert edit.status_code == 200 and 'value="15000"' in edit.text
        r = await b.post(f"/console/classes/{made['_id']}/edit", data={
            **CLASS_FORM, "description": "Cedar pergola with footings", "cost_p50": "13000", "csrf_token": token})
        assert r.status_code == 303, r.text
        [edited] = await _own_classes(client, admin)
        assert edited["description"] == "Cedar pergola with footings" and edited["cost_distribution"]["P50"] == 13000
        bad = await b.post(f"/console/classes/{made['_id']}/edit", data={**CLASS_FORM, "timeline_p95": "1",
                                                                         "csrf_token": token})
        assert bad.status_code == 422 and 'data-testid="error-timeline"' in bad.text
        assert (await _own_classes(client, admin))[0]["timeline_distribution"]["P95"] == 4

        platform = next(c for c in (await client.get("/reference-classes", headers=admin.bearer)).json()
                        if c["is_platform"])
        r = await b.post(f"/console/classes/{platform['_id']}/delete", data={"csrf_token": token})
        assert r.status_code == 403
        r = await b.post(f"/console/classes/{made['_id']}/delete", data={"csrf_token": token})
        assert r.status_code == 303
        assert await _own_classes(client, admin) == []


async def test_the_trial_tier_cannot_create_classes_in_the_console(make_client, mailbox: Mailbox):
    client = await make_client()
    admin = await signup(client, mailbox, "owner@example.com")  # trial
    async with person(client) as b:
        await console_login(b, admin.email)
        token = csrf_of((await b.get("/console/classes")).text)
        r = await b.post("/console/classes", data={**CLASS_FORM, "csrf_token": token})
        assert r.status_code == 403 and "pro or enterprise tier" in r.text
    assert await _own_classes(client, admin) == []


async def test_class_forms_refuse_viewers_and_other_tenants_classes(make_client, mailbox: Mailbox):
    client = await make_client()
    admin = await signup(client, mailbox, "owner@example.com")
    rival = await signup(client, mailbox, "rival@example.com", name="Rival")
    await add_user(client, admin, mailbox, "viewer@example.com", "viewer")
    for acct in (admin, rival):
        await _tier(client, acct.tenant_id, "pro")
    body = {"category": "construction", "subcategory": "deck", "name": "Rival Deck", "keywords": ["deck"],
            "cost_distribution": {"P50": 10000, "P80": 12000, "P95": 15000},
            "timeline_distribution": {"P50": 2, "P80": 3, "P95": 4},
            "cost_breakdown_template": {"materials": 0.6, "labor": 0.4}}
    r = await client.post("/reference-classes", json=body, headers=rival.bearer)
    assert r.status_code == 201, r.text
    theirs = r.json()["_id"]
    async with person(client) as v, person(client) as b:
        await console_login(v, "viewer@example.com")
        page = await v.get("/console/classes")
        assert page.status_code == 200 and 'data-testid="class-form"' not in page.text
        r = await v.post("/console/classes", data={**CLASS_FORM, "csrf_token": csrf_of(
            (await v.get("/console/leads")).text)})
        assert r.status_code == 403 and "admin role" in r.text
        assert await _own_classes(client, admin) == []

        await console_login(b, admin.email)
        page = await b.get("/console/classes")
        assert "Rival Deck" not in page.text
        token = csrf_of(page.text)
        assert (await b.get(f"/console/classes/{theirs}/edit")).status_code == 404
        r = await b.post(f"/console/classes/{theirs}/edit", data={**CLASS_FORM, "cost_p50": "1", "csrf_token": token})
        assert r.status_code == 404
        r = await b.post(f"/console/classes/{theirs}/delete", data={"csrf_token": token})
        assert r.status_code == 404
    [kept] = await _own_classes(client, rival)
    assert kept["cost_distribution"]["P50"] == 10000


async def test_a_pending_invitation_is_revoked_from_the_settings_page(make_client, mailbox: Mailbox):
    client = await make_client()
    acct = await signup(client, mailbox, "inviter@example.com")
    async with person(client) as b:
        await console_login(b, acct.email)
        token = csrf_of((await b.get("/console/settings")).text)
        r = await b.post("/console/settings/invitations", data={"email": "gone@example.com", "role": "analyst",
                                                                  "csrf_token": token})
        assert r.status_code == 303
        link_token = mailbox.link("gone@example.com", "/auth/accept-invite").split("token=")[1]
        invite_id = (await client.get("/invitations", headers=acct.bearer)).json()[0]["id"]
        page = (await b.get("/console/settings")).text
        assert f"/console/settings/invitations/{invite_id}/revoke" in page
        r = await b.post(f"/console/settings/invitations/{invite_id}/revoke", data={"csrf_token": token})
        assert r.status_code == 303
        assert f"/invitations/{invite_id}/revoke" not in (await b.get("/console/settings")).text
    refused = await client.post("/auth/accept-invite", json={"token": link_token, "password": PASSWORD})
    assert refused.status_code == 422
