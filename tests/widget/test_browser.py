"""The widget in Chromium, embedded with one tag by a page of another origin."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from playwright.async_api import Page, Request, Response, expect
from sqlalchemy import select

from pricewise.widget.models import WidgetSession
from tests.browser import browser, keep_screenshot, served_app, site  # noqa: F401
from tests.widget.support import widget_tenant

PAGE = """<!doctype html><html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1"><title>Acme Pools</title></head>
<body><h1>Acme Pools</h1><p>Family-run pool builders since 1982.</p>
<script src="{api}/widget.js" data-key="{key}" async></script></body></html>"""


class Traffic:
    """Every request and response of a page: URLs, headers, bodies."""

    def __init__(self, page: Page) -> None:
        self.texts: list[str] = []
        self.pending: list[asyncio.Task[None]] = []
        page.on("request", self.on_request)
        page.on("response", lambda r: self.pending.append(asyncio.ensure_future(self.on_response(r))))

    def on_request(self, r: Request) -> None:
        self.texts += [r.url, repr(r.headers), r.post_data or ""]

    async def on_response(self, r: Response) -> None:
        self.texts += [r.url, repr(await r.all_headers())]
        with contextlib.suppress(Exception):  # a preflight or redirect has no body to read
            self.texts.append((await r.body()).decode("utf-8", "replace"))

    async def everything(self) -> str:
        await asyncio.gather(*self.pending)
        return "\n".join(self.texts)


async def say(page: Page, text: str, replies: int) -> None:
    box = page.get_by_role("textbox", name="Describe your project")
    await box.fill(text)
    await box.press("Enter")
    await expect(page.locator(".msg.bot")).to_have_count(replies, timeout=15_000)


async def test_embedded_widget_chat_estimate_and_lead(served_app, site, browser, mailbox, tmp_path):  # noqa: F811
    client, api = await served_app()
    host = site.origin("127.0.0.1")
    t = await widget_tenant(client, mailbox, "browser@example.com", tier="trial", origins=(host,),
                            branding={"primary_color": "#0B7A75", "button_text": "Price my pool"})
    site.pages["/"] = PAGE.format(api=api, key=t.publishable_key)

    context = await browser.new_context(viewport={"width": 1280, "height": 800})
    page = await context.new_page()
    traffic = Traffic(page)
    await page.goto(host + "/")
    launcher = page.get_by_role("button", name="Price my pool")
    await expect(launcher).to_be_visible(timeout=15_000)
    await expect(launcher).to_have_attribute("aria-expanded", "false")
    await launcher.click()
    dialog = page.get_by_role("dialog")
    await expect(dialog).to_be_visible()
    await expect(page.get_by_role("textbox", name="Describe your project")).to_be_focused()
    await expect(page.get_by_text("Estimates by pricewise")).to_be_visible()  # trial: the badge

    await say(page, "We'd like a pool in the back yard", 2)
    chip = page.get_by_role("button", name="15x30 feet")
    await expect(chip).to_be_visible()
    await chip.click()  # a suggestion chip answers for the customer
    await expect(page.locator(".msg.bot")).to_have_count(3, timeout=15_000)
    replies = 3
    answers = iter(("Midrange", "No spa", "San Diego", "not sure", "not sure"))
    while not await _ready(client):
        replies += 1
        await say(page, next(answers), replies)
    # Ready: the widget moves focus to its estimate button.
    await expect(page.get_by_role("button", name="See my estimate")).to_be_focused()
    await page.get_by_role("button", name="See my estimate").click()
    card = page.get_by_role("region", name="Your estimate")
    await expect(card).to_be_visible(timeout=15_000)
    text = await card.inner_text()
    assert "$" in text and "Timeline" in text and "wk" in text
    for heading in ("Cost breakdown", "Assumptions", "Risks"):
        await expect(card.get_by_role("heading", name=heading)).to_be_visible()

    wide = tmp_path / "widget-1280.png"
    await page.screenshot(path=str(wide))
    keep_screenshot(wide)

    # Keyboard: Escape closes and gives focus back to the launcher; Enter opens again.
    await page.keyboard.press("Escape")
    await expect(dialog).to_be_hidden()
    await expect(launcher).to_be_focused()
    await expect(launcher).to_have_attribute("aria-expanded", "false")
    await page.keyboard.press("Enter")
    await expect(dialog).to_be_visible()

    # A 375 px phone: the panel takes the screen, nothing wider than it.
    await page.set_viewport_size({"width": 375, "height": 740})
    box = await dialog.bounding_box()
    assert box is not None and box["width"] <= 375 and box["x"] >= 0
    assert await page.evaluate("document.documentElement.scrollWidth") <= 375
    narrow = tmp_path / "widget-375.png"
    await page.screenshot(path=str(narrow))
    keep_screenshot(narrow)

    # Contact capture with consent: a lead of the tenant.
    await page.get_by_label("E-mail", exact=True).fill("pat@example.com")
    await page.get_by_label("Name (optional)").fill("Pat Doe")
    await page.get_by_label("I agree to be contacted").check()
    await page.get_by_role("button", name="Send my details").click()
    await expect(page.get_by_role("status")).to_have_text("Thanks! Your details were sent.", timeout=15_000)
    leads = (await client.get("/leads", headers=t.admin)).json()
    assert [(lead["customer_email"], lead["customer_name"]) for lead in leads] == [("pat@example.com", "Pat Doe")]
    await page.screenshot(path=str(tmp_path / "widget-375-contact.png"))
    keep_screenshot(tmp_path / "widget-375-contact.png")

    # The secret key is nowhere: not in the page, not in any request or response.
    html = await page.content()
    everything = await traffic.everything()
    assert t.publishable_key in html and "/widget/config" in everything
    assert t.account.api_key not in html and t.account.api_key not in everything
    cookies = await context.cookies()
    assert cookies == []
    await context.close()

    # The tenant finds the lead in its console, signed in through the console's own form.
    console = await browser.new_context(viewport={"width": 1280, "height": 800})
    tab = await console.new_page()
    await tab.goto(api + "/console/leads")
    await expect(tab.get_by_role("button", name="Log in")).to_be_visible(timeout=15_000)
    await tab.get_by_label("E-mail").fill(t.account.email)
    await tab.get_by_label("Password").fill(t.account.password)
    await tab.get_by_role("button", name="Log in").click()
    row = tab.get_by_test_id("lead-row").filter(has_text="pat@example.com")
    await expect(row).to_have_count(1, timeout=15_000)
    await expect(row.get_by_test_id("lead-email")).to_have_text("pat@example.com")
    await expect(row.get_by_test_id("lead-name")).to_have_text("Pat Doe")
    await console.close()


async def _ready(client: Any) -> bool:
    """Whether the tenant's (only) widget conversation says it is ready for the estimate."""
    from pricewise.estimation.models import ChatSession

    async with client.app.state.ctx.db.session() as s:
        row = (await s.execute(select(ChatSession))).scalars().first()
    return bool(row and row.ready_for_estimate)


async def test_a_page_on_another_origin_is_refused(served_app, site, browser, mailbox):  # noqa: F811
    client, api = await served_app()
    allowed = site.origin("127.0.0.1")
    t = await widget_tenant(client, mailbox, "refused@example.com", origins=(allowed,))
    site.pages["/"] = PAGE.format(api=api, key=t.publishable_key)
    page = await browser.new_page()
    failed: list[str] = []
    page.on("requestfailed", lambda r: failed.append(r.url))
    # Same server, but http://localhost:PORT is another origin than http://127.0.0.1:PORT.
    async with page.expect_console_message(lambda m: m.text.startswith("pricewise widget:"),
                                           timeout=15_000):
        await page.goto(site.origin("localhost") + "/")
    assert any("/widget/config" in url for url in failed), failed  # the browser got nothing readable
    assert not await page.get_by_role("button", name="Get your estimate").is_visible()
    assert not await page.locator("[data-pricewise-widget]").locator(".launch").is_visible()
    r = await client.get("/widget/config", params={"api_key": t.publishable_key},
                         headers={"Origin": site.origin("localhost")})
    assert r.status_code == 403 and "not allowed" in r.json()["error"]["message"]
    async with client.app.state.ctx.db.session() as s:
        assert (await s.execute(select(WidgetSession))).first() is None
    await page.close()
