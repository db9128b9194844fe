"""The pure parts: what each section is about, the template text over its figures, and the PDF."""

from __future__ import annotations

from datetime import UTC, date, datetime
from io import BytesIO

from PIL import Image as PILImage
from pypdf import PdfReader

from pricewise.analytics.narrator import numbers_in, unknown_numbers
from pricewise.reports.data import (
    AttributionRow,
    FanChart,
    ForecastMonth,
    GapRow,
    PerformanceRow,
    RecommendationRow,
    ReportData,
    SectionText,
    money,
)
from pricewise.reports.render import fan_chart_png, render_report
from pricewise.reports.templates import TEMPLATES, TOPICS, section_material, slug, topics_for

NOW = datetime(2025, 2, 3, 10, 30, tzinfo=UTC)


def full() -> ReportData:
    history = [(date(2024, m, 1), 10_000.0 + 250 * m) for m in range(1, 13)]
    forecast = [ForecastMonth(date(2025, m, 1), 13_100.0 + 90 * m, 12_400.0, 13_900.0, 11_900.0, 14_450.0)
                for m in range(1, 7)]
    return ReportData(
        name="Quarterly Pricing Review", product="Pool Care", start=date(2024, 1, 1), end=date(2024, 12, 31),
        generated_at=NOW, charts=[FanChart("Pool Care", history, forecast, "Forecast model(s): AutoETS.")],
        attribution=[AttributionRow("Pro", "SMB", 98_765.43, 61.2, 120, 823.05),
                     AttributionRow("Basic", "Enterprise", 62_610.0, 38.8, None, None)],
        total_revenue=161_375.43,
        performance=[PerformanceRow("Pool Care", "Pro", 1.31, 4.2, 98_765.43, 0.0),
                     PerformanceRow("Pool Care", "Basic", 0.74, -13.5, 62_610.0, 21_997.3)],
        recommendations=[RecommendationRow("SMB", "Pro", "USD", 36.0, 41.4, -1.52, 3.4, 9.8, 71.2)],
        gaps=[GapRow("Basic", "Basic: 1 gap(s) found: churn rose to 4.1% from 2.0%.", date(2025, 1, 20))])


def test_a_section_is_about_what_its_type_or_words_say():
    assert topics_for({"name": "Executive Summary", "prompt": "Generate executive summary"}) == ["summary"]
    assert topics_for({"name": "Revenue Analysis", "prompt": "Analyze revenue trends by customer segment"}) == [
        "revenue", "forecast"]
    assert topics_for({"name": "Anything", "prompt": "x", "section_type": "gaps"}) == ["gaps"]
    assert topics_for({"name": "Misc", "prompt": "tell me a story", "section_type": "custom"}) == ["summary"]
    assert all(topics_for(s)[0] in TOPICS for t in TEMPLATES.values() for s in t.sections)


def test_each_template_text_states_only_its_figures():
    data = full()
    for topic in TOPICS:
        facts, text = section_material({"name": "S", "section_type": topic}, data)
        assert numbers_in(text), topic
        assert unknown_numbers(text, facts) == [], (topic, text)
    _, text = section_material({"name": "Revenue", "section_type": "revenue"}, data)
    assert money(98_765.43) in text and "120 subscriptions" in text and "Enterprise 62,610.00" in text
    _, text = section_material({"name": "Pricing", "section_type": "recommendations"}, data)
    assert "36.00 to 41.40 USD" in text and "elasticity -1.52" in text


def test_without_data_every_section_says_so():
    empty = ReportData(name="Empty", product="Spas", start=None, end=None, generated_at=NOW)
    for topic in TOPICS:
        facts, text = section_material({"name": "S", "section_type": topic}, empty)
        assert text and unknown_numbers(text, facts) == []
    pdf = render_report(empty)
    reader = PdfReader(BytesIO(pdf))
    text = "\n".join(p.extract_text() for p in reader.pages)
    assert "No revenue history for this product and period" in text and "Period: all data" in text
    assert sum(len(p.images) for p in reader.pages) == 0


def test_the_pdf_has_the_title_page_sections_chart_and_tables():
    data = full()
    data = ReportData(**{**data.__dict__, "sections": [
        SectionText("Executive Summary", "First paragraph <b>not markup</b> & more.\n\nSecond paragraph."),
        SectionText("Outlook", "Steady.", "template", note="the LLM call failed (timeout); template used")]})
    reader = PdfReader(BytesIO(render_report(data)))
    pages = [p.extract_text() for p in reader.pages]
    assert "Quarterly Pricing Review" in pages[0] and "Product: Pool Care" in pages[0]
    assert "Period: 2024-01-01 to 2024-12-31" in pages[0] and "Generated: 2025-02-03 10:30 UTC" in pages[0]
    text = "\n".join(pages)
    for expected in ("1. Executive Summary", "2. Outlook", "<b>not markup</b> & more.", "Second paragraph.",
                     "Note: the LLM call failed", "98,765.43", "61.2%", "823.05", "161,375.43", "36.00 → 41.40 USD",
                     "+9.8%", "71.2%", "21,997.30", "churn rose to 4.1%", "Forecast model(s): AutoETS."):
        assert expected in text, expected
    assert reader.metadata is not None and reader.metadata.title == "Quarterly Pricing Review"
    assert sum(len(p.images) for p in reader.pages) == 1


def test_the_fan_chart_is_a_png_with_the_bands_drawn():
    chart = full().charts[0]
    img = PILImage.open(BytesIO(fan_chart_png(chart))).convert("RGB")
    assert img.size == (1050, 480)
    colours = {c for _n, c in img.getcolors(maxcolors=1 << 20)}
    assert (31, 78, 121) in colours  # the history line
    bare = PILImage.open(BytesIO(fan_chart_png(FanChart("x", chart.history, [])))).convert("RGB")
    assert len(bare.getcolors(maxcolors=1 << 20)) < len(colours)  # no bands without a forecast


def test_file_names_are_safe():
    assert slug("Monthly Revenue Report / Q1 (draft)") == "monthly-revenue-report-q1-draft"
    assert slug("日本") == "report"
