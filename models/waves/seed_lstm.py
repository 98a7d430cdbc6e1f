"""The seed experiment's LSTM, reproduced faithfully (SEED.txt), and its place among the forecast's members.

`model=lstm-seed` runs it: hidden 3C (6 for two channels), batch 1, Adam 6e-4, one sample per step with the
state carried between steps without gradient, predicting ``ahead`` steps on. It is the baseline the service
is measured against (`benchmarks/forecast_vs_seed.py`), not a model anyone should choose.
"""

from __future__ import annotations

import time
from collections.abc import MutableMapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from models.progress import OnFraction
from models.waves.features import features
from models.waves.lstm import checkpoint, read_checkpoint, single_thread
from models.waves.members import load_net_bytes, store_net_bytes


@dataclass
class SeedConfig:
    """The seed's protocol: hidden = 3C (6 for two channels), batch 1, Adam 6e-4, ``steps`` single steps."""

    channels: int
    ahead: int = 23
    steps: int = 80_000
    lr: float = 6e-4
    seed: int = 0


class SeedLSTM(nn.Module):
    """BasicLSTMCell(3C) + a linear read-out, as in the seed (weights ~ truncated normal, std 1)."""

    def __init__(self, cfg: SeedConfig) -> None:
        super().__init__()
        c = cfg.channels
        self.cell = nn.LSTMCell(3 * c, 3 * c)
        self.out = nn.Linear(3 * c, c)
        nn.init.trunc_normal_(self.out.weight, std=1.0, a=-2.0, b=2.0)
        nn.init.zeros_(self.out.bias)

    def forward(
        self, x: torch.Tensor, state: tuple[torch.Tensor, torch.Tensor]
    ) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
        """One step: input (1, 3C) and state -> prediction (1, C) and the new state."""
        h, c = self.cell(x, state)  # (1, 3C), (1, 3C)
        return self.out(h), (h, c)


class SeedForecaster:
    """The seed's LSTM: one sample at a time, state carried between steps without gradient, no normalisation.

    At step t it reads [x(t), x'(t), x''(t)] and predicts x(t + ahead). A forecast of the path
    x(T) .. x(T+H-1) with H = ahead is the outputs at inputs T-H .. T-1, each an ``ahead``-step prediction.
    """

    def __init__(self, cfg: SeedConfig) -> None:
        self.cfg = cfg
        with torch.random.fork_rng():
            torch.manual_seed(cfg.seed)
            self.net = SeedLSTM(cfg)

    def _zero_state(self) -> tuple[torch.Tensor, torch.Tensor]:
        size = 3 * self.cfg.channels
        return torch.zeros(1, size), torch.zeros(1, size)

    def fit(self, train: np.ndarray, on_fraction: OnFraction | None = None) -> SeedForecaster:
        with single_thread():
            self._fit(train, on_fraction)
        return self

    def _fit(self, train: np.ndarray, on_fraction: OnFraction | None) -> None:
        cfg, net = self.cfg, self.net
        n_pairs = len(train) - cfg.ahead
        if n_pairs < 1:
            raise ValueError("training part is shorter than the prediction distance")
        feats = torch.as_tensor(features(train), dtype=torch.float32)  # (T, 3C)
        values = torch.as_tensor(train, dtype=torch.float32)  # (T, C)
        opt = torch.optim.Adam(net.parameters(), lr=cfg.lr)
        state = self._zero_state()
        t = 0
        for step in range(cfg.steps):
            if t == n_pairs:  # a finite history is replayed; the jump back in time starts a fresh state
                t, state = 0, self._zero_state()
            pred, state = net(feats[t : t + 1], state)  # (1, C)
            # Sum of squares, as in the seed; the state is carried on without gradient.
            loss = torch.sum((pred - values[t + cfg.ahead]) ** 2)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            state = (state[0].detach(), state[1].detach())
            t += 1
            if on_fraction is not None and step % 500 == 0:
                on_fraction(step / cfg.steps)

    @torch.no_grad()
    def run(self, series: np.ndarray, start: int = 0) -> np.ndarray:
        """Outputs for steps start..T-1 from a state flushed at ``start``: (T - start, C).

        Row i predicts x(start + i + ahead). The differences are taken over the whole series, so the
        features stay continuous across the flush, as in the seed's test.
        """
        feats = torch.as_tensor(features(series), dtype=torch.float32)  # (T, 3C)
        state = self._zero_state()
        out = torch.empty(len(series) - start, self.cfg.channels)  # (T - start, C)
        with single_thread():
            for i, t in enumerate(range(start, len(series))):
                out[i : i + 1], state = self.net(feats[t : t + 1], state)
        return out.double().numpy()

    def predict_at(self, series: np.ndarray, origins: np.ndarray, horizon: int) -> np.ndarray:
        if horizon != self.cfg.ahead:
            raise ValueError(f"this model predicts {self.cfg.ahead} steps ahead, not {horizon}")
        origins = np.asarray(origins)
        outputs = self.run(series[: int(origins.max())])  # (T, C)
        return outputs[origins[:, None] + np.arange(-horizon, 0)]  # (O, H, C)

    def to_bytes(self) -> bytes:
        return checkpoint("lstm-seed", self.cfg, self.net)

    @classmethod
    def from_bytes(cls, blob: bytes) -> SeedForecaster:
        config, weights = read_checkpoint(blob)
        model = cls(SeedConfig(**config))
        model.net.load_state_dict(weights)
        return model


@dataclass
class SeedMember:
    """The seed experiment's LSTM as a member (raw series, batch 1, single steps), read from or stored in the cache."""

    cfg: SeedConfig
    cache: MutableMapping[str, bytes] | None
    key: str
    on_fraction: OnFraction
    net: SeedForecaster | None = None
    cached: bool = False
    train_seconds: float = 0.0

    def fit(self, train: np.ndarray) -> SeedMember:
        blob = load_net_bytes(self.cache, self.key)
        self.cached = blob is not None
        if blob is not None:
            self.net = SeedForecaster.from_bytes(blob)
            return self
        start = time.perf_counter()
        self.net = SeedForecaster(self.cfg).fit(train, self.on_fraction)
        self.train_seconds = time.perf_counter() - start
        store_net_bytes(self.cache, self.key, self.net.to_bytes())
        return self

    def metrics(self) -> dict[str, Any]:
        return {"train_seconds": round(self.train_seconds, 3), "model_cached": self.cached}

    def predict_at(self, series: np.ndarray, origins: np.ndarray, horizon: int) -> np.ndarray:
        assert self.net is not None, "fit first"
        return self.net.predict_at(series, origins, horizon)
