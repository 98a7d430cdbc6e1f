"""Rolling-origin evaluation of our forecasters against statsforecast on real series and a long-horizon wave case.

Every series is cut at several origins; each model forecasts the next ``horizon`` steps from the history before the
origin alone, and is scored on what really followed. Nothing is downloaded: the real series ship inside the
``statsmodels`` and ``pmdarima`` wheels (``pip install -e '.[bench]'``), and the synthetic case is made with the
project's wave generator.

Reported per series and overall: MASE (scaled by the in-sample seasonal-naive error of each origin's history),
sMAPE, the coverage of the 80% and 95% intervals, seconds per forecast (wall, and the process's CPU: what the
forecast costs when other jobs share the cores), and MASE in three horizon buckets (steps
1-10%, 10-50%, 50-100% of the horizon) with its ratio to seasonal naive and to persistence (statsforecast's Naive).

    .venv/bin/python benchmarks/forecast_real.py                      # everything, ~10 min on 2 cores
    .venv/bin/python benchmarks/forecast_real.py --ours auto,lstm --series airline,lynx --max-origins 5
    .venv/bin/python benchmarks/forecast_real.py --json out.json      # also write every figure as JSON
    .venv/bin/python benchmarks/forecast_real.py --merge a.json b.json  # one table from runs split by series

A long run can be split (by series, or peers apart from ours) into runs that each write ``--json``; ``--merge``
prints the tables of their union, a later file's figures replacing an earlier one's for the same series and model.
"""

from __future__ import annotations

import argparse
import importlib
import json
import math
import os
import platform
import sys
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from models.runtime import preload
from models.waves import Term, Wave, conformal_intervals, generate, run_forecast
from models.waves.combine import Combination

LEVELS = (80, 95)
BUCKETS = (("1-10%", 0.0, 0.1), ("10-50%", 0.1, 0.5), ("50-100%", 0.5, 1.0))
PEERS = ("SeasonalNaive", "Naive", "AutoETS", "AutoARIMA", "AutoTheta", "MSTL")
# statsforecast's ETS refuses seasons above 24 (as R's ets does), and seasonal ARIMA with a long season is
# impractically slow (season 52 on 600 weekly points: 537 s for one fit); those two get the longest listed season
# up to 24, else none. Theta's classical decomposition and MSTL take any season.
MAX_SEASON_ETS_ARIMA = 24


@dataclass
class Series:
    """One benchmark series: values (T, C) oldest first, the horizon, and the seasons a user would state."""

    name: str
    freq: str
    values: np.ndarray  # (T, C)
    horizon: int
    seasons: list[int]  # season lengths handed to the peers (our models detect their own)
    mase_m: int  # lag of the seasonal-naive error that scales MASE
    origins: list[int] = field(default_factory=list)
    channel_seasons: list[list[int]] | None = None  # per channel, when the channels differ (the synthetic case)


# ----------------------------------------------------------------------------------------------- the series


def _pmdarima(name: str) -> np.ndarray:
    datasets = importlib.import_module("pmdarima.datasets")
    values = np.asarray(getattr(datasets, f"load_{name}")(as_series=False), dtype=np.float64)
    return values[np.isfinite(values)]  # ausbeer ends with missing quarters


def _statsmodels(name: str, column: str | None = None) -> np.ndarray:
    data = importlib.import_module(f"statsmodels.datasets.{name}").load_pandas().data
    col = data[column] if column else data.iloc[:, 0]
    # co2 has a few missing weeks; linear interpolation is what a user would do before forecasting.
    return np.asarray(col.interpolate().bfill().to_numpy(), dtype=np.float64)


SYNTHETIC_PERIODS = [[17, 120, 1000], [24, 168, 700], [50, 365], [31, 90, 500, 1000]]


def synthetic_waves(history: int = 5000, horizon: int = 200, extra_origins: int = 4, seed: int = 7) -> Series:
    """Four noisy channels, periods 17 to 1000, long enough for a 5000-step history at every origin.

    The peers are told each channel's periods, largest amplitude first (seasonal naive uses that one).
    """
    rng = np.random.default_rng(seed)
    waves, seasons = [], []
    for c, periods in enumerate(SYNTHETIC_PERIODS):
        fns = [str(rng.choice(["sin", "cos"])) for _ in periods]
        amps, phases = rng.uniform(0.5, 2.0, len(periods)), rng.uniform(0, 2 * np.pi, len(periods))
        terms = [Term(f, float(a), float(p), float(ph)) for f, a, p, ph in zip(fns, amps, periods, phases, strict=True)]
        waves.append(Wave(offset=float(2 * c), terms=terms))
        seasons.append([int(t.period) for t in sorted(terms, key=lambda t: -t.amplitude)])
    values = generate(waves, 0, history + horizon * (extra_origins + 1), noise_std=0.3, seed=seed)
    return Series("waves", "synthetic", values, horizon, [], 1, channel_seasons=seasons)


def load_series(names: list[str] | None, max_origins: int = 10) -> list[Series]:
    """The benchmark's series with their origins; a name list keeps only those."""
    makers: dict[str, Callable[[], Series]] = {
        "airline": lambda: Series("airline", "monthly", _pmdarima("airpassengers"), 18, [12], 12),
        "wineind": lambda: Series("wineind", "monthly", _pmdarima("wineind"), 18, [12], 12),
        "elec_equip": lambda: Series("elec_equip", "monthly", _statsmodels("elec_equip"), 18, [12], 12),
        "ausbeer": lambda: Series("ausbeer", "quarterly", _pmdarima("ausbeer"), 8, [4], 4),
        "woolyrnq": lambda: Series("woolyrnq", "quarterly", _pmdarima("woolyrnq"), 8, [4], 4),
        "realgdp": lambda: Series("realgdp", "quarterly", _statsmodels("macrodata", "realgdp"), 8, [4], 4),
        "lynx": lambda: Series("lynx", "yearly", _pmdarima("lynx"), 6, [1], 1),
        "nile": lambda: Series("nile", "yearly", _statsmodels("nile", "volume"), 6, [1], 1),
        "sunspots": lambda: Series("sunspots", "yearly", _statsmodels("sunspots", "SUNACTIVITY"), 6, [1], 1),
        "co2": lambda: Series("co2", "weekly", _statsmodels("co2"), 13, [52], 52),
        "taylor": lambda: Series("taylor", "half-hourly", _pmdarima("taylor"), 48, [48, 336], 48),
        "waves": synthetic_waves,
    }
    chosen = names or list(makers)
    unknown = sorted(set(chosen) - set(makers))
    if unknown:
        raise SystemExit(f"unknown series {unknown}; known: {', '.join(makers)}")
    out = []
    for name in chosen:
        s = makers[name]()
        if s.values.ndim == 1:
            s.values = s.values[:, None]
        min_train = max(24, 2 * s.horizon, 2 * max(s.seasons, default=1))  # two seasons for MSTL
        if s.freq == "synthetic":
            min_train = len(s.values) - s.horizon * 5  # a 5000-step history at the first origin
        s.origins = rolling_origins(len(s.values), s.horizon, min_train, max_origins)
        out.append(s)
    return out


def rolling_origins(n: int, horizon: int, min_train: int, max_origins: int, step: int | None = None) -> list[int]:
    """Origins stepping back one horizon from the end (non-overlapping test windows), oldest first.

    As many as the series allows down to ``min_train`` steps of history, at most ``max_origins`` (0: no cap).
    When fewer than 5 fit, the step shrinks so that 5 do.
    """
    step = step or horizon
    last = n - horizon
    origins = list(range(last, min_train - 1, -step))
    if len(origins) < 5 and last - min_train >= 4:
        origins = [int(round(o)) for o in np.linspace(last, min_train, 5)]
    if max_origins:
        origins = origins[:max_origins]
    return sorted(origins)


# ----------------------------------------------------------------------------------------------- scoring


def mase_scale(train: np.ndarray, m: int) -> np.ndarray:
    """Mean absolute seasonal-naive error in sample, per channel: (C,)."""
    m = m if len(train) > m else 1
    scale = np.mean(np.abs(train[m:] - train[:-m]), axis=0)
    return np.where(scale > 0, scale, 1.0)


@dataclass
class Scored:
    """One model's figures at one origin of one series (each averaged over the channels)."""

    mase: float
    smape: float
    cover: dict[int, float]
    buckets: list[float]  # MASE per horizon bucket
    seconds: float
    cpu_seconds: float = float("nan")


def score(
    pred: np.ndarray, intervals: dict[int, tuple[np.ndarray, np.ndarray]], actual: np.ndarray, scale: np.ndarray
) -> tuple[float, float, dict[int, float], list[float]]:
    """MASE, sMAPE (%), interval coverage and per-bucket MASE of an (H, C) forecast."""
    err = np.abs(pred - actual) / scale  # (H, C)
    denom = np.abs(pred) + np.abs(actual)
    smape = 200.0 * float(np.mean(np.where(denom > 0, np.abs(pred - actual) / np.where(denom > 0, denom, 1), 0)))
    cover = {lv: float(np.mean((actual >= lo) & (actual <= hi))) for lv, (lo, hi) in intervals.items()}
    edges = bucket_edges(len(pred))
    buckets = [float(np.mean(err[a:b])) if b > a else float("nan") for a, b in zip(edges[:-1], edges[1:], strict=True)]
    return float(np.mean(err)), smape, cover, buckets


def bucket_edges(h: int) -> list[int]:
    """Step boundaries of the horizon buckets: disjoint, the first holding at least step 1."""
    return [0] + [min(h, max(1, math.ceil(b * h))) for _, _, b in BUCKETS]


# ----------------------------------------------------------------------------------------------- the models

Forecast = tuple[np.ndarray, dict[int, tuple[np.ndarray, np.ndarray]], dict]  # (H, C) mean, intervals, info


def _peer_model(name: str, seasons: list[int]) -> object:
    from statsforecast import models as sf

    main = seasons[0] if seasons else 1
    short = max([s for s in seasons if s <= MAX_SEASON_ETS_ARIMA], default=1)
    if name == "SeasonalNaive":
        return sf.SeasonalNaive(season_length=main)
    if name == "Naive":
        return sf.Naive()
    if name == "AutoETS":
        return sf.AutoETS(season_length=short)
    if name == "AutoARIMA":
        return sf.AutoARIMA(season_length=short)
    if name == "AutoTheta":
        return sf.AutoTheta(season_length=main)
    if name == "MSTL":
        long_ = [s for s in seasons if s > 1]
        if not long_:  # no season to decompose: MSTL is its trend model alone
            return sf.AutoETS(season_length=1)
        return sf.MSTL(season_length=long_, trend_forecaster=sf.AutoETS(model="ZZN"))
    raise ValueError(name)


def peer_forecast(name: str, series: Series, train: np.ndarray) -> Forecast:
    """A statsforecast model fitted on each channel of ``train``."""
    h = series.horizon
    seasons = series.seasons
    means, bands = [], {lv: ([], []) for lv in LEVELS}
    for c in range(train.shape[1]):
        model = _peer_model(name, series.channel_seasons[c] if series.channel_seasons else seasons)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            out = model.forecast(y=train[:, c].astype(np.float64), h=h, level=list(LEVELS))  # type: ignore[attr-defined]
        means.append(out["mean"])
        for lv in LEVELS:
            bands[lv][0].append(out[f"lo-{lv}"])
            bands[lv][1].append(out[f"hi-{lv}"])
    mean = np.stack(means, axis=1)  # (H, C)
    return mean, {lv: (np.stack(lo, 1), np.stack(hi, 1)) for lv, (lo, hi) in bands.items()}, {}


def ours_forecast(name: str, series: Series, train: np.ndarray) -> Forecast:
    """One of our models through the worker's call, on the whole multi-channel history.

    ``auto-nolstm`` is the ablation: the default's combination without its LSTM member.
    """
    if name == "auto-nolstm":
        return _without_lstm(series, train)
    result = run_forecast(train, series.horizon, name, seed=0)
    bands = {lv: result.intervals[str(lv)] for lv in LEVELS}
    return result.forecast, bands, {"model": result.model, "metrics": result.metrics}


def _without_lstm(series: Series, train: np.ndarray) -> Forecast:
    comb = Combination(series.horizon, use_lstm=False).fit(train)
    mean = comb.predict_at(train, np.array([len(train)]), series.horizon)[0]
    bands = conformal_intervals(mean, comb.actual - comb.backtest_forecast(), nonneg=train.min(0) >= 0)
    return mean, {lv: bands[str(lv)] for lv in LEVELS}, {}


# ----------------------------------------------------------------------------------------------- the run


@dataclass
class Cell:
    """All origins of one model on one series."""

    rows: list[Scored] = field(default_factory=list)
    failed: str = ""

    def mean(self, attr: str) -> float:
        return float(np.mean([getattr(r, attr) for r in self.rows])) if self.rows else float("nan")

    def cover(self, level: int) -> float:
        return float(np.mean([r.cover[level] for r in self.rows])) if self.rows else float("nan")

    def bucket(self, i: int) -> float:
        return float(np.mean([r.buckets[i] for r in self.rows])) if self.rows else float("nan")


def evaluate(series: Series, models: dict[str, Callable[[Series, np.ndarray], Forecast]]) -> dict[str, Cell]:
    """Every model at every origin of one series."""
    cells = {name: Cell() for name in models}
    h = series.horizon
    for origin in series.origins:
        train, actual = series.values[:origin], series.values[origin : origin + h]
        scale = mase_scale(train, series.mase_m)
        for name, fn in models.items():
            cell = cells[name]
            if cell.failed:
                continue
            start, cpu_start = time.perf_counter(), time.process_time()
            try:
                pred, bands, _ = fn(series, train)
            except Exception as exc:  # a model that cannot forecast this series is reported, not hidden
                cell.failed = f"{type(exc).__name__}: {exc}"[:120]
                cell.rows.clear()
                continue
            seconds, cpu = time.perf_counter() - start, time.process_time() - cpu_start
            mase, smape, cover, buckets = score(pred, bands, actual, scale)
            cell.rows.append(Scored(mase, smape, cover, buckets, seconds, cpu))
    return cells


def _fmt(x: float, digits: int = 3) -> str:
    return "—" if not np.isfinite(x) else f"{x:.{digits}f}"


def report(all_series: list[Series], results: dict[str, dict[str, Cell]], names: list[str]) -> dict:
    """Print the per-series and overall tables (markdown); return the figures as a dict."""
    out: dict = {"series": {}, "overall": {}}
    print("\n### Per series: MASE (sMAPE %) [80% / 95% coverage] {s per forecast; cpu s}\n")
    print("| series | freq | T | H | origins | " + " | ".join(names) + " |")
    print("|---|---|---:|---:|---:|" + "---:|" * len(names))
    for s in all_series:
        cells = results[s.name]
        line = f"| {s.name} | {s.freq} | {len(s.values)} | {s.horizon} | {len(s.origins)} |"
        for n in names:
            c = cells[n]
            line += (
                f" {_fmt(c.mean('mase'))} ({_fmt(c.mean('smape'), 1)}) [{_fmt(c.cover(80), 2)}/{_fmt(c.cover(95), 2)}]"
                f" {{{_fmt(c.mean('seconds'), 2)}; {_fmt(c.mean('cpu_seconds'), 2)}}} |"
                if not c.failed
                else " failed |"
            )
        print(line)
        out["series"][s.name] = {
            n: {
                "mase": cells[n].mean("mase"),
                "smape": cells[n].mean("smape"),
                "cover80": cells[n].cover(80),
                "cover95": cells[n].cover(95),
                "seconds": cells[n].mean("seconds"),
                "cpu_seconds": cells[n].mean("cpu_seconds"),
                "buckets": [cells[n].bucket(i) for i in range(len(BUCKETS))],
                "failed": cells[n].failed,
            }
            for n in names
        }
    for label, subset in (("real series", [s for s in all_series if s.freq != "synthetic"]), ("all", all_series)):
        _overall(label, subset, results, names, out)
    return out


def _overall(
    label: str, subset: list[Series], results: dict[str, dict[str, Cell]], names: list[str], out: dict
) -> None:
    if not subset:
        return
    ok = [n for n in names if all(not results[s.name][n].failed for s in subset)]
    if not ok:
        return

    def mean_of(n: str, fn: Callable[[Cell], float]) -> float:
        return float(np.mean([fn(results[s.name][n]) for s in subset]))

    mase = {n: mean_of(n, lambda c: c.mean("mase")) for n in ok}
    peers_ok = [n for n in ok if n in PEERS and n not in ("SeasonalNaive", "Naive")]
    best_peer = min(peers_ok, key=lambda n: mase[n]) if peers_ok else None
    print(f"\n### Overall, {label} ({len(subset)} series; models that ran on all of them)\n")
    head = "| model | mean MASE | / best statsforecast | mean sMAPE | cover 80 | cover 95 | s / forecast | cpu s |"
    print(head + " " + " | ".join(f"MASE {b[0]}" for b in BUCKETS) + " |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|" + "---:|" * len(BUCKETS))
    table = {}
    for n in ok:
        ratio = mase[n] / mase[best_peer] if best_peer else float("nan")
        buckets = [mean_of(n, lambda c, i=i: c.bucket(i)) for i in range(len(BUCKETS))]
        row = {
            "mase": mase[n],
            "ratio_to_best_statsforecast": ratio,
            "smape": mean_of(n, lambda c: c.mean("smape")),
            "cover80": mean_of(n, lambda c: c.cover(80)),
            "cover95": mean_of(n, lambda c: c.cover(95)),
            "seconds": mean_of(n, lambda c: c.mean("seconds")),
            "cpu_seconds": mean_of(n, lambda c: c.mean("cpu_seconds")),
            "buckets": buckets,
        }
        table[n] = row
        print(
            f"| {n} | {_fmt(row['mase'])} | {_fmt(ratio, 2)} | {_fmt(row['smape'], 2)} | {_fmt(row['cover80'], 3)} "
            f"| {_fmt(row['cover95'], 3)} | {_fmt(row['seconds'], 2)} | {_fmt(row['cpu_seconds'], 2)} | "
            + " | ".join(_fmt(b) for b in buckets)
            + " |"
        )
    print(f"\nbest single statsforecast model ({label}): {best_peer}")
    print("\nHorizon buckets, mean MASE as a ratio to SeasonalNaive / to persistence (Naive); < 1 beats it:\n")
    print("| model | " + " | ".join(b[0] for b in BUCKETS) + " |")
    print("|---|" + "---:|" * len(BUCKETS))
    for n in ok:
        cells = []
        for i in range(len(BUCKETS)):
            sn = table.get("SeasonalNaive", {}).get("buckets", [float("nan")] * 3)[i]
            nv = table.get("Naive", {}).get("buckets", [float("nan")] * 3)[i]
            b = table[n]["buckets"][i]
            cells.append(f"{_fmt(b / sn, 2)} / {_fmt(b / nv, 2)}")
        print(f"| {n} | " + " | ".join(cells) + " |")
    out["overall"][label] = {"models": table, "best_statsforecast": best_peer}


def merge(paths: list[str], max_origins: int) -> None:
    """Print the tables of several runs' --json figures as one run's (per-series means, as the runs averaged them)."""
    figures: dict[str, dict[str, dict]] = {}
    for path in paths:
        with open(path) as f:
            for name, models in json.load(f)["series"].items():
                figures.setdefault(name, {}).update(models)
    all_series = [s for s in load_series(None, max_origins) if s.name in figures]
    names = list(dict.fromkeys(n for s in all_series for n in figures[s.name]))
    results: dict[str, dict[str, Cell]] = {}
    for s in all_series:
        results[s.name] = {}
        for n in names:
            fig = figures[s.name].get(n)
            cell = results[s.name][n] = Cell(failed="" if fig else "not run")
            if fig and fig["failed"]:
                cell.failed = fig["failed"]
            elif fig:
                cover = {80: fig["cover80"], 95: fig["cover95"]}
                cpu = fig.get("cpu_seconds", float("nan"))  # absent from older runs
                cell.rows.append(Scored(fig["mase"], fig["smape"], cover, fig["buckets"], fig["seconds"], cpu))
    print(f"merged from: {', '.join(paths)}")
    report(all_series, results, names)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--series", default="", help="comma list of series names (default: all)")
    parser.add_argument("--ours", default="auto,lstm", help="comma list of our models (model= values)")
    parser.add_argument("--peers", default=",".join(PEERS), help="comma list of statsforecast models ('' for none)")
    parser.add_argument("--max-origins", type=int, default=10, help="origins per series at most (0: all)")
    parser.add_argument("--json", default=None, help="also write every figure to this JSON file")
    parser.add_argument("--merge", nargs="+", default=None, help="print the tables of these --json files' union")
    args = parser.parse_args()
    if args.merge:
        merge(args.merge, args.max_origins)
        return

    all_series = load_series([s for s in args.series.split(",") if s] or None, args.max_origins)

    models: dict[str, Callable[[Series, np.ndarray], Forecast]] = {}
    for p in [p for p in args.peers.split(",") if p]:
        models[p] = lambda s, t, p=p: peer_forecast(p, s, t)
    for o in [o for o in args.ours.split(",") if o]:
        models[o] = lambda s, t, o=o: ours_forecast(o, s, t)

    # Pay one-time compilation and imports before any clock runs, as a long-lived worker has.
    preload()
    warm = Series("warm", "monthly", np.sin(np.arange(400.0) / 3.0)[:, None] + 5, 12, [12], 12, [300])
    evaluate(warm, models)

    cpu = platform.processor() or platform.machine()
    print(f"machine: {cpu}, {os.cpu_count()} cores, python {sys.version.split()[0]}")
    results = {}
    for s in all_series:
        start = time.perf_counter()
        results[s.name] = evaluate(s, models)
        print(f"{s.name}: {len(s.origins)} origins, {time.perf_counter() - start:.1f} s", file=sys.stderr, flush=True)
    figures = report(all_series, results, list(models))
    print(f"\nload average at the end: {os.getloadavg()[0]:.1f}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(figures, f, indent=1)


if __name__ == "__main__":
    main()
