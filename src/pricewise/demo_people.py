"""The demo workspace's customers: 200 accounts with monthly usage and about 60 feedback rows.

Customers are spread over segments and the plans their segment is linked to; engagement drives
both usage and satisfaction, and the price paid against what the segment would pay drives the
price perception, so the usage/satisfaction models have real signal to find.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

import numpy as np
from sqlalchemy import insert

from pricewise.analytics.models import Customer, CustomerFeedback, UsageRecord
from pricewise.catalog.models import PricingPlan
from pricewise.core.tenancy import Scope

CUSTOMERS = 200
FEEDBACK = 60
USAGE_MONTHS = 6

SEGMENT_SHARE = {"Startups": 0.35, "SMB": 0.33, "Mid-market": 0.21, "Enterprise": 0.11}
SEATS = {"Startups": 4, "SMB": 11, "Mid-market": 38, "Enterprise": 160}
CHURN = {"Startups": 0.20, "SMB": 0.12, "Mid-market": 0.07, "Enterprise": 0.03}
WILLING_PER_SEAT = {"Startups": 14.0, "SMB": 32.0, "Mid-market": 58.0, "Enterprise": 92.0}
EMPLOYEES = {"Startups": (3, 20), "SMB": (20, 200), "Mid-market": (200, 1000), "Enterprise": (1000, 20000)}
INDUSTRIES = ("SaaS", "E-commerce", "Fintech", "Healthcare", "Logistics", "Media", "Education", "Manufacturing")
COUNTRIES = ("US", "US", "US", "GB", "DE", "FR", "NL", "CA", "AU", "SE")
NAME_A = ("Blue", "North", "Bright", "Silver", "Rapid", "Clear", "Summit", "Harbor", "Quantum", "Maple",
          "Granite", "Lumen", "Vector", "Cedar", "Orbit", "Delta", "Pioneer", "Atlas", "Nimbus", "Copper")
NAME_B = ("Path", "Leaf", "Stack", "Forge", "Works", "Signal", "Metrics", "Cart", "Health", "Freight",
          "Ledger", "Learn", "Labs", "Loop", "Grid", "Hive", "Field", "Point", "Wave", "Bridge")
SUFFIX = ("Inc", "Ltd", "GmbH", "Co", "Labs", "Group", "Technologies", "HQ")
REQUESTS = ("dbt integration", "more alert channels", "PDF exports", "embedded dashboards", "usage-based add-on",
            "annual discount", "audit log export", "more data sources on Starter", "SCIM provisioning",
            "faster dashboard loads")
COMMENTS = {
    "too_expensive": "Useful product, but the per-seat price is hard to justify for occasional viewers.",
    "fair": "Pricing feels in line with the value; dashboards are used every week.",
    "cheap": "Great value for what we get; we would pay more for advanced permissions.",
}


def _choice(rng: np.random.Generator, items: list[Any] | tuple[Any, ...], p: list[float] | None = None) -> Any:
    return items[int(rng.choice(len(items), p=p))]


async def add_people(scope: Scope, rng: np.random.Generator, today: date, product_id: str,
                     segs: dict[str, str], plans: dict[str, PricingPlan], latest: dict[tuple[str, str], float],
                     changed_at: datetime) -> None:
    names = list(SEGMENT_SHARE)
    by_segment: dict[str, list[tuple[str, float]]] = {}
    for (seg_name, plan_key), subs in latest.items():
        paid = float(plans[plan_key].unit_price) > 0
        by_segment.setdefault(seg_name, []).append((plan_key, subs * (1.0 if paid else 0.4)))
    customers: list[dict[str, Any]] = []
    for i in range(CUSTOMERS):
        seg = _choice(rng, names, list(SEGMENT_SHARE.values()))
        options = by_segment[seg]
        weights = np.array([w for _, w in options])
        plan_name = options[int(rng.choice(len(options), p=weights / weights.sum()))][0]
        plan = plans[plan_name]
        seats = max(round(float(rng.lognormal(np.log(SEATS[seg]), 0.45))), plan.min_unit_count, 1)
        if float(plan.unit_price) == 0:
            seats = min(seats, 3)
        signup = today - timedelta(days=int(rng.integers(30, 36 * 30)))
        churn_p = CHURN[seg] + (0.08 if plan_name == "Growth" and signup < changed_at.date() else 0.0)
        churned = None
        if rng.random() < churn_p:
            span = max((today - signup).days - 31, 1)
            churned = signup + timedelta(days=31 + int(rng.integers(0, span)))
        lo, hi = EMPLOYEES[seg]
        customers.append({
            "uid": f"ACME-C{i + 1:04d}", "segment": seg, "plan": plan_name, "seats": seats,
            "signup": signup, "churned": churned, "engagement": float(rng.beta(4, 2.5)),
            "name": f"{_choice(rng, NAME_A)} {_choice(rng, NAME_B)} {_choice(rng, SUFFIX)}",
            "attributes": {"industry": _choice(rng, INDUSTRIES), "country": _choice(rng, COUNTRIES),
                           "employees": int(rng.integers(lo, hi))}})
    for c in customers:
        plan = plans[c["plan"]]
        scope.add(Customer(customer_uid=c["uid"], name=c["name"], product_id=product_id,
                           segment_id=segs[c["segment"]], plan_id=plan.id,
                           monthly_revenue=round(c["seats"] * float(plan.unit_price), 2), seats=c["seats"],
                           signup_date=c["signup"], churned_at=c["churned"],
                           attributes={**c["attributes"], "engagement": round(c["engagement"], 3)}))
    await scope.session.flush()
    await scope.session.execute(insert(UsageRecord), _usage(scope, rng, today, product_id, customers))
    _feedback(scope, rng, today, product_id, segs, plans, customers, changed_at)
    await scope.session.flush()


def _usage(scope: Scope, rng: np.random.Generator, today: date, product_id: str,
           customers: list[dict[str, Any]]) -> list[dict[str, Any]]:
    index = today.year * 12 + today.month - 1
    months = [date((index - k) // 12, (index - k) % 12 + 1, 1) for k in range(USAGE_MONTHS, 0, -1)]
    rows: list[dict[str, Any]] = []
    for c in customers:
        for m in months:
            if c["signup"] > m or (c["churned"] is not None and c["churned"] <= m):
                continue
            active = max(1, round(c["seats"] * min(1.0, c["engagement"] * float(rng.uniform(0.8, 1.2)))))
            views = int(rng.poisson(active * 28 * c["engagement"]))
            base = {"tenant_id": scope.tenant_id, "customer_uid": c["uid"], "product_id": product_id, "date": m}
            rows.append({**base, "metric": "active_seats", "quantity": float(active)})
            rows.append({**base, "metric": "dashboard_views", "quantity": float(views)})
    return rows


def _feedback(scope: Scope, rng: np.random.Generator, today: date, product_id: str, segs: dict[str, str],
              plans: dict[str, PricingPlan], customers: list[dict[str, Any]], changed_at: datetime) -> None:
    for idx in sorted(rng.choice(len(customers), FEEDBACK, replace=False).tolist()):
        c = customers[idx]
        price = float(plans[c["plan"]].unit_price)
        ratio = price / WILLING_PER_SEAT[c["segment"]] * rng.lognormal(0, 0.15)
        perception = "too_expensive" if ratio > 1.1 else "cheap" if ratio < 0.6 else "fair"
        score = 7.2 + 5.0 * (c["engagement"] - 0.6) - (1.2 if perception == "too_expensive" else 0.0)
        score = float(np.clip(round(score + rng.normal(0.0, 1.0), 1), 1, 10))
        risk = "high" if c["churned"] is not None or score < 5 else "medium" if score < 7 else "low"
        end = c["churned"] or today
        start = min(max(c["signup"] + timedelta(days=14), today - timedelta(days=365)), end - timedelta(days=1))
        when = start + timedelta(days=int(rng.integers(0, max((end - start).days, 1))))
        tags = [c["segment"].lower(), c["plan"].lower()]
        if c["plan"] == "Growth" and when >= changed_at.date():
            tags.append("after_price_change")
        picks = rng.choice(len(REQUESTS), int(rng.integers(0, 3)), replace=False).tolist()
        scope.add(CustomerFeedback(
            product_id=product_id, segment_id=segs[c["segment"]], customer_uid=c["uid"], satisfaction_score=score,
            price_perception=perception, feature_requests=[REQUESTS[j] for j in picks], churn_risk=risk,
            feedback_source=_choice(rng, ("survey", "support", "interview"), [0.6, 0.25, 0.15]),
            feedback_date=datetime(when.year, when.month, when.day, 12, tzinfo=changed_at.tzinfo),
            tags=tags, comments=COMMENTS[perception]))
