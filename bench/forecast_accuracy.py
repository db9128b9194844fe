"""Forecast accuracy on real series and speed on many synthetic ones.

Accuracy: real monthly and quarterly series that ship inside installed packages (nothing is
downloaded): statsforecast's AirPassengers; statsmodels' elec_equip (monthly), co2 (weekly,
averaged to calendar months, 5 empty months interpolated), elnino (monthly sea temperatures, one
row a year), macrodata (10 quarterly US series), danish_data (5 quarterly) and interest_inflation
(2 quarterly). For each series, `--origins` forecast origins at the end of the series, `h` apart
(h = 12 months, 8 quarters); at each origin the methods see only the last `--window-monthly` /
`--window-quarterly` observations before it and forecast h steps. MASE (Hyndman & Koehler 2006)
is the mean absolute error over the h steps divided by the in-sample mean absolute error of the
seasonal naive forecast on the same window. A series' MASE is the mean over its origins; the
tables give each series and the mean over series (every series counts once).

Methods: `choice` is pricewise's `forecast()` (the per-series choice by backtest, intervals and
all, non_negative=False so every method sees the same numbers); the others are statsforecast's
models with their default searches: SeasonalNaive, AutoETS, AutoARIMA, AutoTheta.

Speed: `--series` synthetic series of `--length` months (level, trend, yearly season, noise;
seeded), forecast 12 months by `forecast_many()`: cold = a fresh process (imports and worker
start included), warm = the same batch again in that process; then the batch again with each
series' spec from the first run (refit without search).

    python bench/forecast_accuracy.py [--markdown] [--skip-speed] [--skip-accuracy]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
import warnings
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
from benchinfo import machine

HERE = Path(__file__).resolve().parent
SINGLE = ("SeasonalNaive", "AutoETS", "AutoARIMA", "AutoTheta")
METHODS = ("choice", *SINGLE)
TARGET_SECONDS = 20.0
TARGET_GAP = 0.05  # the choice's mean MASE may exceed the best single method's by this share


# --- data -----------------------------------------------------------------------------------

def real_series() -> dict[str, tuple[np.ndarray, int]]:
    """name -> (values, season length), from packages installed with statsforecast."""
    warnings.simplefilter("ignore")
    from statsforecast.utils import AirPassengers
    from statsmodels.datasets import co2, danish_data, elec_equip, elnino, interest_inflation, macrodata

    out: dict[str, tuple[np.ndarray, int]] = {
        "airpassengers": (np.asarray(AirPassengers, dtype=float), 12),
        "elec_equip": (elec_equip.load_pandas().data.iloc[:, 0].to_numpy(float), 12),
        "co2": (co2.load_pandas().data["co2"].resample("MS").mean().interpolate().to_numpy(float), 12),
        "elnino": (elnino.load_pandas().data.drop(columns="YEAR").to_numpy(float).ravel(), 12),
    }
    macro = macrodata.load_pandas().data
    for col in ("realgdp", "realcons", "realinv", "realgovt", "realdpi", "cpi", "m1", "tbilrate", "unemp", "pop"):
        out[f"macro.{col}"] = (macro[col].to_numpy(float), 4)
    danish = danish_data.load_pandas().data
    for col in danish.columns:
        out[f"danish.{col}"] = (danish[col].to_numpy(float), 4)
    ii = interest_inflation.load_pandas().data
    for col in ("Dp", "R"):
        out[f"interest.{col}"] = (ii[col].to_numpy(float), 4)
    return out


def cases(origins: int, window_m: int, window_q: int) -> list[tuple[str, int, int, np.ndarray, np.ndarray]]:
    """(series, season, h, training window, actuals) for every origin."""
    out = []
    for name, (y, season) in real_series().items():
        h = 12 if season == 12 else 8
        window = window_m if season == 12 else window_q
        for k in range(origins, 0, -1):
            origin = len(y) - k * h
            start = max(0, origin - window)
            if origin - start >= 2 * season + 6:
                out.append((name, season, h, y[start:origin], y[origin:origin + h]))
    return out


def synthetic(count: int, length: int, seed: int) -> list[list[float]]:
    rng = np.random.default_rng(seed)
    t = np.arange(length)
    out = []
    for _ in range(count):
        level = rng.uniform(50, 5000)
        trend = rng.uniform(-0.01, 0.03) * level
        amp = rng.uniform(0.0, 0.3) * level
        noise = rng.uniform(0.02, 0.12) * level
        season = amp * np.sin(2 * np.pi * t / 12 + rng.uniform(0, 2 * np.pi))
        y = level + trend * t + season + rng.normal(0, noise, length)
        out.append([float(v) for v in np.maximum(y, 0.0)])
    return out


# --- accuracy -------------------------------------------------------------------------------

def _methods() -> dict[str, Callable[[np.ndarray, int, int], Any]]:
    from statsforecast.models import AutoARIMA, AutoETS, AutoTheta, SeasonalNaive

    from pricewise.analytics.forecast import forecast

    singles = {"SeasonalNaive": SeasonalNaive, "AutoETS": AutoETS, "AutoARIMA": AutoARIMA, "AutoTheta": AutoTheta}

    def single(cls: Any) -> Callable[[np.ndarray, int, int], Any]:
        return lambda y, h, s: cls(season_length=s).forecast(y=y, h=h)["mean"]

    return {"choice": lambda y, h, s: forecast(y, h, season=s, non_negative=False),
            **{k: single(v) for k, v in singles.items()}}


def evaluate(case: tuple[str, int, int, np.ndarray, np.ndarray]) -> dict[str, Any]:
    name, season, h, train, test = case
    warnings.simplefilter("ignore")
    scale = float(np.mean(np.abs(train[season:] - train[:-season])))
    out: dict[str, Any] = {"series": name, "season": season, "n": len(train), "mase": {}, "seconds": {}}
    for method, fn in _methods().items():
        t0 = time.process_time()
        res = fn(train.copy(), h, season)
        out["seconds"][method] = time.process_time() - t0
        if method == "choice":
            out["chosen"] = res.model
            res = np.asarray(res.mean)
        out["mase"][method] = float(np.mean(np.abs(np.asarray(res) - test)) / scale)
    return out


def accuracy(args: argparse.Namespace, console: Any) -> tuple[list[list[str]], list[str]]:
    from rich.table import Table

    all_cases = cases(args.origins, args.window_monthly, args.window_quarterly)
    console.print(f"accuracy: {len(all_cases)} forecasts ({len({c[0] for c in all_cases})} series x up to "
                  f"{args.origins} origins), {args.jobs} process(es)...")
    with ProcessPoolExecutor(max_workers=args.jobs) as pool:
        results = list(pool.map(evaluate, all_cases, chunksize=1))
    by_series: dict[str, list[dict[str, Any]]] = {}
    for r in results:
        by_series.setdefault(r["series"], []).append(r)

    def mean_of(names: list[str], method: str) -> float:
        return float(np.mean([np.mean([r["mase"][method] for r in by_series[n]]) for n in names]))

    rows = []
    for name, rs in by_series.items():
        chosen: dict[str, int] = {}
        for r in rs:
            chosen[r["chosen"]] = chosen.get(r["chosen"], 0) + 1
        picks = ", ".join(f"{k} {v}" for k, v in sorted(chosen.items(), key=lambda kv: -kv[1]))
        rows.append([name, f"{rs[0]['season']}", f"{len(rs)}", *[f"{mean_of([name], m):.3f}" for m in METHODS], picks])
    groups = {"mean, monthly": [n for n, rs in by_series.items() if rs[0]["season"] == 12],
              "mean, quarterly": [n for n, rs in by_series.items() if rs[0]["season"] == 4],
              "mean, all series": list(by_series)}
    for label, names in groups.items():
        rows.append([f"**{label}**", "", f"{sum(len(by_series[n]) for n in names)}",
                     *[f"{mean_of(names, m):.3f}" for m in METHODS], ""])
    cpu = {m: 1000 * float(np.mean([r["seconds"][m] for r in results])) for m in METHODS}
    rows.append(["CPU ms per forecast", "", "", *[f"{cpu[m]:.1f}" for m in METHODS], ""])
    cols = ["series", "season", "origins", *METHODS, "choice picked"]
    table = Table(title=f"MASE at {args.origins} origins (h = 12 months / 8 quarters; windows "
                        f"{args.window_monthly} months / {args.window_quarterly} quarters)")
    for c in cols:
        table.add_column(c, justify="left" if c in ("series", "choice picked") else "right")
    for row in rows:
        table.add_row(*row)
    console.print(table)
    everything = groups["mean, all series"]
    best = min(SINGLE, key=lambda m: mean_of(everything, m))
    choice, best_v, naive = (mean_of(everything, "choice"), mean_of(everything, best),
                             mean_of(everything, "SeasonalNaive"))
    ok1, ok2 = choice <= best_v * (1 + TARGET_GAP), choice < naive
    console.print(f"target: choice {choice:.3f} <= best single method ({best} {best_v:.3f}) + "
                  f"{TARGET_GAP:.0%} = {best_v * (1 + TARGET_GAP):.3f}: {'met' if ok1 else 'MISSED'}; "
                  f"below SeasonalNaive {naive:.3f}: {'met' if ok2 else 'MISSED'}")
    return rows, cols


# --- speed ----------------------------------------------------------------------------------

def speed_child(count: int, length: int, seed: int, jobs: int | None) -> None:
    """Runs in a fresh process: cold, warm and spec-reuse batches; prints one JSON line."""
    series = synthetic(count, length, seed)
    t0 = time.perf_counter()
    import statsforecast.models  # noqa: F401 - what a cold batch pays first

    from pricewise.analytics.forecast import forecast_many

    out: dict[str, Any] = {"import": time.perf_counter() - t0}
    kinds: dict[str, int] = {}
    specs: list[dict[str, Any]] = []
    for label in ("cold", "warm", "reuse"):
        c0 = resource.getrusage(resource.RUSAGE_CHILDREN)
        s0 = resource.getrusage(resource.RUSAGE_SELF)
        w0 = time.perf_counter()
        res = forecast_many(series, 12, n_jobs=jobs, specs=specs if label == "reuse" else None)
        wall = time.perf_counter() - w0 + (out["import"] if label == "cold" else 0.0)
        c1 = resource.getrusage(resource.RUSAGE_CHILDREN)
        s1 = resource.getrusage(resource.RUSAGE_SELF)
        cpu = sum(getattr(c1, f) - getattr(c0, f) + getattr(s1, f) - getattr(s0, f) for f in ("ru_utime", "ru_stime"))
        out[label] = {"wall": wall, "cpu": cpu, "reused": sum(f.reused for f in res)}
        if label == "cold":
            specs = [f.spec for f in res]
            for f in res:
                kinds[f.model] = kinds.get(f.model, 0) + 1
    out["models"] = kinds
    print("PWBENCH " + json.dumps(out))


def speed(args: argparse.Namespace, console: Any) -> tuple[list[list[str]], list[str]]:
    from rich.table import Table

    console.print(f"speed: {args.series:,} series x {args.length} months in a fresh process...")
    cmd = [sys.executable, str(Path(__file__).resolve()), "--speed-child", "--series", str(args.series),
           "--length", str(args.length), "--seed", str(args.seed)]
    if args.n_jobs:
        cmd += ["--n-jobs", str(args.n_jobs)]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=True, cwd=HERE)
    line = next(ln for ln in proc.stdout.splitlines() if ln.startswith("PWBENCH "))
    d = json.loads(line.removeprefix("PWBENCH "))
    workers = args.n_jobs or len(os.sched_getaffinity(0))
    cols = ["run", "wall s", "series/s", "CPU ms per series", f"CPU s / {workers} workers", "target",
            "refit from spec"]
    rows = []
    for label, what in (("cold", "cold (fresh process: imports + workers)"), ("warm", "warm (same process again)"),
                        ("reuse", "with each series' spec (no search)")):
        r = d[label]
        target = "" if label == "reuse" else ("met" if r["wall"] < TARGET_SECONDS else "MISSED")
        rows.append([what, f"{r['wall']:.2f}", f"{args.series / r['wall']:.0f}",
                     f"{1000 * r['cpu'] / args.series:.1f}", f"{r['cpu'] / workers:.2f}", target,
                     f"{r['reused']:,}"])
    table = Table(title=f"forecast_many: {args.series:,} synthetic series x {args.length} months, h = 12 "
                        f"(target < {TARGET_SECONDS:g} s)")
    for c in cols:
        table.add_column(c, justify="left" if c == "run" else "right")
    for row in rows:
        table.add_row(*row)
    console.print(table)
    console.print(f"CPU s / workers: the wall time with the cores to this batch alone. Imports "
                  f"{d['import']:.2f} s (in the cold figure); chosen models: "
                  + ", ".join(f"{k} {v}" for k, v in sorted(d["models"].items(), key=lambda kv: -kv[1])))
    return rows, cols


def markdown(rows: list[list[str]], cols: list[str]) -> None:
    print()
    print("| " + " | ".join(cols) + " |")
    left = ("series", "choice picked", "run")
    print("|" + "|".join("---" if c in left else "---:" for c in cols) + "|")
    for row in rows:
        print("| " + " | ".join(row) + " |")


def main() -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    ap.add_argument("--origins", type=int, default=6, help="forecast origins per real series (default 6)")
    ap.add_argument("--window-monthly", type=int, default=36, help="months seen at each origin (default 36)")
    ap.add_argument("--window-quarterly", type=int, default=40, help="quarters seen at each origin (default 40)")
    ap.add_argument("--jobs", type=int, default=2, help="processes for the accuracy part (default 2)")
    ap.add_argument("--series", type=int, default=1000, help="synthetic series for the speed part (default 1000)")
    ap.add_argument("--length", type=int, default=36, help="months per synthetic series (default 36)")
    ap.add_argument("--n-jobs", type=int, default=None, help="forecast_many workers (default: the CPUs)")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--skip-accuracy", action="store_true")
    ap.add_argument("--skip-speed", action="store_true")
    ap.add_argument("--markdown", action="store_true", help="also print the tables as Markdown")
    ap.add_argument("--speed-child", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.speed_child:
        speed_child(args.series, args.length, args.seed, args.n_jobs)
        return 0
    if args.origins < 1 or args.series < 1 or args.length < 2:
        ap.error("--origins and --series must be >= 1, --length >= 2")

    from rich.console import Console

    console = Console(width=max(Console().width, 150))
    tables = []
    if not args.skip_accuracy:
        tables.append(accuracy(args, console))
    if not args.skip_speed:
        tables.append(speed(args, console))
    info = machine()
    load = " / ".join(f"{x:.2f}" for x in os.getloadavg())
    console.print(f"machine: {info['cpus']} CPU(s) ({info['cpu']}), Python {info['python']}, {info['os']}; "
                  f"load average {load} (1/5/15 min) at the end.")
    if args.markdown:
        for rows, cols in tables:
            markdown(rows, cols)
    return 0


if __name__ == "__main__":
    sys.exit(main())
