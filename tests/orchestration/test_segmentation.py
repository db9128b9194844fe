"""Customer segmentation: k-means on standardised customer features with k chosen by silhouette,
and the customer_segmentation workflow on customers and usage imported as CSV."""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np

from pricewise.orchestration.segmentation import CustomerFeatures, cluster, drafts
from tests.orchestration.helpers import start, wait_until

GROUPS = {  # name -> (monthly revenue, seats, 90-day usage, metrics used, tenure in months)
    "ent": (2000.0, 50, 5000.0, 3, 36.0),
    "mid": (500.0, 10, 1500.0, 2, 24.0),
    "smb": (100.0, 2, 300.0, 1, 12.0),
}


def _customers(per_group: int = 12, seed: int = 1) -> list[CustomerFeatures]:
    rng = np.random.default_rng(seed)
    out = []
    for name, (rev, seats, usage, breadth, tenure) in GROUPS.items():
        for i in range(per_group):
            jitter = float(rng.uniform(0.85, 1.15))
            out.append(CustomerFeatures(f"{name}-{i}", round(rev * jitter, 2), max(1, round(seats * jitter)),
                                        round(usage * jitter, 1), breadth, tenure * jitter))
    return out


def test_three_separate_groups_are_found_and_named_by_their_medians():
    result = cluster(_customers())
    assert result.k == 3 and set(result.silhouette) == set(range(2, 9))
    assert result.silhouette[3] == max(result.silhouette.values())
    groups = [{uid.split("-")[0] for uid in c.members} for c in result.clusters]
    assert groups == [{"ent"}, {"mid"}, {"smb"}]  # ordered by median revenue, each group whole
    named = drafts(result)
    assert [d.name for d in named] == ["High-value heavy users, large teams", "Mid-value steady users",
                                       "Low-spend light users, small teams"]
    assert [d.size for d in named] == [12, 12, 12] and named[0].uid == "DRAFT_HIGH_VALUE_HEAVY_USERS_LARGE_TEAMS"
    assert named[0].description.startswith("12 customers (33.3% of those clustered): median monthly revenue")


def test_too_few_or_identical_customers_are_not_clustered_and_gaps_are_imputed():
    few = cluster(_customers()[:9])
    assert few.k == 0 and few.clusters == [] and "at least 10" in (few.note or "")
    same = cluster([CustomerFeatures(f"c{i}", 50.0, 1, 0.0, 0, 6.0) for i in range(20)])
    assert same.k == 0 and "barely differ" in (same.note or "")
    rows = _customers()
    rows[0] = CustomerFeatures(rows[0].uid, None, None, rows[0].usage_90d, 3, None)
    result = cluster(rows)
    assert result.imputed == {"monthly_revenue": 1, "seats": 1, "tenure_months": 1} and result.k >= 2


def _csv(header: str, lines: list[str]) -> bytes:
    return ("\n".join([header, *lines]) + "\n").encode()


async def test_customer_segmentation_drafts_segments_from_imported_customers(make_client):
    client = await make_client(auth_mode="local", embedded_jobs=True)
    product = (await client.post("/product/create", json={"name": "Analytics"})).json()["_id"]
    other = (await client.post("/product/create", json={"name": "Other"})).json()["_id"]
    today = date.today()
    used_on = (today - timedelta(days=10)).isoformat()
    customers, usage = [], []
    for c in _customers():
        signup = today - timedelta(days=round(c.tenure_months * 30.44))
        customers.append(f"{c.uid},{product},{c.monthly_revenue},{c.seats},{signup.isoformat()}")
        for m in range(c.usage_breadth):
            usage.append(f"{c.uid},{used_on},metric{m},{c.usage_90d / c.usage_breadth}")
    customers.append(f"elsewhere,{other},99999,500,{today.isoformat()}")  # another product's: not clustered
    r = await client.post("/imports/customers", files={"file": ("c.csv", _csv(
        "customer_uid,product,monthly_revenue,seats,signup_date", customers), "text/csv")})
    assert r.status_code == 201 and r.json()["records_success"] == 37, r.text
    r = await client.post("/imports/usage", files={"file": ("u.csv", _csv(
        "customer_uid,date,metric,quantity", usage), "text/csv")})
    assert r.status_code == 201, r.text

    iid = (await start(client, "customer_segmentation", product))["invocation_id"]
    got = await wait_until(client, iid)
    assert got["status"] == "completed", got
    clustering, drafted = (s["step_output"] for s in got["steps"])
    assert clustering["customers"] == 36 and clustering["k"] == 3
    assert [c["size"] for c in clustering["clusters"]] == [12, 12, 12]
    assert abs(clustering["clusters"][0]["medians"]["usage_90d"] - 5000) < 750
    names = [d["customer_segment_name"] for d in drafted["drafts"]]
    assert names == ["High-value heavy users, large teams", "Mid-value steady users",
                     "Low-spend light users, small teams"]
    assert all(d["status"] == "draft" and d["customer_segment_description"] for d in drafted["drafts"])
    assert "nothing was added to the catalog" in drafted["note"]
    assert (await client.get("/customer-segment/list")).json() == []  # drafts only: the catalog is unchanged

    empty = (await client.post("/product/create", json={"name": "New"})).json()["_id"]
    got = await wait_until(client, (await start(client, "customer_segmentation", empty))["invocation_id"])
    assert got["status"] == "completed"
    assert "at least 10" in got["steps"][0]["step_output"]["summary"]
    assert got["steps"][1]["step_output"]["drafts"] == []
