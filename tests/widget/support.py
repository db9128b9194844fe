"""What the widget tests share: a tenant with a publishable key and allowed origins, sessions."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx

from tests.support import Account, Mailbox, signup

SITE = "https://shop.example.com"


@dataclass
class WidgetTenant:
    account: Account
    publishable_key: str
    key_id: str

    @property
    def admin(self) -> dict[str, str]:
        return self.account.key_headers


async def widget_tenant(client: httpx.AsyncClient, mailbox: Mailbox, email: str, *, tier: str = "pro",
                        origins: tuple[str, ...] = (SITE,), branding: dict[str, Any] | None = None) -> WidgetTenant:
    acct = await signup(client, mailbox, email, tier=tier)
    r = await client.put("/tenants/widget", headers=acct.key_headers, json={
        "allowed_origins": list(origins),
        "branding": branding or {"primary_color": "#ff5733", "button_text": "Price my project",
                                 "logo_url": "https://cdn.example.com/logo.png"}})
    assert r.status_code == 200, r.text
    r = await client.post("/tenants/widget/keys", headers=acct.key_headers, json={"name": "site"})
    assert r.status_code == 201, r.text
    return WidgetTenant(acct, r.json()["api_key"], r.json()["id"])


async def open_session(client: httpx.AsyncClient, key: str, origin: str = SITE) -> str:
    r = await client.get("/widget/config", params={"api_key": key}, headers={"Origin": origin})
    assert r.status_code == 200, r.text
    token: str = r.json()["session_token"]
    return token


def as_widget(token: str, origin: str = SITE) -> dict[str, str]:
    return {"X-Widget-Session": token, "Origin": origin}


async def chat(client: httpx.AsyncClient, token: str, message: str, session_id: str | None = None,
               origin: str = SITE) -> httpx.Response:
    body: dict[str, Any] = {"message": message}
    if session_id:
        body["session_id"] = session_id
    return await client.post("/chat/send", json=body, headers=as_widget(token, origin))


async def converse_to_estimate(client: httpx.AsyncClient, token: str) -> dict[str, Any]:
    """A pool conversation answered until the chat is ready, then the widget's estimate."""
    r = await chat(client, token, "I need a pool")
    assert r.status_code == 200, r.text
    sid = r.json()["session_id"]
    answers = iter(["15x30 feet", "Midrange", "No spa", "San Diego", "not sure", "not sure"])
    while not r.json()["ready_for_estimate"]:
        r = await chat(client, token, next(answers), sid)
        assert r.status_code == 200, r.text
    e = await client.post("/widget/estimate", headers=as_widget(token),
                          json={"description": "I need a pool, 15x30 feet, midrange, no spa, San Diego"})
    assert e.status_code == 200, e.text
    out: dict[str, Any] = e.json()
    out["_conversation"] = sid
    return out
