"""Customer clustering into draft segments. Pure: no web, no database.

Features per customer: log(1 + monthly revenue), log(1 + seats), log(1 + usage over the last 90
days), usage breadth (distinct usage metrics over those 90 days) and tenure in months. A missing
revenue or tenure takes the median of the customers that have one (and is counted as imputed);
missing seats count as 1. Features are standardised (zero mean, unit variance) and clustered by
k-means (k-means++ starts, 10 of them, fixed seed) for every k from 2 to min(8, n - 1); the k with
the highest mean silhouette coefficient wins (ties: the smaller k). Silhouettes of more than 2,000
customers are computed on a seeded sample of 2,000. Fewer than MIN_CUSTOMERS customers are not
clustered. Each cluster is described by the medians of its members in the original units, and
named by where those medians sit against the medians of all customers.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np

FEATURES = ("monthly_revenue", "seats", "usage_90d", "usage_breadth", "tenure_months")
MIN_CUSTOMERS = 10
MAX_K = 8
SILHOUETTE_SAMPLE = 2000
HIGH, LOW = 1.5, 1 / 1.5  # a cluster median this many times the overall median is high / low


@dataclass(frozen=True)
class CustomerFeatures:
    uid: str
    monthly_revenue: float | None
    seats: int | None
    usage_90d: float
    usage_breadth: int
    tenure_months: float | None


@dataclass(frozen=True)
class Cluster:
    size: int
    medians: dict[str, float]
    members: list[str]


@dataclass(frozen=True)
class Clustering:
    customers: int
    k: int
    silhouette: dict[int, float]
    clusters: list[Cluster]
    overall: dict[str, float]
    imputed: dict[str, int] = field(default_factory=dict)
    note: str | None = None


def _raw(rows: list[CustomerFeatures]) -> tuple[np.ndarray, dict[str, int]]:
    """The features in original units, with missing values filled (and counted)."""
    rev = [r.monthly_revenue for r in rows]
    ten = [r.tenure_months for r in rows]
    known_rev = [v for v in rev if v is not None]
    known_ten = [v for v in ten if v is not None]
    med_rev = float(np.median(known_rev)) if known_rev else 0.0
    med_ten = float(np.median(known_ten)) if known_ten else 0.0
    m = np.array([[med_rev if r.monthly_revenue is None else r.monthly_revenue, r.seats or 1, r.usage_90d,
                   r.usage_breadth, med_ten if r.tenure_months is None else r.tenure_months] for r in rows],
                 dtype=float)
    imputed = {"monthly_revenue": len(rev) - len(known_rev), "tenure_months": len(ten) - len(known_ten),
               "seats": sum(1 for r in rows if r.seats is None)}
    return m, {k: v for k, v in imputed.items() if v}


def _transform(raw: np.ndarray) -> np.ndarray:
    x = raw.copy()
    for j in (0, 1, 2):  # revenue, seats and usage are heavy-tailed
        x[:, j] = np.log1p(np.maximum(x[:, j], 0.0))
    sd = x.std(axis=0)
    return np.asarray((x - x.mean(axis=0)) / np.where(sd > 0, sd, 1.0))


def cluster(rows: list[CustomerFeatures], seed: int = 0) -> Clustering:
    from sklearn.cluster import KMeans
    from sklearn.metrics import silhouette_score

    n = len(rows)
    if n < MIN_CUSTOMERS:
        return Clustering(n, 0, {}, [], {}, note=f"{n} customer(s) with data: at least {MIN_CUSTOMERS} are needed "
                                                 "to cluster, so no draft segments were made")
    raw, imputed = _raw(rows)
    x = _transform(raw)
    overall = {f: float(np.median(raw[:, j])) for j, f in enumerate(FEATURES)}
    distinct = len(np.unique(x.round(9), axis=0))
    top = min(MAX_K, n - 1, distinct - 1)
    if top < 2:
        return Clustering(n, 0, {}, [], overall, imputed,
                          note="the customers' revenue, seats and usage barely differ: nothing to cluster")
    scores: dict[int, float] = {}
    labels_by_k: dict[int, np.ndarray] = {}
    for k in range(2, top + 1):
        labels = KMeans(n_clusters=k, n_init=10, random_state=seed).fit_predict(x)
        if len(set(labels.tolist())) < 2:
            continue
        scores[k] = round(float(silhouette_score(x, labels, sample_size=min(n, SILHOUETTE_SAMPLE),
                                                 random_state=seed)), 4)
        labels_by_k[k] = labels
    if not scores:
        return Clustering(n, 0, {}, [], overall, imputed, note="k-means found no separable groups")
    best = max(scores, key=lambda k: (scores[k], -k))
    labels = labels_by_k[best]
    clusters = []
    for c in range(best):
        idx = np.flatnonzero(labels == c)
        if idx.size == 0:
            continue
        medians = {f: float(np.median(raw[idx, j])) for j, f in enumerate(FEATURES)}
        clusters.append(Cluster(int(idx.size), medians, [rows[i].uid for i in idx]))
    clusters.sort(key=lambda c: (-c.medians["monthly_revenue"], -c.size))
    return Clustering(n, best, scores, clusters, overall, imputed)


def _level(value: float, overall: float, high: str, low: str, mid: str) -> str:
    if overall <= 0:
        return high if value > 0 else mid
    ratio = value / overall
    return high if ratio >= HIGH else low if ratio <= LOW else mid


@dataclass(frozen=True)
class Draft:
    name: str
    uid: str
    description: str
    size: int
    share: float
    medians: dict[str, float]
    examples: list[str]


def drafts(result: Clustering) -> list[Draft]:
    """A name and description per cluster, from its medians against all customers'."""
    out: list[Draft] = []
    used: dict[str, int] = {}
    for c in result.clusters:
        m, o = c.medians, result.overall
        value = _level(m["monthly_revenue"], o["monthly_revenue"], "High-value", "Low-spend", "Mid-value")
        usage = _level(m["usage_90d"], o["usage_90d"], "heavy users", "light users", "steady users")
        seats = _level(m["seats"], o["seats"], "large teams", "small teams", "")
        name = f"{value} {usage}" + (f", {seats}" if seats else "")
        used[name] = used.get(name, 0) + 1
        if used[name] > 1:
            name = f"{name} ({used[name]})"
        uid = "DRAFT_" + re.sub(r"[^A-Z0-9]+", "_", name.upper()).strip("_")
        share = c.size / result.customers
        desc = (f"{c.size} customers ({share * 100:.1f}% of those clustered): median monthly revenue "
                f"{m['monthly_revenue']:.2f}, {m['seats']:g} seat(s), {m['usage_90d']:g} units of usage over the "
                f"last 90 days across {m['usage_breadth']:g} metric(s), {m['tenure_months']:.0f} month(s) as "
                "customers.")
        out.append(Draft(name, uid, desc, c.size, round(share, 4), {k: round(v, 2) for k, v in m.items()},
                         c.members[:5]))
    return out
