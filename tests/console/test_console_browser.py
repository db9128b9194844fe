"""The console in Debian's Chromium: the calibration dashboard shows the figures of
GET /feedback/summary, and a lead taken through the API appears on the leads page."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select, update

from pricewise.core.base import utcnow
from pricewise.estimation.models import Feedback
from tests.browser import keep_screenshot
from tests.console.conftest import estimate
from tests.support import Mailbox, signup

# (description, actual cost as a multiple of the estimate's P50, weeks): within 20% or not, over
# P80 or not, across two reference classes.
PROJECTS = [
    ("15x30 pool with spa in San Diego", 1.05, 10),
    ("16x32 gunite pool in San Diego", 1.45, 14),
    ("kitchen remodel of 200 sq ft in Fresno", 0.9, 8),
    ("kitchen remodel with new cabinets in Fresno", 1.3, 12),
    ("bathroom remodel in Fresno", 1.1, None),
]


def pct(v: float | None) -> str:
    return "—" if v is None else f"{v * 100:.0f}%"


def var(v: float | None) -> str:
    return "—" if v is None else f"{v:.1f}%"


async def login(page: Any, base: str, email: str, password: str) -> None:
    await page.goto(f"{base}/console/calibration")
    assert "/console/login" in page.url  # sent to the form, and back afterwards
    await page.fill('input[name="email"]', email)
    await page.fill('input[name="password"]', password)
    await page.click('button[type="submit"]')
    await page.wait_for_url(f"{base}/console/calibration")


async def test_calibration_dashboard_shows_the_summary_figures(served_app, browser, mailbox: Mailbox, tmp_path: Path):
    client, base = await served_app()
    acct = await signup(client, mailbox, "owner@example.com")
    ids = []
    for i, (text, factor, weeks) in enumerate(PROJECTS):
        est = await estimate(client, acct.bearer, description=text, customer_email=f"c{i}@example.com",
                             customer_name=f"Customer {i}")
        body: dict[str, Any] = {"estimation_id": est["_id"], "actual_cost": round(est["estimate"]["cost_p50"] * factor)}
        if weeks:
            body["actual_timeline_weeks"] = weeks
        r = await client.post("/feedback/contractor", json=body, headers=acct.bearer)
        assert r.status_code == 201, r.text
        ids.append(est["_id"])
    await estimate(client, acct.bearer, description="roof replacement in Fresno")  # no outcome yet
    # Two outcomes reported last month (a backdated submission), so the trend has two points.
    last_month = (utcnow().replace(day=1) - timedelta(days=3))
    async with client.app.state.ctx.db.session() as s:
        await s.execute(update(Feedback).where(Feedback.estimation_id.in_(ids[:2])).values(submitted_at=last_month))
        await s.commit()
        months = sorted({f.submitted_at.strftime("%Y-%m") for f in (await s.execute(select(Feedback))).scalars()})
    summary = (await client.get("/feedback/summary", headers=acct.bearer)).json()
    m = summary["accuracy_metrics"]
    assert summary["feedback_submissions"] == 5 and 0 < m["within_20_pct"] < 1  # a dashboard worth checking

    context = await browser.new_context(viewport={"width": 1280, "height": 900})
    page = await context.new_page()
    await login(page, base, acct.email, acct.password)

    async def text(testid: str, within: Any = None) -> str:
        return (await (within or page).get_by_test_id(testid).inner_text()).strip()

    assert await text("total-estimates") == str(summary["total_estimates"])
    assert await text("feedback-submissions") == str(summary["feedback_submissions"])
    assert await text("feedback-rate") == pct(summary["feedback_rate"])
    assert await text("within-20") == pct(m["within_20_pct"])
    assert await text("p80-coverage") == pct(m["p80_coverage"])
    assert await text("avg-cost-variance") == var(m["avg_cost_variance_pct"])
    assert await text("avg-timeline-variance") == var(m["avg_timeline_variance_pct"])
    rows = page.get_by_test_id("class-row")
    assert await rows.count() == len(summary["by_reference_class"]) >= 2
    for name, c in summary["by_reference_class"].items():
        row = page.locator(f'[data-testid="class-row"][data-class="{name}"]')
        assert await text("class-count", row) == str(c["count"])
        assert await text("class-within-20", row) == pct(c["within_20_pct"])
        assert await text("class-p80-coverage", row) == pct(c["p80_coverage"])
        assert await text("class-avg-variance", row) == var(c["avg_variance_pct"])
    # The trend: one point per month with outcomes, drawn inside the chart.
    points = page.get_by_test_id("trend-point")
    assert await points.count() == len(months) == 2
    assert [await points.nth(i).get_attribute("data-month") for i in range(2)] == months
    assert await page.get_by_test_id("trend-chart").is_visible()
    await page.screenshot(path=str(tmp_path / "console-calibration-1280.png"), full_page=True)
    keep_screenshot(tmp_path / "console-calibration-1280.png")

    # The leads taken with those estimates are on the leads page.
    await page.goto(f"{base}/console/leads")
    assert await page.get_by_test_id("lead-row").count() == len(PROJECTS)
    assert await page.get_by_text("c0@example.com").is_visible()
    row = page.locator('[data-testid="lead-row"]', has_text="c0@example.com")
    await row.locator('select[name="status"]').select_option("contacted")
    await row.get_by_role("button", name="Set").click()
    await page.wait_for_url("**/console/leads?done=lead")
    assert await page.get_by_test_id("notice").inner_text() == "Lead updated."
    leads = {x["customer_email"]: x["status"] for x in (await client.get("/leads", headers=acct.bearer)).json()}
    assert leads["c0@example.com"] == "contacted"
    await page.screenshot(path=str(tmp_path / "console-leads-1280.png"), full_page=True)
    keep_screenshot(tmp_path / "console-leads-1280.png")
    await context.close()


async def test_branding_preview_follows_the_form_before_saving(served_app, browser, mailbox: Mailbox,
                                                               tmp_path: Path):
    client, base = await served_app()
    acct = await signup(client, mailbox, "owner@example.com")
    context = await browser.new_context(viewport={"width": 375, "height": 800})
    page = await context.new_page()
    await page.goto(f"{base}/console/settings")
    await page.fill('input[name="email"]', acct.email)
    await page.fill('input[name="password"]', acct.password)
    await page.click('button[type="submit"]')
    await page.wait_for_url(f"{base}/console/settings")
    button = page.locator('#branding-preview [data-role="button"]')
    assert await button.inner_text() == "Get an estimate"
    await page.fill('input[name="widget_button_text"]', "Price my pool")
    await page.locator('input[name="primary_color"]').evaluate(
        "el => { el.value = '#0f766e'; el.dispatchEvent(new Event('input', {bubbles: true})); }")
    assert await button.inner_text() == "Price my pool"
    color = await button.evaluate("el => getComputedStyle(el).backgroundColor")
    assert color == "rgb(15, 118, 110)"
    # Nothing is saved until the form is submitted; then the API has it too.
    assert (await client.get("/tenants/me", headers=acct.bearer)).json()["branding"] == {}
    await page.get_by_role("button", name="Save branding").click()
    await page.wait_for_url("**/console/settings?done=branding")
    branding = (await client.get("/tenants/me", headers=acct.bearer)).json()["branding"]
    assert branding["widget_button_text"] == "Price my pool" and branding["primary_color"].lower() == "#0f766e"
    assert await page.locator('#branding-preview [data-role="button"]').inner_text() == "Price my pool"
    await page.screenshot(path=str(tmp_path / "console-settings-375.png"), full_page=True)
    keep_screenshot(tmp_path / "console-settings-375.png")
    await context.close()
