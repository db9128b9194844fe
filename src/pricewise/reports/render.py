"""A report as a PDF: title page, the sections' text, revenue-and-forecast fan charts and the
analytics tables. Pure: no web, no database (reportlab for the document, matplotlib for charts);
imported by the job that draws a report, not by the API (the two libraries take a second to load).

Fonts are the DejaVu faces matplotlib ships with, embedded in the PDF: any script a product or
segment name may be written in renders, and nothing is fetched at run time.
"""

from __future__ import annotations

import os
import threading
from datetime import date
from io import BytesIO
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

os.environ.setdefault("MPLBACKEND", "Agg")
import matplotlib
import numpy as np

matplotlib.use("Agg")  # before any pyplot import anywhere: no display, no GUI toolkit

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter
from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.pdfgen.canvas import Canvas
from reportlab.platypus import (
    Flowable,
    Image,
    KeepTogether,
    PageBreak,
    Paragraph,
    SimpleDocTemplate,
    Spacer,
    Table,
    TableStyle,
)

from pricewise.reports.data import FanChart, ReportData, money, pct, period, price

__all__ = ["ReportData", "fan_chart_png", "render_report"]

FONT, BOLD = "PwSans", "PwSans-Bold"
_fonts_lock = threading.Lock()
_fonts_ready = False


def _register_fonts() -> None:
    global _fonts_ready
    with _fonts_lock:
        if _fonts_ready:
            return
        ttf = Path(matplotlib.get_data_path()) / "fonts" / "ttf"
        pdfmetrics.registerFont(TTFont(FONT, str(ttf / "DejaVuSans.ttf")))
        pdfmetrics.registerFont(TTFont(BOLD, str(ttf / "DejaVuSans-Bold.ttf")))
        pdfmetrics.registerFontFamily(FONT, normal=FONT, bold=BOLD, italic=FONT, boldItalic=BOLD)
        _fonts_ready = True


# --- charts ----------------------------------------------------------------------------------

def _days(ds: list[date]) -> np.ndarray[Any, np.dtype[np.datetime64]]:
    return np.array(ds, dtype="datetime64[D]")


def fan_chart_png(chart: FanChart, width_in: float = 7.0, height_in: float = 3.2) -> bytes:
    """History line, forecast mean and its 80% / 95% bands, as PNG bytes. No pyplot: a Figure
    with its own Agg canvas is safe to draw on any thread."""
    fig = Figure(figsize=(width_in, height_in), dpi=150)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    if chart.history:
        ax.plot(_days([d for d, _ in chart.history]), [v for _, v in chart.history], color="#1f4e79", lw=1.6,
                label="revenue")
    if chart.forecast:
        months = [f.month for f in chart.forecast]
        pad: list[float] = []
        if chart.history:  # join the forecast to the last observed month
            months, pad = [chart.history[-1][0], *months], [chart.history[-1][1]]
        xs = _days(months)
        ax.fill_between(xs, pad + [f.lo95 for f in chart.forecast], pad + [f.hi95 for f in chart.forecast],
                        color="#f4a261", alpha=0.25, lw=0, label="95% interval")
        ax.fill_between(xs, pad + [f.lo80 for f in chart.forecast], pad + [f.hi80 for f in chart.forecast],
                        color="#e76f51", alpha=0.35, lw=0, label="80% interval")
        ax.plot(xs, pad + [f.mean for f in chart.forecast], color="#c44536", lw=1.6, ls="--", label="forecast")
    ax.set_title(chart.title, fontsize=10)
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _p: f"{v:,.0f}"))
    ax.tick_params(labelsize=7)
    ax.grid(alpha=0.3)
    if chart.history or chart.forecast:
        ax.legend(fontsize=7, loc="upper left")
    fig.autofmt_xdate()
    fig.tight_layout()
    buf = BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()


# --- the document ------------------------------------------------------------------------------

def _styles() -> dict[str, ParagraphStyle]:
    base = ParagraphStyle("body", fontName=FONT, fontSize=9.5, leading=13.5, spaceAfter=5)
    return {
        "title": ParagraphStyle("title", parent=base, fontName=BOLD, fontSize=24, leading=30, spaceAfter=14),
        "subtitle": ParagraphStyle("subtitle", parent=base, fontSize=12, leading=17, spaceAfter=6),
        "h1": ParagraphStyle("h1", parent=base, fontName=BOLD, fontSize=15, leading=20, spaceBefore=10,
                             spaceAfter=7, textColor=colors.HexColor("#1f4e79")),
        "h2": ParagraphStyle("h2", parent=base, fontName=BOLD, fontSize=11, leading=15, spaceBefore=6,
                             spaceAfter=4),
        "body": base,
        "small": ParagraphStyle("small", parent=base, fontSize=8, leading=10.5, textColor=colors.HexColor("#555555")),
        "cell": ParagraphStyle("cell", parent=base, fontSize=8, leading=10, spaceAfter=0),
        "head": ParagraphStyle("head", parent=base, fontName=BOLD, fontSize=8, leading=10, spaceAfter=0),
    }


def _p(text: str, style: ParagraphStyle) -> Paragraph:
    return Paragraph(escape(text).replace("\n", "<br/>"), style)


def _table(header: list[str], rows: list[list[str]], widths: list[float], st: dict[str, ParagraphStyle],
           numeric_from: int) -> Table:
    right = ParagraphStyle("cellr", parent=st["cell"], alignment=2)
    data = [[_p(h, st["head"]) for h in header]]
    data += [[_p(c, right if i >= numeric_from else st["cell"]) for i, c in enumerate(r)] for r in rows]
    t = Table(data, colWidths=widths, repeatRows=1)
    t.setStyle(TableStyle([
        ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#e8eef5")),
        ("LINEBELOW", (0, 0), (-1, 0), 0.6, colors.HexColor("#1f4e79")),
        ("ROWBACKGROUNDS", (0, 1), (-1, -1), [colors.white, colors.HexColor("#f7f7f7")]),
        ("VALIGN", (0, 0), (-1, -1), "TOP"),
        ("TOPPADDING", (0, 0), (-1, -1), 3), ("BOTTOMPADDING", (0, 0), (-1, -1), 3),
    ]))
    return t


def _title_page(d: ReportData, st: dict[str, ParagraphStyle]) -> list[Flowable]:
    out: list[Flowable] = [Spacer(1, 60 * mm), _p(d.name, st["title"]), _p(f"Product: {d.product}", st["subtitle"]),
                           _p(f"Period: {period(d.start, d.end)}", st["subtitle"]),
                           _p(f"Generated: {d.generated_at.strftime('%Y-%m-%d %H:%M')} UTC", st["subtitle"])]
    if d.sections:
        out += [Spacer(1, 10 * mm), _p("Contents", st["h2"])]
        out += [_p(f"{i}. {s.name}", st["body"]) for i, s in enumerate(d.sections, 1)]
    return [*out, PageBreak()]


def _sections(d: ReportData, st: dict[str, ParagraphStyle]) -> list[Flowable]:
    out: list[Flowable] = []
    for i, s in enumerate(d.sections, 1):
        out.append(_p(f"{i}. {s.name}", st["h1"]))
        out += [_p(part.strip(), st["body"]) for part in s.text.split("\n\n") if part.strip()]
        if s.note:
            out.append(_p(f"Note: {s.note}", st["small"]))
    return out


def _charts(d: ReportData, st: dict[str, ParagraphStyle], width: float) -> list[Flowable]:
    out: list[Flowable] = [_p("Revenue and forecast", st["h1"])]
    if not d.charts:
        return [*out, _p("No revenue history for this product and period, so there is no chart.", st["body"])]
    for chart in d.charts:
        png = fan_chart_png(chart)
        img = Image(BytesIO(png), width=width, height=width * 3.2 / 7.0)
        parts: list[Flowable] = [img]
        if chart.note:
            parts.append(_p(chart.note, st["small"]))
        out.append(KeepTogether(parts))
    return out


def _tables(d: ReportData, st: dict[str, ParagraphStyle], width: float) -> list[Flowable]:
    out: list[Flowable] = [_p("Revenue attribution", st["h1"])]
    if d.attribution:
        out.append(_p(f"Total revenue {period(d.start, d.end)}: {money(d.total_revenue)}", st["body"]))
        rows = [[r.plan, r.segment, money(r.revenue), pct(r.percentage),
                 "n/a" if r.users is None else f"{r.users:,}",
                 "n/a" if r.avg_revenue is None else money(r.avg_revenue)] for r in d.attribution]
        out.append(_table(["Plan", "Segment", "Revenue", "Share", "Users", "Avg revenue"], rows,
                          [w * width for w in (0.2, 0.22, 0.18, 0.1, 0.12, 0.18)], st, 2))
    else:
        out.append(_p("No revenue data for this product and period.", st["body"]))
    out.append(_p("Plan performance", st["h1"]))
    if d.performance:
        rows = [[r.plan, r.product, f"{r.efficiency:.2f}", pct(r.value_gap, signed=True), money(r.revenue_12m),
                 money(r.potential)] for r in d.performance]
        out.append(_table(["Plan", "Product", "Efficiency", "Value gap", "Revenue (12 months)", "Potential"],
                          rows, [w * width for w in (0.2, 0.2, 0.12, 0.12, 0.18, 0.18)], st, 2))
        out.append(_p("Efficiency: the plan's share of 12-month revenue over its share of subscriptions. Value gap: "
                      "revenue per subscription against list price. Potential: revenue a plan below 1 would add "
                      "at average efficiency.", st["small"]))
    else:
        out.append(_p("Not enough plans with revenue and subscription history to compare.", st["body"]))
    out.append(_p("Price recommendations", st["h1"]))
    if d.recommendations:
        rows = [[r.segment, r.plan, f"{price(r.current_price)} → {price(r.recommended_price)} {r.currency}",
                 "n/a" if r.elasticity is None else f"{r.elasticity:.2f}", pct(r.revenue_uplift_pct, signed=True),
                 pct(r.margin_uplift_pct, signed=True), pct(r.confidence_pct)] for r in d.recommendations]
        out.append(_table(["Segment", "Plan", "Price (current → recommended)", "Elasticity", "Revenue change",
                           "Margin change", "Confidence"], rows,
                          [w * width for w in (0.15, 0.13, 0.22, 0.11, 0.13, 0.12, 0.14)], st, 3))
        out.append(_p("Revenue and margin change: expected over the forecast horizon at the recommended price, "
                      "against today's price. Confidence: probability that the change improves margin.", st["small"]))
    else:
        out.append(_p("No price recommendations have been made for this product yet.", st["body"]))
    out.append(_p("Gap diagnoses", st["h1"]))
    if d.gaps:
        for g in d.gaps:
            out.append(_p(f"{g.plan} (diagnosed {g.diagnosed_on.isoformat()})", st["h2"]))
            out.append(_p(g.summary, st["body"]))
    else:
        out.append(_p("No gap diagnoses have been made for this product's plans yet.", st["body"]))
    return out


def render_report(data: ReportData) -> bytes:
    _register_fonts()
    st = _styles()
    buf = BytesIO()
    doc = SimpleDocTemplate(buf, pagesize=A4, leftMargin=18 * mm, rightMargin=18 * mm, topMargin=18 * mm,
                            bottomMargin=18 * mm, title=data.name, author="pricewise", subject=data.product)
    width = float(doc.width)

    def footer(canvas: Canvas, _doc: Any) -> None:
        canvas.saveState()
        canvas.setFont(FONT, 7.5)
        canvas.setFillColor(colors.HexColor("#777777"))
        canvas.drawString(18 * mm, 10 * mm, data.name[:90])
        canvas.drawRightString(A4[0] - 18 * mm, 10 * mm, f"page {canvas.getPageNumber()}")
        canvas.restoreState()

    story = _title_page(data, st) + _sections(data, st) + _charts(data, st, width) + _tables(data, st, width)
    doc.build(story, onFirstPage=footer, onLaterPages=footer)
    return buf.getvalue()
