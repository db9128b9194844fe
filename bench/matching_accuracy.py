"""Matching: top-1 accuracy, confidence calibration and speed on the hand-written descriptions.

The labelled set is tests/estimation/descriptions.py (projects with their subcategory, and
messages with no project in them), split in two fixed halves FIT / HOLDOUT. The matcher is built
on the platform classes (priors.platform_classes) with the real local embedder.

1. Optional `--grid`: the scoring weights (W_TEXT with W_EMB = 1 - W_TEXT, K_TEXT, COS_FLOOR,
   W_COVER) are searched on FIT only: best top-1 accuracy, then best separation of right from wrong or
   project-less top matches (log-loss of the fitted calibration); the table shows HOLDOUT next to
   FIT so that over-fitting shows.
2. The confidence is refitted on FIT: logistic regression of "top-1 subcategory is right" (a
   message with no project is never right) on (margin, S), with an L2 penalty on the two slopes
   chosen by 5-fold cross-validated log-loss (the labelled set is nearly separable, so an
   unpenalised fit would run off to infinite slopes). The fitted constants are printed
   in the form matching.py holds them (CONF_A + CONF_B * margin + CONF_C * S).
3. Both halves are scored with the constants in matching.py: top-1 accuracy, Brier score,
   log-loss, the share of project-less messages below LOW_CONFIDENCE and of right matches at or
   above it.
4. Speed: `Matcher(...)` build, then `match()` per call (warm: every description seen once
   before) on the platform classes and on a large tenant set (the platform classes plus 30
   generated classes per subcategory), and `extract()` per call, median and p95 over `--repeat`
   passes; then `extract()` on 10 KB / 100 KB / 1 MB of adversarial input, to show it is linear.

    python bench/matching_accuracy.py [--grid] [--repeat 20] [--markdown]
"""

from __future__ import annotations

import argparse
import itertools
import math
import statistics
import sys
import time
from pathlib import Path

import numpy as np
from benchinfo import machine

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pricewise.core.embeddings import get_embedder
from pricewise.estimation import matching
from pricewise.estimation.extract import extract
from pricewise.estimation.matching import Candidate, Matcher
from pricewise.estimation.priors import SUBCATEGORIES, generate, platform_classes
from tests.estimation.descriptions import FIT, HOLDOUT

Rows = list[tuple[str, str | None]]
# Inputs that make careless regular expressions backtrack (digit runs, dimension look-alikes,
# dotted abbreviations, negations), each repeated to the size measured.
ADVERSARIAL = {"'1'": "1", "'1 '": "1 ", "'1x'": "1x", "'la '": "la ", "'L.'": "L.", "'convert '": "convert ",
               "'no spa, '": "no spa, ", "'1,'": "1,", "pool sentence": "15x30 pool with spa in San Diego, budget. "}


def candidates() -> list[Candidate]:
    return [Candidate(id=f"c{i}", name=c.name, category=c.category, subcategory=c.subcategory,
                      description=c.description, keywords=c.keywords, regions=c.regions, attributes=c.attributes)
            for i, c in enumerate(platform_classes())]


def features(m: Matcher, rows: Rows) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(margin, S) of the top subcategory, whether it is right, and the confidence given."""
    x, y, conf = [], [], []
    for text, want in rows:
        pooled, _ = m.subcategory_scores(text, None, extract(text))
        order = np.argsort(-pooled)
        top = float(pooled[order[0]])
        second = float(pooled[order[1]]) if len(order) > 1 else 0.0
        x.append((top - second, top))
        y.append(int(want is not None and m.groups[order[0]] == want))
        conf.append(m.match(text, None, extract(text))[0].confidence)
    return np.array(x), np.array(y), np.array(conf)


def accuracy(m: Matcher, rows: Rows) -> float:
    projects = [(t, w) for t, w in rows if w is not None]
    return sum(m.match(t, None, extract(t))[0].subcategory == w for t, w in projects) / len(projects)


def _fit(x: np.ndarray, y: np.ndarray, lam: float) -> np.ndarray:
    """Intercept and weights minimising the log-loss sum + lam/2 |w|^2 (the intercept unpenalised)."""
    from scipy.optimize import minimize

    design = np.column_stack([np.ones(len(x)), x])

    def loss(beta: np.ndarray) -> tuple[float, np.ndarray]:
        z = design @ beta
        p = 1 / (1 + np.exp(-z))
        value = float(np.sum(np.logaddexp(0, z) - y * z) + lam / 2 * beta[1:] @ beta[1:])
        grad = design.T @ (p - y) + lam * np.r_[0.0, beta[1:]]
        return value, grad

    return np.asarray(minimize(loss, np.zeros(design.shape[1]), jac=True, method="L-BFGS-B").x)


def fit_confidence(x: np.ndarray, y: np.ndarray) -> tuple[float, float, float]:
    """L2-penalised logistic regression; the penalty chosen by 5-fold cross-validated log-loss
    (folds by row index, so the fit is deterministic)."""
    folds = np.arange(len(y)) % 5
    best: tuple[float, float] | None = None
    for lam in (0.01, 0.03, 0.1, 0.3, 1.0, 3.0):
        held = []
        for k in range(5):
            beta = _fit(x[folds != k], y[folds != k], lam)
            z = np.column_stack([np.ones(int((folds == k).sum())), x[folds == k]]) @ beta
            held.append(log_loss(1 / (1 + np.exp(-z)), y[folds == k]) * (folds == k).sum())
        score = sum(held) / len(y)
        if best is None or score < best[0]:
            best = (score, lam)
    assert best is not None
    a, b, c = _fit(x, y, best[1])
    return float(a), float(b), float(c)


def log_loss(p: np.ndarray, y: np.ndarray) -> float:
    p = np.clip(p, 1e-6, 1 - 1e-6)
    return float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))


def grid(cands: list[Candidate], markdown: bool) -> None:
    emb = get_embedder()
    saved = matching.W_TEXT, matching.W_EMB, matching.K_TEXT, matching.COS_FLOOR, matching.W_COVER
    results = []
    for w_text, k_text, floor, cover in itertools.product((0.4, 0.5, 0.6, 0.7), (2.0, 3.0, 5.0), (0.25, 0.3, 0.35),
                                                          (0.0, 0.3, 0.5)):
        matching.W_TEXT, matching.W_EMB, matching.K_TEXT = w_text, 1 - w_text, k_text
        matching.COS_FLOOR, matching.W_COVER = floor, cover
        m = Matcher(cands, emb)
        x, y, _ = features(m, FIT)
        a, b, c = fit_confidence(x, y)
        p = 1 / (1 + np.exp(-(a + b * x[:, 0] + c * x[:, 1])))
        results.append((accuracy(m, FIT), -log_loss(p, y), w_text, k_text, floor, cover, accuracy(m, HOLDOUT)))
    results.sort(reverse=True)
    table("Weight search on FIT (best first; HOLDOUT for reference)",
          ["W_TEXT", "K_TEXT", "COS_FLOOR", "W_COVER", "FIT top-1", "FIT log-loss", "HOLDOUT top-1"],
          [[f"{r[2]:.2f}", f"{r[3]:g}", f"{r[4]:.2f}", f"{r[5]:.1f}", f"{r[0]:.1%}", f"{-r[1]:.3f}", f"{r[6]:.1%}"]
           for r in results[:12]], markdown)
    matching.W_TEXT, matching.W_EMB, matching.K_TEXT, matching.COS_FLOOR, matching.W_COVER = saved


def table(title: str, header: list[str], rows: list[list[str]], markdown: bool) -> None:
    print(f"\n{title}")
    if markdown:
        print("| " + " | ".join(header) + " |")
        print("|" + "|".join("---" for _ in header) + "|")
        for r in rows:
            print("| " + " | ".join(r) + " |")
        return
    widths = [max(len(str(v)) for v in col) for col in zip(header, *rows, strict=True)]
    for r in [header, *rows]:
        print("  ".join(str(v).rjust(w) for v, w in zip(r, widths, strict=True)))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--grid", action="store_true")
    ap.add_argument("--repeat", type=int, default=20)
    ap.add_argument("--markdown", action="store_true")
    args = ap.parse_args()
    print("machine:", ", ".join(f"{k} {v}" for k, v in machine().items()))
    cands = candidates()
    if args.grid:
        grid(cands, args.markdown)

    emb = get_embedder()
    t0 = time.perf_counter()
    m = Matcher(cands, emb)
    build_ms = (time.perf_counter() - t0) * 1000

    x_fit, y_fit, _ = features(m, FIT)
    a, b, c = fit_confidence(x_fit, y_fit)
    print(f"\nconfidence refitted on FIT ({len(y_fit)} rows, {int(y_fit.sum())} right): "
          f"CONF_A, CONF_B, CONF_C = {a:.2f}, {b:.2f}, {c:.2f}")
    print(f"in matching.py: CONF_A, CONF_B, CONF_C = {matching.CONF_A}, {matching.CONF_B}, {matching.CONF_C}; "
          f"LOW_CONFIDENCE = {matching.LOW_CONFIDENCE}")

    rows = []
    for name, part in (("FIT", FIT), ("HOLDOUT", HOLDOUT)):
        _, y, conf = features(m, part)
        wants = [w for _, w in part]
        none = np.array([w is None for w in wants])
        right = y.astype(bool)
        rows.append([name, str(int((~none).sum())), f"{accuracy(m, part):.1%}", str(int(none.sum())),
                     f"{np.mean(conf[none] < matching.LOW_CONFIDENCE):.0%}",
                     f"{np.mean(conf[right] >= matching.LOW_CONFIDENCE):.0%}",
                     f"{np.mean((conf - y) ** 2):.3f}", f"{log_loss(conf, y):.3f}"])
    table("Top-1 subcategory and confidence (constants in matching.py)",
          ["half", "projects", "top-1", "no project", "no project < LOW", "right >= LOW", "Brier", "log-loss"],
          rows, args.markdown)

    texts = [t for t, _ in FIT + HOLDOUT]
    attrs = [extract(t) for t in texts]
    for t, a_ in zip(texts, attrs, strict=True):
        m.match(t, None, a_)  # warm: token rows distilled once per process
    match_ms, extract_ms = [], []
    for _ in range(args.repeat):
        for t, a_ in zip(texts, attrs, strict=True):
            s = time.perf_counter()
            m.match(t, None, a_)
            match_ms.append((time.perf_counter() - s) * 1000)
            s = time.perf_counter()
            extract(t)
            extract_ms.append((time.perf_counter() - s) * 1000)

    def p95(v: list[float]) -> float:
        return sorted(v)[math.ceil(0.95 * len(v)) - 1]

    big = cands + [Candidate(id=f"g{i}", name=c.name, category=c.category, subcategory=c.subcategory,
                             description=c.description, keywords=c.keywords, regions=c.regions,
                             attributes=c.attributes)
                   for i, c in enumerate(generate("construction", list(SUBCATEGORIES), [], 30, seed=1))]
    t0 = time.perf_counter()
    m_big = Matcher(big, emb)
    big_build_ms = (time.perf_counter() - t0) * 1000
    big_ms = []
    for _ in range(max(1, args.repeat // 4)):
        for t, a_ in zip(texts, attrs, strict=True):
            s = time.perf_counter()
            m_big.match(t, None, a_)
            big_ms.append((time.perf_counter() - s) * 1000)

    table(f"Speed ({len(texts)} descriptions; warm: every token seen once before)",
          ["step", "classes", "median ms", "p95 ms"],
          [["Matcher build, first in the process (distils the class tokens)", str(len(cands)), f"{build_ms:.1f}", ""],
           ["Matcher build, tokens known", str(len(big)), f"{big_build_ms:.1f}", ""],
           ["match()", str(len(cands)), f"{statistics.median(match_ms):.3f}", f"{p95(match_ms):.3f}"],
           ["match()", str(len(big)), f"{statistics.median(big_ms):.3f}", f"{p95(big_ms):.3f}"],
           ["extract()", "", f"{statistics.median(extract_ms):.3f}", f"{p95(extract_ms):.3f}"]], args.markdown)

    rows = []
    for name, unit in ADVERSARIAL.items():
        cells = [name]
        for size in (10_000, 100_000, 1_000_000):
            text = (unit * (size // len(unit) + 1))[:size]
            s = time.perf_counter()
            extract(text)
            cells.append(f"{(time.perf_counter() - s) * 1000:.1f}")
        rows.append(cells)
    table("extract() on adversarial input (ms; linear means x10 per column)",
          ["repeated", "10 KB", "100 KB", "1 MB"], rows, args.markdown)

if __name__ == "__main__":
    main()
