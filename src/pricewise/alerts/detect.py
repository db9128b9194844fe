"""The alert rules: revenue drop, churn spike, price anomaly, competitor change. Pure: no web, no
database.

Each rule judges one subject (a contribution, a plan, a segment) for one period and returns a
`Verdict`: a `Finding` when the condition is breached, none when the data show it is not, or no
verdict at all when there are too few data to judge. Thresholds and their reasons are in
docs/alerts.md.
"""

from __future__ import annotations

import hashlib
import re
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date
from typing import Any

from pricewise.analytics.series import month_start, next_month

TYPES = ("price_anomaly", "competitor_change", "revenue_drop", "churn_spike")
SEVERITIES = ("low", "medium", "high", "critical")

# revenue_drop
REVENUE_HISTORY = 6  # months of baseline before the month judged
REVENUE_MAX_AGE = 3  # the month judged is one of the last 3 complete months, else it is not news
REVENUE_Z = -3.0  # robust z-score (MAD-based) at or below which a month is an outlier
REVENUE_MIN_DROP = 0.15  # and at least this far below the baseline median
MAD_FLOOR = 0.01  # MAD floored at 1% of the median: a flat history still gives a finite score
# churn_spike
CHURN_HISTORY = 6
CHURN_MIN_HISTORY = 3  # trailing months with customers at their start, needed to judge
CHURN_FACTOR = 2.0  # above twice the trailing median...
CHURN_SIGMAS = 3.0  # ...and above the median plus 3 robust standard deviations
MAD_TO_SIGMA = 1.4826  # sigma of a normal distribution = 1.4826 x its MAD
# price_anomaly
PRICE_CHANGE = 0.5  # a change beyond +/-50% of the previous price
PRICE_FAR = 3.0  # more than 3x or below 1/3 of the competitors' median price
PRICE_VERY_FAR = 10.0
# competitor_change
COMPETITOR_CHANGE = 0.10  # a competitor's known price moving by 10% or more either way
COMPETITOR_MEDIUM = 0.25  # severity by the size of the move: low, medium from 25%, high from 50%
COMPETITOR_HIGH = 0.50


@dataclass(frozen=True)
class OurPlan:
    """A plan of ours that a competitor's price is compared with."""

    plan_id: str
    label: str
    price: float


@dataclass(frozen=True)
class Finding:
    severity: str
    title: str
    message: str
    trigger: dict[str, Any]
    threshold: dict[str, Any]


@dataclass(frozen=True)
class Verdict:
    """One condition on one subject for one period. `finding` None: checked, not breached."""

    type: str
    rule: str
    subject: str  # contribution | plan | segment
    subject_id: str
    period: str  # YYYY-MM, possibly with a suffix that tells events of one month apart
    finding: Finding | None = None
    product_id: str | None = None
    segment_id: str | None = None
    plan_id: str | None = None

    @property
    def condition(self) -> str:
        """The dedupe key without its period: every alert of this condition on this subject."""
        return f"{self.type}:{self.rule}:{self.subject}:{self.subject_id}:"

    @property
    def key(self) -> str:
        return self.condition + self.period


def ym(d: date) -> str:
    return f"{d.year:04d}-{d.month:02d}"


def month_name(d: date) -> str:
    return d.strftime("%B %Y")


def _money(x: float, currency: str = "USD") -> str:
    symbol = {"USD": "$", "EUR": "€", "GBP": "£"}.get(currency, currency + " ")
    return f"{symbol}{x:,.2f}"


def mad(values: Sequence[float]) -> tuple[float, float]:
    """(median, median absolute deviation)."""
    med = statistics.median(values)
    return med, statistics.median(abs(v - med) for v in values)


def months_before(d: date, n: int) -> date:
    y, m = d.year, d.month - n
    while m < 1:
        y, m = y - 1, m + 12
    return date(y, m, 1)


# --- revenue_drop --------------------------------------------------------------------------

def revenue_drop(months: Sequence[date], values: Sequence[float], today: date, *, subject: str,
                 subject_id: str, label: str, currency: str = "USD") -> Verdict | None:
    """The last complete month against the median of the 6 months before it.

    Breach: robust z = 0.6745 (x - median) / MAD <= -3 and x at least 15% below the median.
    Severity by the size of the drop: >= 50% critical, >= 30% high, else medium."""
    current = month_start(today)
    pairs = [(m, v) for m, v in zip(months, values, strict=True) if m < current]
    if len(pairs) < REVENUE_HISTORY + 1:
        return None
    last_month, last = pairs[-1]
    if last_month < months_before(current, REVENUE_MAX_AGE):
        return None
    history = [v for _, v in pairs[-REVENUE_HISTORY - 1:-1]]
    med, dev = mad(history)
    verdict = Verdict("revenue_drop", "below_baseline", subject, subject_id, ym(last_month))
    if med <= 0:  # no revenue to lose
        return verdict
    dev = max(dev, MAD_FLOOR * med)
    z = 0.6745 * (last - med) / dev
    drop = 1.0 - last / med
    if z > REVENUE_Z or drop < REVENUE_MIN_DROP:
        return verdict
    severity = "critical" if drop >= 0.5 else "high" if drop >= 0.3 else "medium"
    finding = Finding(
        severity=severity,
        title=f"Revenue drop of {drop:.0%} for {label} in {month_name(last_month)}",
        message=(f"Revenue of {label} in {month_name(last_month)} was {_money(last, currency)}, {drop:.1%} below "
                 f"the median of the previous {REVENUE_HISTORY} months ({_money(med, currency)}); robust z-score "
                 f"{z:.1f}."),
        trigger={"month": ym(last_month), "revenue": round(last, 2), "baseline_median": round(med, 2),
                 "mad": round(dev, 2), "robust_z": round(z, 2), "drop": round(drop, 4),
                 "history": [{"month": ym(m), "revenue": round(v, 2)}
                             for m, v in pairs[-REVENUE_HISTORY - 1:-1]]},
        threshold={"robust_z_at_most": REVENUE_Z, "drop_at_least": REVENUE_MIN_DROP,
                   "baseline_months": REVENUE_HISTORY})
    return replace(verdict, finding=finding)


# --- churn_spike ---------------------------------------------------------------------------

@dataclass(frozen=True)
class ChurnMonth:
    month: date
    active: int  # customers active at the month's start
    churned: int  # of those, churned within the month

    @property
    def rate(self) -> float | None:
        return self.churned / self.active if self.active else None


def churn_months(customers: Sequence[tuple[date | None, date | None]], months: Sequence[date]) -> list[ChurnMonth]:
    """For each month: customers (signup, churned_at) active at its start and churned within it.
    Active at the start: signed up before it (or signup unknown) and not churned before it."""
    out = []
    for m in months:
        end = next_month(m)
        active = churned = 0
        for signup, churn in customers:
            if (signup is not None and signup >= m) or (churn is not None and churn < m):
                continue
            active += 1
            if churn is not None and churn < end:
                churned += 1
        out.append(ChurnMonth(m, active, churned))
    return out


def churn_spike(history: Sequence[ChurnMonth], judged: ChurnMonth, *, subject: str, subject_id: str,
                label: str, min_churned: int, complete: bool = True) -> Verdict | None:
    """The month's churn rate against its trailing months (`history`, oldest first).

    Breach: rate > max(2 x trailing median, median + 3 x 1.4826 MAD) and at least `min_churned`
    customers churned. A month still running (`complete` False) can only get worse: its breach
    counts, its absence of one proves nothing (no verdict)."""
    rates = [h.rate for h in history if h.rate is not None]
    rate = judged.rate
    if len(rates) < CHURN_MIN_HISTORY or rate is None:
        return None
    med, dev = mad(rates)
    limit = max(CHURN_FACTOR * med, med + CHURN_SIGMAS * MAD_TO_SIGMA * dev)
    verdict = Verdict("churn_spike", "above_trailing", subject, subject_id, ym(judged.month))
    if rate <= limit or judged.churned < min_churned:
        return verdict if complete else None
    ratio = rate / limit if limit > 0 else float("inf")
    severity = "critical" if ratio >= 3 else "high" if ratio >= 1.5 else "medium"
    so_far = "" if complete else " so far"
    finding = Finding(
        severity=severity,
        title=f"Churn spike of {rate:.1%} for {label} in {month_name(judged.month)}",
        message=(f"{judged.churned} of the {judged.active} customers of {label} active on "
                 f"{judged.month.isoformat()} churned in {month_name(judged.month)}{so_far} ({rate:.1%}); the "
                 f"median of the previous {len(history)} months is {med:.1%}, and the limit {limit:.1%}."),
        trigger={"month": ym(judged.month), "churn_rate": round(rate, 4), "churned": judged.churned,
                 "active_at_start": judged.active, "trailing_median": round(med, 4), "trailing_mad": round(dev, 4),
                 "month_complete": complete,
                 "history": [{"month": ym(h.month), "churn_rate": None if h.rate is None else round(h.rate, 4),
                              "churned": h.churned, "active_at_start": h.active} for h in history]},
        threshold={"rate_above": round(limit, 4), "factor_of_median": CHURN_FACTOR, "robust_sigmas": CHURN_SIGMAS,
                   "min_churned": min_churned})
    return replace(verdict, finding=finding)


# --- price_anomaly -------------------------------------------------------------------------

def price_change(previous: float | None, price: float, today: date, *, plan_id: str, label: str,
                 currency: str = "USD") -> Verdict | None:
    """A change beyond +/-50% of the previous price. An event, not a state: no verdict without a
    change, and one alert per plan, month and new price. High when the price doubles or halves."""
    if previous is None or previous <= 0 or price == previous:
        return None
    change = price / previous - 1.0
    if abs(change) <= PRICE_CHANGE:
        return None
    verdict = Verdict("price_anomaly", "change", "plan", plan_id, f"{ym(today)}:{price:g}")
    ratio = max(price / previous, previous / price) if price > 0 else float("inf")
    finding = Finding(
        severity="high" if ratio >= 2 else "medium",
        title=f"Price of {label} changed by {change:+.0%}",
        message=(f"The list price of {label} changed from {_money(previous, currency)} to "
                 f"{_money(price, currency)} ({change:+.1%}), beyond the ±{PRICE_CHANGE:.0%} that a routine "
                 "price change stays within."),
        trigger={"previous_price": previous, "price": price, "change": round(change, 4), "currency": currency},
        threshold={"change_beyond": PRICE_CHANGE})
    return replace(verdict, finding=finding)


def below_cogs(price: float, cogs: float | None, today: date, *, plan_id: str, label: str,
               currency: str = "USD") -> Verdict | None:
    """A price below the unit COGS: selling at a loss. A free plan (price 0) is a choice, not an
    anomaly. Critical at or below half the COGS, else high."""
    if cogs is None or cogs <= 0 or price <= 0:
        return None
    verdict = Verdict("price_anomaly", "below_cogs", "plan", plan_id, ym(today))
    if price >= cogs:
        return verdict
    margin = (price - cogs) / price
    finding = Finding(
        severity="critical" if price <= cogs / 2 else "high",
        title=f"{label} is priced below its unit cost",
        message=(f"The list price of {label} ({_money(price, currency)}) is below its COGS per unit "
                 f"({_money(cogs, currency)}): each unit sold loses {_money(cogs - price, currency)} "
                 f"(gross margin {margin:.1%})."),
        trigger={"price": price, "cogs_per_unit": cogs, "gross_margin": round(margin, 4), "currency": currency},
        threshold={"price_at_least": cogs})
    return replace(verdict, finding=finding)


def vs_competitors(price: float, competitor_prices: Sequence[float], today: date, *, plan_id: str,
                   label: str, currency: str = "USD") -> Verdict | None:
    """A price more than 3x, or below 1/3 of, the median of the competitors' known prices.
    Competitors' prices are loosely comparable (units, tiers), hence the wide band: low severity,
    medium beyond 10x."""
    known = [p for p in competitor_prices if p > 0]
    if not known or price <= 0:
        return None
    med = statistics.median(known)
    ratio = price / med
    verdict = Verdict("price_anomaly", "vs_competitors", "plan", plan_id, ym(today))
    if 1 / PRICE_FAR <= ratio <= PRICE_FAR:
        return verdict
    far = max(ratio, 1 / ratio)
    side = "above" if ratio > 1 else "below"
    finding = Finding(
        severity="medium" if far >= PRICE_VERY_FAR else "low",
        title=f"{label} is priced {far:.1f}x {side} its competitors",
        message=(f"The list price of {label} ({_money(price, currency)}) is {far:.1f} times {side} the median "
                 f"of {len(known)} competitor price(s) ({_money(med, currency)})."),
        trigger={"price": price, "competitor_median": med, "competitors": len(known), "ratio": round(ratio, 4)},
        threshold={"ratio_between": [round(1 / PRICE_FAR, 4), PRICE_FAR]})
    return replace(verdict, finding=finding)


# --- competitor_change ---------------------------------------------------------------------

def _norm_name(c: Mapping[str, Any]) -> str:
    return " ".join(str(c.get("competitor_name") or "").split()).casefold()


def _norm_url(c: Mapping[str, Any]) -> str:
    url = re.sub(r"^[a-z][a-z0-9+.-]*://(www\.)?", "", str(c.get("website_url") or "").strip().lower())
    return url.split("#")[0].split("?")[0].rstrip("/")


def _known_price(c: Mapping[str, Any]) -> float | None:
    p = c.get("unit_price")
    return float(p) if isinstance(p, int | float) and not isinstance(p, bool) and p >= 0 else None


def pair_competitors(before: Sequence[Any], after: Sequence[Any]) -> list[tuple[Mapping[str, Any], Mapping[str, Any]]]:
    """(before, after) for each competitor present in both lists: the same name (case and spacing
    aside), else the same website (a renamed competitor). Each entry pairs at most once."""
    old = [c for c in before if isinstance(c, Mapping)]
    new = [c for c in after if isinstance(c, Mapping)]
    used: set[int] = set()
    pairs: list[tuple[Mapping[str, Any], Mapping[str, Any]]] = []
    unmatched: list[Mapping[str, Any]] = []
    for c in new:
        i = next((i for i, o in enumerate(old) if i not in used and _norm_name(c) and _norm_name(o) == _norm_name(c)),
                 None)
        if i is None:
            unmatched.append(c)
        else:
            used.add(i)
            pairs.append((old[i], c))
    for c in unmatched:
        i = next((i for i, o in enumerate(old) if i not in used and _norm_url(c) and _norm_url(o) == _norm_url(c)),
                 None)
        if i is not None:
            used.add(i)
            pairs.append((old[i], c))
    return pairs


_LADDER = ("low", "medium", "high", "critical")


def competitor_changes(before: Sequence[Any], after: Sequence[Any], plans: Sequence[OurPlan], today: date, *,
                       product_id: str, product_label: str, currency: str = "USD") -> list[Verdict]:
    """A competitor's known price that moved by 10% or more either way, or that now undercuts one of
    our plans (below its price, having been at or above it), whatever the size of the move.

    An event, like a plan's price change: no verdict without a change, none when either price is
    unknown, one alert per competitor, month and move. Severity by the size of the move (low, medium
    from 25%, high from 50%), one step higher when it now undercuts a plan of ours."""
    out: list[Verdict] = []
    for old, new in pair_competitors(before, after):
        previous, price = _known_price(old), _known_price(new)
        if previous is None or price is None or previous <= 0 or price == previous:
            continue
        change = price / previous - 1.0
        undercut = sorted((p for p in plans if p.price > 0 and price < p.price <= previous), key=lambda p: -p.price)
        if abs(change) < COMPETITOR_CHANGE and not undercut:
            continue
        size = abs(change)
        level = 2 if size >= COMPETITOR_HIGH else 1 if size >= COMPETITOR_MEDIUM else 0
        severity = _LADDER[level + (1 if undercut else 0)]
        name = " ".join(str(new.get("competitor_name") or old.get("competitor_name") or "A competitor").split())
        ident = hashlib.sha256(_norm_name(new).encode()).hexdigest()[:12]
        verb = "cut" if change < 0 else "raised"
        title = f"{name} {verb} its price by {size:.0%}"
        message = (f"The known price of competitor {name} (against {product_label}) went from "
                   f"{_money(previous, currency)} to {_money(price, currency)} ({change:+.1%}).")
        if undercut:
            below = undercut[0].label if len(undercut) == 1 else f"{len(undercut)} of our plans"
            title += f", now below {below}"
            message += (" It is now below the list price of " + ", ".join(
                f"{p.label} ({_money(p.price, currency)})" for p in undercut) + ", having been at or above it.")
        verdict = Verdict("competitor_change", "price_change", "competitor", f"{product_id}:{ident}",
                          f"{ym(today)}:{previous:g}->{price:g}", product_id=product_id,
                          plan_id=undercut[0].plan_id if len(undercut) == 1 else None)
        finding = Finding(
            severity=severity, title=title, message=message,
            trigger={"competitor": name, "website_url": new.get("website_url"), "previous_price": previous,
                     "price": price, "change": round(change, 4), "currency": currency,
                     "undercuts": [{"plan_id": p.plan_id, "plan": p.label, "price": p.price} for p in undercut]},
            threshold={"change_at_least": COMPETITOR_CHANGE, "or_undercuts_a_plan": True})
        out.append(replace(verdict, finding=finding))
    return out
