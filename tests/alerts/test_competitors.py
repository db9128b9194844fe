"""competitor_change alerts through the API: a competitor's known price edited on its product
raises an alert (stored once, pushed to the tenant's open /ws sockets, e-mailed per preference);
other tenants hear nothing of it."""

from __future__ import annotations

import json
from typing import Any

from websockets.asyncio.client import ClientConnection

from tests.alerts.test_alerts import alerts, ok, pair
from tests.alerts.test_alerts import two as two  # the fixture: two tenants on one app
from tests.alerts.test_notifications import mails
from tests.orchestration.test_ws import open_ws, recv
from tests.orchestration.test_ws import served as served  # the app behind uvicorn, for real sockets
from tests.support import Account, Mailbox, signup


def comp(name: str, price: float | None, url: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"competitor_name": name, "website_url": url or f"https://{name.lower()}.example"}
    if price is not None:
        body["unit_price"] = price
    return body


async def set_competitors(client: Any, acct: Account, product: str, *competitors: dict[str, Any]) -> None:
    await ok(client, "PUT", "/product/update", acct, {"id": product, "competitors": list(competitors)})


async def next_alert(ws: ClientConnection) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The next alert_created frame, and every frame before it."""
    before: list[dict[str, Any]] = []
    while True:
        frame = await recv(ws)
        if frame["type"] == "alert_created":
            return frame, before
        before.append(frame)


async def test_a_competitor_price_cut_below_our_plan_is_stored_pushed_and_mailed_once(served, mailbox: Mailbox):
    client, url = await served(embedded_jobs=True, rate_limit_requests_per_minute=100_000)
    a = await signup(client, mailbox, "owner@rivals-a.example", name="A")
    b = await signup(client, mailbox, "owner@rivals-b.example", name="B")
    for acct in (a, b):
        await ok(client, "POST", "/api/notification-preferences", acct, {
            "alert_types": ["competitor_change"], "channels": ["email", "in_app"], "frequency": "immediate"})
    product = (await ok(client, "POST", "/product/create", a, {"name": "Analytics", "competitors": [
        comp("X", 40.0), comp("Y", 60.0), comp("Z", None)]}))["_id"]
    _, _, plan = await pair(client, a, "SMB", price=50.0, product=product)
    theirs = (await ok(client, "POST", "/product/create", b, {"name": "Theirs", "competitors": [
        comp("Q", 100.0)]}))["_id"]
    assert (await alerts(client, a))[1] == 0  # creating a product compares nothing

    async with open_ws(f"{url}?token={a.access_token}") as ws_a, open_ws(f"{url}?token={b.access_token}") as ws_b:
        assert (await recv(ws_a))["type"] == (await recv(ws_b))["type"] == "connected"
        # X +5% (below the threshold), Y -25% and now below Pro's 50, Z still without a price
        await set_competitors(client, a, product, comp("X", 42.0), comp("Y", 45.0), comp("Z", None))

        pushed, _ = await next_alert(ws_a)
        found, total = await alerts(client, a, type="competitor_change")
        assert total == 1
        alert = found[0]
        assert pushed["data"] == {"alert_id": alert["_id"], "type": "competitor_change", "severity": "high",
                                  "title": alert["title"], "product_id": product}
        assert alert["title"] == "Y cut its price by 25%, now below plan Pro"
        assert (alert["product"], alert["pricing_model"], alert["severity"]) == (product, plan, "high")
        t = alert["trigger_data"]
        assert (t["competitor"], t["previous_price"], t["price"], t["change"]) == ("Y", 60.0, 45.0, -0.25)
        assert t["undercuts"] == [{"plan_id": plan, "plan": "plan Pro", "price": 50.0}]
        assert alert["threshold_breached"] == {"change_at_least": 0.1, "or_undercuts_a_plan": True}
        assert "from $60.00 to $45.00 (-25.0%)" in alert["message"]

        (msg,) = await mails(mailbox, a.email, "Alert (high)")
        assert alert["title"] in str(msg["Subject"]) and alert["message"] in mailbox.body(msg)

        # saved again unchanged, or reordered: nothing moved, nothing raised
        await set_competitors(client, a, product, comp("Z", None), comp("Y", 45.0), comp("X", 42.0))
        # Y back up (+33%: medium), then down to 45 again in the same month: that move was already
        # alerted, so only the rise is new
        await set_competitors(client, a, product, comp("X", 42.0), comp("Y", 60.0), comp("Z", None))
        await set_competitors(client, a, product, comp("X", 42.0), comp("Y", 45.0), comp("Z", None))
        rise, _ = await next_alert(ws_a)
        assert rise["data"]["severity"] == "medium" and rise["data"]["title"] == "Y raised its price by 33%"
        found, total = await alerts(client, a, type="competitor_change")
        assert total == 2 and {x["severity"] for x in found} == {"high", "medium"}
        (rise_mail,) = await mails(mailbox, a.email, "Alert (medium)")
        assert "Y raised its price by 33%" in str(rise_mail["Subject"])

        # B's own competitor move is the first alert B's socket hears, after all of A's
        await set_competitors(client, b, theirs, comp("Q", 80.0))
        own, before = await next_alert(ws_b)
        assert own["data"]["product_id"] == theirs and own["data"]["severity"] == "low"
        assert all(product not in json.dumps(f) for f in before)
        assert (await alerts(client, b))[1] == 1
        (mail_b,) = await mails(mailbox, b.email, "Alert (low)")
        assert "Q cut its price by 20%" in str(mail_b["Subject"])

    assert len(await mails(mailbox, a.email, "Alert (")) == 2  # one e-mail per new alert, none twice
    assert not [m for m in mailbox.messages if b.email in str(m["To"]) and "Y " in str(m["Subject"])]


async def test_a_renamed_competitor_is_followed_by_its_website(two):
    client, a, _ = two
    product = (await ok(client, "POST", "/product/create", a, {"name": "Analytics", "competitors": [
        comp("Rival", 100.0, "https://rival.example")]}))["_id"]
    # renamed and repriced at once: the same competitor by its website, so its move is judged
    await set_competitors(client, a, product, comp("Rival Inc", 130.0, "https://www.rival.example/"))
    (alert,), _ = await alerts(client, a, type="competitor_change")
    assert alert["title"] == "Rival Inc raised its price by 30%" and alert["severity"] == "medium"
    assert alert["pricing_model"] is None and alert["trigger_data"]["previous_price"] == 100.0
    # a new competitor's first price, and an edit of other fields, compare nothing
    await set_competitors(client, a, product, comp("Rival Inc", 130.0, "https://rival.example"),
                          comp("Newcomer", 5.0))
    await ok(client, "PUT", "/product/update", a, {"id": product, "category": "analytics"})
    assert (await alerts(client, a))[1] == 1
