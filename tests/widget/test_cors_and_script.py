"""Per-tenant CORS on the widget routes, and widget.js as served."""

from __future__ import annotations

from tests.support import signup
from tests.widget.support import SITE, as_widget, open_session, widget_tenant

CONSOLE = "http://localhost:3000"  # the app's global CORS origin (settings.cors_origins default)


def preflight(origin: str, headers: str = "content-type,x-widget-session") -> dict[str, str]:
    return {"Origin": origin, "Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": headers}


async def test_preflights_are_granted_to_the_tenants_origins_only(client, mailbox):
    t = await widget_tenant(client, mailbox, "cors@example.com")
    other = await widget_tenant(client, mailbox, "cors2@example.com", origins=("https://other.example.com",))
    history = "/chat/0f0e0d0c-0b0a-4909-8807-060504030201/history"
    for path in ("/widget/estimate", "/widget/contact", "/chat/send", history):
        r = await client.options(path, params={"api_key": t.publishable_key}, headers=preflight(SITE))
        assert r.status_code == 204, (path, r.text)
        assert r.headers["access-control-allow-origin"] == SITE
        assert "x-widget-session" in r.headers["access-control-allow-headers"].lower()
        assert "access-control-allow-credentials" not in r.headers
        for origin, key in (("https://evil.example.com", t.publishable_key), (SITE, other.publishable_key),
                            (SITE, t.account.api_key), (SITE, "efofx_pk_unknown")):
            r = await client.options(path, params={"api_key": key}, headers=preflight(origin))
            assert r.status_code == 403 and "access-control-allow-origin" not in r.headers, (path, origin)
            assert t.account.api_key not in r.text
    r = await client.options("/widget/estimate", headers=preflight(SITE))
    assert r.status_code == 403  # no key: nothing to grant


async def test_responses_are_readable_by_the_checked_origin_only(client, mailbox):
    t = await widget_tenant(client, mailbox, "read@example.com")
    token = await open_session(client, t.publishable_key)
    r = await client.post("/chat/send", json={"message": "a pool"}, headers=as_widget(token))
    assert r.status_code == 200 and r.headers["access-control-allow-origin"] == SITE
    assert "x-ratelimit-remaining" in r.headers["access-control-expose-headers"].lower()
    assert "origin" in r.headers["vary"].lower() and "set-cookie" not in r.headers
    # The console origin the global CORS allows gets nothing from a widget route.
    r = await client.get("/widget/config", params={"api_key": t.publishable_key}, headers={"Origin": CONSOLE})
    assert r.status_code == 403 and "access-control-allow-origin" not in r.headers


async def test_the_chat_routes_keep_the_global_cors_for_api_clients(client, mailbox):
    acct = await signup(client, mailbox, "api-client@example.com")
    r = await client.options("/chat/send", headers=preflight(CONSOLE, "content-type,authorization"))
    assert r.status_code == 200 and r.headers["access-control-allow-origin"] == CONSOLE
    r = await client.post("/chat/send", json={"message": "a pool"}, headers={**acct.key_headers, "Origin": CONSOLE})
    assert r.status_code == 200 and r.headers["access-control-allow-origin"] == CONSOLE
    r = await client.options("/chat/send", headers=preflight("https://evil.example.com", "content-type"))
    assert "access-control-allow-origin" not in r.headers


async def test_widget_js_is_small_cached_and_never_holds_a_key(client):
    r = await client.get("/widget.js")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/javascript")
    assert "max-age" in r.headers["cache-control"] and r.headers["etag"]
    assert r.headers["cross-origin-resource-policy"] == "cross-origin"
    assert len(r.content) < 16_000
    text = r.text
    assert "attachShadow" in text and "efofx_pk_" in text and "document.cookie" not in text
    assert "localStorage" not in text and 'credentials: "omit"' in text
    again = await client.get("/widget.js", headers={"If-None-Match": r.headers["etag"]})
    assert again.status_code == 304 and again.content == b""
