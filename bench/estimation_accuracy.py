"""Estimation accuracy before and after calibration on simulated outcomes.

Ground truth: the platform classes with the same attribute structure as the priors (size scaling,
add-ons, materials, ADU type, storeys), but differing from them where a real market would:
- NorCal is 20% dearer than its regional multiplier says (every subcategory);
- "Kitchen Remodel - Midrange" is under-priced by the priors: true costs are 25% higher;
- "ADU Construction - Midrange" has a wider spread than the priors' (log-sd 0.35 against 0.25);
- every other class is tighter than the priors' CV 0.25 once the attributes are known: log-sd drawn
  once per class between 0.12 and 0.15.
Timelines: true log-sd 0.15, ADUs 15% slower than the priors (permit queues).

Projects: class uniform among the subcategory's tiers, region uniform over the four, size around
the tier's typical size (x exp(U(-0.4, 0.4))), add-ons, materials, ADU type and storeys at random.
Every attribute is known to the estimator (the bench measures estimation, not extraction or
matching). Per subcategory `--projects` test projects are estimated with `compute.estimate` and the
calibration fitted (`calibration.calibrate`, keyed per class and per region / subcategory-region) on
0, 10, 25, 50 and 100 earlier outcomes per class, drawn from the same truth. Reported: the share of
test projects with |P50 - actual| / actual <= 20% and the P80 coverage (actual <= P80).
Target after 50 outcomes per class: >= 70% within 20% and P80 coverage 80% +/- 7 points.

    python bench/estimation_accuracy.py [--markdown] [--projects 500] [--seed 7]
"""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from benchinfo import machine

from pricewise.estimation.calibration import Outcome, calibrate
from pricewise.estimation.compute import ClassView, estimate
from pricewise.estimation.priors import REGIONS, SUBCATEGORIES, platform_classes

STAGES = (0, 10, 25, 50, 100)
TARGET_STAGE = 50
TARGET_WITHIN = 0.70
TARGET_COVERAGE = (0.73, 0.87)
DEAR_REGION, DEAR_FACTOR = "NorCal", 1.20
UNDERPRICED, UNDERPRICED_FACTOR = "Kitchen Remodel - Midrange", 1.25
WIDE, WIDE_SIGMA = "ADU Construction - Midrange", 0.35
TIMELINE_SIGMA, SLOW_SUBCATEGORY, SLOW_FACTOR = 0.15, "adu", 1.15


@dataclass(frozen=True)
class Project:
    cls: ClassView
    region: str
    attrs: dict[str, Any]
    actual_cost: float
    actual_weeks: float
    base_cost_p50: float
    base_timeline_p50: float


def views() -> dict[str, list[ClassView]]:
    out: dict[str, list[ClassView]] = {}
    for i, s in enumerate(platform_classes()):
        out.setdefault(s.subcategory, []).append(ClassView(
            str(i), s.name, s.category, s.subcategory, s.cost, s.timeline, s.breakdown, s.regional_multipliers,
            s.attributes))
    return out


def random_attrs(rng: np.random.Generator, cls: ClassView) -> dict[str, Any]:
    prior = SUBCATEGORIES[cls.subcategory]
    lo, hi = prior.size_bounds
    typical = float(cls.attributes["typical_size_sqft"])
    size = float(np.clip(round(typical * math.exp(rng.uniform(-0.4, 0.4))), lo, hi))
    attrs: dict[str, Any] = {"size_sqft": size}
    for key in prior.addons:
        if rng.random() < 0.3:
            attrs[key] = not bool(cls.attributes.get(key)) if rng.random() < 0.7 else bool(cls.attributes.get(key))
    if prior.materials:
        attrs["material"] = str(rng.choice(list(prior.materials)))
    for key, table in prior.variants.items():
        values = list(table)
        p = np.array([0.6] + [0.4 / (len(values) - 1)] * (len(values) - 1))
        value = str(rng.choice(values, p=p))
        attrs[key] = int(value) if key == "stories" else value
    return attrs


def class_sigmas(rng: np.random.Generator, classes: dict[str, list[ClassView]]) -> dict[str, float]:
    return {c.id: (WIDE_SIGMA if c.name == WIDE else float(rng.uniform(0.12, 0.15)))
            for cs in classes.values() for c in cs}


def project(rng: np.random.Generator, cls: ClassView, sigma: float) -> Project:
    region = str(rng.choice(REGIONS))
    attrs = random_attrs(rng, cls)
    base = estimate(cls, region, attrs, None)
    truth = base.base_cost_p50
    if region == DEAR_REGION:
        truth *= DEAR_FACTOR
    if cls.name == UNDERPRICED:
        truth *= UNDERPRICED_FACTOR
    weeks = base.base_timeline_p50 * (SLOW_FACTOR if cls.subcategory == SLOW_SUBCATEGORY else 1.0)
    return Project(cls, region, attrs, truth * math.exp(rng.normal(0.0, sigma)),
                   weeks * math.exp(rng.normal(0.0, TIMELINE_SIGMA)), base.base_cost_p50, base.base_timeline_p50)


def outcome(p: Project) -> Outcome:
    return Outcome(p.cls.id, p.cls.subcategory, p.region, p.base_cost_p50, p.actual_cost, p.cls.cost.log_sigma,
                   p.base_timeline_p50, p.actual_weeks, p.cls.timeline.log_sigma)


def in_subcategory(sub: str) -> Callable[[Project], bool]:
    return lambda p: p.cls.subcategory == sub


def run(projects: int, seed: int) -> dict[int, dict[str, tuple[float, float, float]]]:
    """stage -> subcategory (and "overall") -> (within 20%, cost P80 coverage, timeline P80 coverage)."""
    rng = np.random.default_rng(seed)
    classes = views()
    sigmas = class_sigmas(rng, classes)
    training = {c.id: [project(rng, c, sigmas[c.id]) for _ in range(max(STAGES))]
                for cs in classes.values() for c in cs}
    tests = {sub: [project(rng, c, sigmas[c.id]) for c in (cs[int(rng.integers(len(cs)))] for _ in range(projects))]
             for sub, cs in classes.items()}
    slices = {f"{DEAR_REGION} (all, 20% dearer)": lambda p: p.region == DEAR_REGION,
              f"{UNDERPRICED} (25% under)": lambda p: p.cls.name == UNDERPRICED,
              f"{WIDE} (wide)": lambda p: p.cls.name == WIDE}
    out: dict[int, dict[str, tuple[float, float, float]]] = {}
    for stage in STAGES:
        model = calibrate([outcome(p) for ps in training.values() for p in ps[:stage]])
        scored: list[tuple[Project, tuple[bool, bool, bool]]] = []
        for ps in tests.values():
            for p in ps:
                e = estimate(p.cls, p.region, p.attrs, model.for_estimate(p.cls.id, p.cls.subcategory, p.region))
                scored.append((p, (abs(e.cost_p50 - p.actual_cost) / p.actual_cost <= 0.2,
                                   p.actual_cost <= e.cost_p80, p.actual_weeks <= e.timeline_weeks_p80)))
        groups: dict[str, Callable[[Project], bool]] = {
            **{sub: in_subcategory(sub) for sub in tests},
            "overall": lambda p: True, **slices}
        rows = {}
        for name, keep in groups.items():
            hits = np.array([h for p, h in scored if keep(p)], dtype=float)
            rows[name] = (float(hits[:, 0].mean()), float(hits[:, 1].mean()), float(hits[:, 2].mean()))
        out[stage] = rows
    return out


def table(res: dict[int, dict[str, tuple[float, float, float]]]) -> tuple[list[str], list[list[str]]]:
    cols = ["subcategory", *[f"n={s}: within 20% / P80 cov" for s in STAGES]]
    rows = []
    for sub in res[STAGES[0]]:
        rows.append([sub, *[f"{res[s][sub][0]:.0%} / {res[s][sub][1]:.0%}" for s in STAGES]])
    rows.append(["timeline P80 cov", *[f"{res[s]['overall'][2]:.0%}" for s in STAGES]])
    return cols, rows


def main() -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    ap.add_argument("--projects", type=int, default=500, help="test projects per subcategory (default 500)")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--markdown", action="store_true", help="also print the table as Markdown")
    args = ap.parse_args()
    if args.projects < 1:
        ap.error("--projects must be >= 1")
    res = run(args.projects, args.seed)
    cols, rows = table(res)
    widths = [max(len(r[i]) for r in [cols, *rows]) for i in range(len(cols))]
    print(f"Estimation accuracy, {args.projects} test projects per subcategory, seed {args.seed}; "
          f"n = outcomes per class fed back")
    for r in [cols, *rows]:
        print("  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths, strict=True))))
    within, cov, _ = res[TARGET_STAGE]["overall"]
    ok = within >= TARGET_WITHIN and TARGET_COVERAGE[0] <= cov <= TARGET_COVERAGE[1]
    print(f"after {TARGET_STAGE} outcomes per class: {within:.1%} within 20% (target >= {TARGET_WITHIN:.0%}), "
          f"P80 coverage {cov:.1%} (target 80% +/- 7 points): {'met' if ok else 'NOT met'}")
    info = machine()
    print(f"machine: {info['cpus']} CPU(s) ({info['cpu']}), Python {info['python']}, {info['os']}")
    if args.markdown:
        print()
        print("| " + " | ".join(cols) + " |")
        print("|---|" + "|".join("---:" for _ in cols[1:]) + "|")
        for r in rows:
            print("| " + " | ".join(r) + " |")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
