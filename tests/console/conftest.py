"""Helpers for the console's tests: a browser-like client per person, the CSRF token of a page,
logging in through the console's form (the browser fixtures are tests/browser.py's)."""

from __future__ import annotations

import re
from typing import Any

import httpx

from tests.browser import browser, served_app  # noqa: F401  (fixtures of the browser tests)
from tests.secret_scan import SCANNER
from tests.support import PASSWORD, Account, Mailbox

_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf_of(html: str) -> str:
    match = _CSRF.search(html)
    assert match, "no CSRF token on the page"
    return match.group(1)


def person(client: httpx.AsyncClient, base_url: str = "http://testserver") -> httpx.AsyncClient:
    """A client with its own cookie jar on the same running app: one person's browser."""
    return SCANNER.watch(httpx.AsyncClient(transport=httpx.ASGITransport(app=client.app),  # type: ignore[attr-defined]
                                           base_url=base_url))


async def console_login(b: httpx.AsyncClient, email: str, password: str = PASSWORD) -> httpx.Response:
    page = await b.get("/console/login")
    assert page.status_code == 200, page.text
    r = await b.post("/console/login", data={"email": email, "password": password,
                                              "csrf_token": csrf_of(page.text)})
    return r


async def add_user(client: httpx.AsyncClient, admin: Account, mailbox: Mailbox, email: str, role: str) -> None:
    """A colleague invited by the admin through the API, who accepted the invitation."""
    r = await client.post("/invitations", json={"email": email, "role": role}, headers=admin.bearer)
    assert r.status_code == 201, r.text
    token = mailbox.link(email, "/auth/accept-invite").split("token=")[1]
    r = await client.post("/auth/accept-invite", json={"token": token, "password": PASSWORD, "name": role.title()})
    assert r.status_code == 201, r.text


async def estimate(client: httpx.AsyncClient, headers: dict[str, str] | None = None, **body: Any) -> dict[str, Any]:
    body.setdefault("description", "15x30 pool with spa in San Diego")
    r = await client.post("/estimate/start", json=body, headers=headers)
    assert r.status_code == 200, r.text
    out: dict[str, Any] = r.json()
    return out

