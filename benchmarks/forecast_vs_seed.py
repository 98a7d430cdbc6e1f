"""Our default forecaster and our LSTM against the seed experiment's LSTM and the classical baselines, in one run.

The test is the seed's: after training, fast-forward the waves 200 steps, then predict x(t + 23) at each of
the next 1000 steps. The seed's LSTM trains on the endless wave stream one sample at a time (80k steps by
default) and has its state flushed before the test; ours trains on a 3000-step history (t = 0..2999), which
is what a forecast request sends, and reads the fast-forwarded steps as its input window.

    .venv/bin/python benchmarks/forecast_vs_seed.py [--seed-steps 80000] [--history 3000] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from dataclasses import dataclass

import numpy as np
import torch

from models.runtime import preload
from models.waves.baselines import BASELINES
from models.waves.combine import Combination
from models.waves.generator import ORIGINAL_WAVES, generate
from models.waves.lstm import LSTMConfig, LSTMForecaster
from models.waves.seed_lstm import SeedConfig, SeedForecaster

AHEAD = 23
FAST_FORWARD = 200
TEST_STEPS = 1000


@dataclass
class Row:
    name: str
    train_seconds: float  # wall clock
    train_cpu_seconds: float  # this process's CPU time: what the model costs when other jobs share the cores
    rmse: float


class Clock:
    """Wall and process CPU seconds of a block."""

    def __enter__(self) -> Clock:
        self.wall, self.cpu = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc: object) -> None:
        self.wall, self.cpu = time.perf_counter() - self.wall, time.process_time() - self.cpu


def _rmse(pred: np.ndarray, truth: np.ndarray) -> float:
    return float(np.sqrt(np.mean((pred - truth) ** 2)))


def run_seed(steps: int, seed: int) -> Row:
    """The seed's protocol: train on the stream t = 0..steps-1, fast-forward, flush, test."""
    model = SeedForecaster(SeedConfig(channels=2, ahead=AHEAD, steps=steps, seed=seed))
    stream = generate(ORIGINAL_WAVES, 0, steps + AHEAD)
    with Clock() as clock:
        model.fit(stream)
    first = steps + FAST_FORWARD  # the first test input
    # Two extra steps before the test keep x' and x'' continuous, as the seed's running differences are.
    stream = generate(ORIGINAL_WAVES, first - 2, TEST_STEPS + 2 + AHEAD)
    pred = model.run(stream[: 2 + TEST_STEPS], start=2)  # (1000, 2), row i predicts x(first + i + 23)
    return Row(f"lstm-seed ({steps} steps)", clock.wall, clock.cpu, _rmse(pred, stream[2 + AHEAD :]))


def test_on_history(model: object, history: int) -> float:
    """RMSE of x(t + 23) predicted from x(..t) for the 1000 test steps after the fast-forward."""
    series = generate(ORIGINAL_WAVES, 0, history + FAST_FORWARD + TEST_STEPS + AHEAD)
    origins = np.arange(history + FAST_FORWARD, history + FAST_FORWARD + TEST_STEPS) + 1  # context ends at t
    pred = model.predict_at(series, origins, AHEAD)[:, -1]  # type: ignore[attr-defined]  # (1000, 2)
    return _rmse(pred, series[origins + AHEAD - 1])


def run_ours(name: str, cfg: LSTMConfig, history: int) -> Row:
    model = LSTMForecaster(cfg)
    train = generate(ORIGINAL_WAVES, 0, history)
    with Clock() as clock:
        model.fit(train)
    return Row(name, clock.wall, clock.cpu, test_on_history(model, history))


def run_default(history: int, seed: int) -> Row:
    """The default model (`auto`): the hybrid's members backtested and weighted, as a forecast request runs it."""
    train = generate(ORIGINAL_WAVES, 0, history)
    with Clock() as clock:
        model = Combination(AHEAD, seed=seed).fit(train)
    return Row("auto (default: the hybrid)", clock.wall, clock.cpu, test_on_history(model, history))


def run_baseline(name: str, history: int) -> Row:
    train = generate(ORIGINAL_WAVES, 0, history)
    with Clock() as clock:
        model = BASELINES[name]().fit(train)
    return Row(name, clock.wall, clock.cpu, test_on_history(model, history))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seed-steps", type=int, default=80_000, help="training steps of the seed's LSTM")
    parser.add_argument("--history", type=int, default=3000, help="history our models are fitted on")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", default=None, help="also write the rows to this JSON file")
    args = parser.parse_args()
    torch.set_num_threads(1)  # both LSTMs run on one thread anyway; keep the baselines comparable

    ours = LSTMConfig(channels=2, horizon=AHEAD, seed=args.seed)
    # The ablation: no linear highway, so the LSTM alone must forecast; it needs more steps.
    pure = LSTMConfig(channels=2, horizon=AHEAD, window=16, patch=1, highway=False, steps=1500, seed=args.seed)
    # Pay torch's one-time start-up (about 1 s) and its optimizers' lazy imports (`preload`, about 1 s more)
    # before any clock runs, as a worker does when it starts.
    preload()
    LSTMForecaster(LSTMConfig(channels=2, horizon=AHEAD, steps=2)).fit(generate(ORIGINAL_WAVES, 0, 500))
    rows = [
        run_default(args.history, args.seed),
        run_ours("lstm (our LSTM on the raw series)", ours, args.history),
        run_ours("lstm (ours, no highway: pure LSTM)", pure, args.history),
        *(run_baseline(name, args.history) for name in BASELINES),
        run_seed(args.seed_steps, args.seed),
    ]
    seed_row = rows[-1]
    signal_std = float(generate(ORIGINAL_WAVES, 0, 600).std(axis=0).mean())
    print(f"machine: {platform.processor() or platform.machine()}, torch {torch.__version__}, 1 thread")
    print(f"test: 23-step-ahead x(t+23) at 1000 steps after a 200-step fast-forward; signal std {signal_std:.2f}")
    print(f"{'model':36s} {'train s':>8s} {'cpu s':>7s} {'test RMSE':>10s} {'RMSE/seed':>10s} {'seed s/s':>9s}")
    for r in rows:
        speed = seed_row.train_seconds / max(r.train_seconds, 1e-9)
        print(
            f"{r.name:36s} {r.train_seconds:8.2f} {r.train_cpu_seconds:7.2f} {r.rmse:10.6f} "
            f"{r.rmse / seed_row.rmse:10.6f} {speed:9.1f}"
        )
    print(f"load average during the run: {os.getloadavg()[0]:.1f} (others' jobs on the same cores inflate wall times)")
    if args.json:
        with open(args.json, "w") as f:
            json.dump([r.__dict__ for r in rows], f, indent=2)


if __name__ == "__main__":
    main()
