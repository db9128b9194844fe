"""The alert rules on hand-made data: what breaches, what does not, and what is too little to judge."""

from __future__ import annotations

import math
from datetime import date

import pytest

from pricewise.alerts import detect

TODAY = date(2025, 6, 14)
MONTHS = [date(2024, m, 1) for m in range(6, 13)] + [date(2025, m, 1) for m in range(1, 6)]  # Jun 2024..May 2025


def _revenue(last: float, base: float = 10_000.0) -> list[float]:
    noise = [math.sin(3 * i) * 0.03 for i in range(len(MONTHS) - 1)]  # +/-3%, deterministic
    return [base * (1 + n) for n in noise] + [last]


def _drop(values: list[float], months: list[date] = MONTHS, today: date = TODAY) -> detect.Verdict | None:
    return detect.revenue_drop(months, values, today, subject="contribution", subject_id="c" * 24, label="SMB on Pro")


@pytest.mark.parametrize(("last", "severity"), [(4_000.0, "critical"), (6_500.0, "high"), (8_200.0, "medium")])
def test_a_sharp_drop_in_the_last_month_breaches_with_severity_by_size(last: float, severity: str) -> None:
    v = _drop(_revenue(last))
    assert v is not None and v.finding is not None
    assert v.finding.severity == severity
    assert v.key == f"revenue_drop:below_baseline:contribution:{'c' * 24}:2025-05"
    assert v.finding.trigger["robust_z"] <= -3 and v.finding.trigger["revenue"] == last
    assert "May 2025" in v.finding.title


def test_normal_months_small_dips_and_steady_declines_do_not_breach() -> None:
    for last in (10_100.0, 9_400.0):  # normal, and a 6% dip (an outlier, but too small to matter)
        v = _drop(_revenue(last))
        assert v is not None and v.finding is None
    declining = [10_000.0 * 0.95 ** i for i in range(len(MONTHS))]  # -5% a month, every month
    v = _drop(declining)
    assert v is not None and v.finding is None


def test_a_flat_history_still_scores_a_drop() -> None:
    v = _drop([1_000.0] * 11 + [800.0])  # MAD 0: floored, so the 20% drop is an outlier
    assert v is not None and v.finding is not None and v.finding.severity == "medium"


def test_too_little_or_too_old_data_gives_no_verdict_and_the_running_month_is_ignored() -> None:
    assert _drop(_revenue(1_000.0)[-6:], MONTHS[-6:]) is None  # 5 months of history
    assert _drop(_revenue(1_000.0), today=date(2025, 10, 2)) is None  # May is not news in October
    # a partial current month (June, 1 000 so far) is not judged: May is, and May is normal
    v = _drop([*_revenue(10_050.0), 1_000.0], [*MONTHS, date(2025, 6, 1)])
    assert v is not None and v.period == "2025-05" and v.finding is None


def _customers(base: int, churn_by_month: dict[date, int]) -> list[tuple[date | None, date | None]]:
    out: list[tuple[date | None, date | None]] = []
    for m, n in churn_by_month.items():
        out += [(date(2023, 1, 1), date(m.year, m.month, 10))] * n
    out += [(date(2023, 1, 1), None)] * (base - len(out))
    return out


def _spike(customers: list[tuple[date | None, date | None]], min_churned: int = 5,
           complete: bool = True) -> detect.Verdict | None:
    months = MONTHS[-7:]
    stats = detect.churn_months(customers, months)
    return detect.churn_spike(stats[:-1], stats[-1], subject="plan", subject_id="p" * 24, label="plan Pro",
                              min_churned=min_churned, complete=complete)


def test_churn_spike_above_twice_the_trailing_median() -> None:
    usual = {m: 2 for m in MONTHS[-7:-1]}
    v = _spike(_customers(200, {**usual, MONTHS[-1]: 7}))
    assert v is not None and v.finding is not None
    t = v.finding.trigger
    assert t["churned"] == 7 and t["active_at_start"] == 200 - 12
    assert t["churn_rate"] == pytest.approx(7 / 188, abs=1e-4)
    assert t["trailing_median"] == pytest.approx(0.0103, abs=1e-4)  # 2 of about 195 a month
    assert v.finding.threshold["rate_above"] == pytest.approx(2 * t["trailing_median"], abs=1e-4)
    assert v.finding.severity == "high"  # 3.7% against a limit of 2.1%: 1.8x
    worse = _spike(_customers(200, {**usual, MONTHS[-1]: 14}))
    assert worse is not None and worse.finding is not None and worse.finding.severity == "critical"  # 3.6x
    assert v.key == f"churn_spike:above_trailing:plan:{'p' * 24}:2025-05"


def test_churn_below_the_limit_or_on_a_tiny_base_does_not_breach() -> None:
    usual = {m: 2 for m in MONTHS[-7:-1]}
    normal = _spike(_customers(200, {**usual, MONTHS[-1]: 3}))
    assert normal is not None and normal.finding is None
    tiny = _spike(_customers(12, {MONTHS[-1]: 4}))  # a third of a tiny base, but only 4 customers
    assert tiny is not None and tiny.finding is None
    assert _spike(_customers(12, {MONTHS[-1]: 4}), min_churned=3) is not None
    # a month still running proves nothing until it breaches
    assert _spike(_customers(200, {**usual, MONTHS[-1]: 3}), complete=False) is None


def test_price_rules() -> None:
    up = detect.price_change(50.0, 90.0, TODAY, plan_id="p", label="plan Pro")
    assert up is not None and up.finding is not None and up.finding.severity == "medium"
    assert up.finding.trigger["change"] == pytest.approx(0.8)
    halved = detect.price_change(50.0, 20.0, TODAY, plan_id="p", label="plan Pro")
    assert halved is not None and halved.finding is not None and halved.finding.severity == "high"
    assert detect.price_change(50.0, 70.0, TODAY, plan_id="p", label="plan Pro") is None  # +40%
    assert detect.price_change(None, 70.0, TODAY, plan_id="p", label="plan Pro") is None

    loss = detect.below_cogs(15.0, 20.0, TODAY, plan_id="p", label="plan Pro")
    assert loss is not None and loss.finding is not None and loss.finding.severity == "high"
    assert detect.below_cogs(9.0, 20.0, TODAY, plan_id="p", label="plan Pro").finding.severity == "critical"  # type: ignore[union-attr]
    fine = detect.below_cogs(25.0, 20.0, TODAY, plan_id="p", label="plan Pro")
    assert fine is not None and fine.finding is None
    assert detect.below_cogs(0.0, 20.0, TODAY, plan_id="p", label="plan Pro") is None  # a free plan

    far = detect.vs_competitors(400.0, [100.0, 120.0, 90.0], TODAY, plan_id="p", label="plan Pro")
    assert far is not None and far.finding is not None and far.finding.trigger["ratio"] == 4.0
    cheap = detect.vs_competitors(10.0, [100.0, 120.0, 90.0], TODAY, plan_id="p", label="plan Pro")
    assert cheap is not None and cheap.finding is not None and "below" in cheap.finding.title
    near = detect.vs_competitors(150.0, [100.0, 120.0, 90.0], TODAY, plan_id="p", label="plan Pro")
    assert near is not None and near.finding is None
    assert detect.vs_competitors(150.0, [], TODAY, plan_id="p", label="plan Pro") is None


def _comp(name: str, price: float | None, url: str | None = None) -> dict[str, object]:
    return {"competitor_name": name, "website_url": url or f"https://{name.lower()}.example",
            "product_description": "", "unit_price": price}


PLANS = [detect.OurPlan("basic", "plan Basic", 20.0), detect.OurPlan("pro", "plan Pro", 50.0)]


def _moves(before: list[dict[str, object]], after: list[dict[str, object]]) -> list[detect.Verdict]:
    return detect.competitor_changes(before, after, PLANS, TODAY, product_id="p" * 24, product_label="Analytics")


@pytest.mark.parametrize(("old", "new", "severity"), [
    (100.0, 89.0, "low"), (100.0, 111.0, "low"), (100.0, 75.0, "medium"), (100.0, 160.0, "high"),
    (100.0, 50.0, "high"),  # -50%, and still at our Pro's price, not below it
])
def test_a_competitor_price_move_of_ten_percent_or_more_with_severity_by_size(old: float, new: float,
                                                                              severity: str) -> None:
    (v,) = _moves([_comp("Rival", old)], [_comp("Rival", new)])
    assert v.finding is not None and v.finding.severity == severity
    assert v.type == "competitor_change" and v.product_id == "p" * 24 and v.plan_id is None
    assert v.finding.trigger["change"] == pytest.approx(new / old - 1)
    assert ("cut" if new < old else "raised") in v.finding.title and v.finding.trigger["undercuts"] == []
    assert v.key.startswith(f"competitor_change:price_change:competitor:{'p' * 24}:")
    assert v.key.endswith(f":2025-06:{old:g}->{new:g}")


def test_small_moves_unknown_prices_and_new_competitors_raise_nothing() -> None:
    assert _moves([_comp("Rival", 100.0)], [_comp("Rival", 91.0)]) == []  # -9%
    assert _moves([_comp("Rival", 100.0)], [_comp("Rival", 100.0)]) == []
    assert _moves([_comp("Rival", None)], [_comp("Rival", 30.0)]) == []  # the first known price
    assert _moves([_comp("Rival", 100.0)], [_comp("Rival", None)]) == []  # a price no longer known
    assert _moves([], [_comp("Newcomer", 10.0)]) == []
    assert _moves([_comp("Rival", 100.0)], []) == []


def test_a_move_that_now_undercuts_our_plan_raises_one_step_higher_whatever_its_size() -> None:
    (v,) = _moves([_comp("Rival", 52.0)], [_comp("Rival", 49.0)])  # -6%, but now below Pro (50)
    assert v.finding is not None and v.finding.severity == "medium" and v.plan_id == "pro"
    assert v.finding.trigger["undercuts"] == [{"plan_id": "pro", "plan": "plan Pro", "price": 50.0}]
    assert v.finding.title == "Rival cut its price by 6%, now below plan Pro"
    (both,) = _moves([_comp("Rival", 60.0)], [_comp("Rival", 15.0)])  # -75%, below Pro and Basic
    assert both.finding is not None and both.finding.severity == "critical" and both.plan_id is None
    assert [u["plan_id"] for u in both.finding.trigger["undercuts"]] == ["pro", "basic"]
    assert "now below 2 of our plans" in both.finding.title
    # already below before: a further small cut undercuts nothing new
    assert _moves([_comp("Rival", 45.0)], [_comp("Rival", 44.0)]) == []


def test_competitors_pair_by_name_then_by_website() -> None:
    before = [_comp("Rival", 100.0, "https://rival.example/"), _comp("Other", 10.0)]
    renamed = [_comp("Rival Inc", 70.0, "http://www.rival.example"), _comp(" OTHER ", 10.0)]
    (v,) = _moves(before, renamed)
    assert v.finding is not None and v.finding.trigger["competitor"] == "Rival Inc"
    assert v.finding.trigger["previous_price"] == 100.0
    # the reordered list with the same prices: nothing moved
    assert _moves(before, list(reversed(before))) == []
