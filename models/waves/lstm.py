"""Our LSTM forecaster on [x, x', x'']: a linear highway plus an LSTM that learns its residual, whole paths at once.

It follows the same fit / predict_at interface as models.waves.baselines, and it can be saved to and loaded from
bytes (`checkpoint`: config next to weights), so a trained model can be reused from a cache. The seed
experiment's own LSTM is in `seed_lstm.py`.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from models.progress import OnFraction
from models.waves.features import features

log = logging.getLogger(__name__)

EXACT_HIGHWAY = 1e-6  # the highway's relative held-out error under which the LSTM is not trained
# The least share of the highway's held-out error the LSTM must remove to be kept: the best of several
# scored checkpoints is kept, so a gain of a fraction of a percent is noise.
MIN_GAIN = 0.01
_TABLE = 1 << 23  # the most values (origins x horizon x channels) of training targets held at once


@contextmanager
def single_thread() -> Iterator[None]:
    """Run torch on one intra-op thread, restoring the previous count afterwards.

    These LSTMs multiply tiny matrices (batch 128 x hidden 32) thousands of times in sequence: a second thread
    gains little when the CPU is idle, and when another process holds the other core the threads' spin-waits
    make training 10-20x slower (measured: 5 s on one thread against 100+ s on two).
    """
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


@dataclass
class LSTMConfig:
    """Ours: windows of ``window`` steps, a path head for ``horizon`` steps, trained for ``steps`` batches."""

    @staticmethod
    def batch_for(channels: int, horizon: int) -> int:
        """128 windows a batch, fewer when the path is huge: the heads' cost grows with horizon x channels."""
        return int(min(128, max(32, 128 * 2048 // (channels * horizon))))

    channels: int
    horizon: int
    window: int = 96
    patch: int = 8
    highway: bool = True
    ridge: float = 1e-6
    ridges: tuple[float, ...] = ()  # several: the highway's ridge is chosen on held-out windows
    hidden: int = 32
    batch: int = 128
    steps: int = 800
    lr: float = 3e-3
    seed: int = 0


class PathLSTM(nn.Module):
    """One LSTM layer over normalised [x, x', x''] windows; a linear head emits the whole future path at once.

    The head predicts y(t+h) - y(t) for h = 1..H in normalised units: the change from the last value is
    easier to learn than the level, and one shot for all h avoids compounding errors of iterated forecasts.
    The LSTM reads the window in patches of P consecutive steps, so a long window costs L/P recurrent steps.

    With ``highway`` a per-channel linear map from the window's values adds its own path, as in LSTNet
    (Lai et al., 2018): it is solved in closed form before training and kept fixed, and the LSTM learns what
    it leaves. Sums of sinusoids are linearly predictable, and on noisy data the least-squares solution
    averages the noise far better than a few thousand Adam steps can.
    """

    feat_mean: torch.Tensor
    feat_std: torch.Tensor
    x_mean: torch.Tensor
    x_std: torch.Tensor
    lstm_gate: torch.Tensor

    def __init__(self, cfg: LSTMConfig) -> None:
        super().__init__()
        self.cfg = cfg
        c = cfg.channels
        self.lstm = nn.LSTM(3 * c * cfg.patch, cfg.hidden, batch_first=True)
        self.head = nn.Linear(cfg.hidden, cfg.horizon * c)
        if cfg.highway:
            # The LSTM starts from "no correction", so training begins at the closed-form solution.
            nn.init.zeros_(self.head.weight)
            nn.init.zeros_(self.head.bias)
        self.hw_weight = nn.Parameter(torch.zeros(c, cfg.window, cfg.horizon), requires_grad=False)
        self.hw_bias = nn.Parameter(torch.zeros(c, cfg.horizon), requires_grad=False)
        # Normalisation statistics travel with the weights (so a cached model needs nothing else).
        self.register_buffer("feat_mean", torch.zeros(3 * c))
        self.register_buffer("feat_std", torch.ones(3 * c))
        self.register_buffer("x_mean", torch.zeros(c))
        self.register_buffer("x_std", torch.ones(c))
        # 0 when validation showed the LSTM's correction to the highway does not help (noise-fitting).
        self.register_buffer("lstm_gate", torch.ones(()))

    def forward(self, window: torch.Tensor) -> torch.Tensor:
        """Normalised feature windows (B, L, 3C) -> normalised path deltas (B, H, C)."""
        path = self.lstm_gate * self.correction(window)  # (B, H, C)
        return path + self.highway(window) if self.cfg.highway else path

    def correction(self, window: torch.Tensor) -> torch.Tensor:
        """The LSTM's part of the path (B, H, C), before the gate."""
        b, length, f = window.shape
        patches = window.reshape(b, length // self.cfg.patch, self.cfg.patch * f)  # (B, L/P, P*3C)
        out, _ = self.lstm(patches)  # (B, L/P, hidden)
        return self.head(out[:, -1]).view(b, self.cfg.horizon, self.cfg.channels)

    def highway(self, window: torch.Tensor) -> torch.Tensor:
        """The fixed linear part of the path (B, H, C), from the window's normalised x columns."""
        return highway_path(window[:, :, : self.cfg.channels], self.hw_weight, self.hw_bias)


def highway_path(values: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
    """Linear path from a window of values (B, L, C), relative to its last value -> (B, H, C)."""
    rel = values - values[:, -1:]  # (B, L, C); shift-invariant, like the delta targets
    return torch.einsum("blc,clh->bhc", rel, weight) + bias.T  # (B, H, C)


def fit_highway(
    values: np.ndarray,
    origins: np.ndarray,
    window: int,
    horizon: int,
    ridge: float,
    max_rows: int = 8192,
    ridges: tuple[float, ...] = (),
) -> tuple[np.ndarray, np.ndarray]:
    """Ridge least squares, per channel, of the path deltas on the window: weights (C, L, H), bias (C, H).

    At most ``max_rows`` evenly spaced origins are used: plenty for L + 1 unknowns, and it bounds memory and
    time on long histories with long horizons. With several ``ridges``, each channel takes the one with the
    lowest error on its latest fifth of origins when fitted on the rest (clean waves want almost none, short
    noisy series much more), then is refitted on all origins.
    """
    if len(origins) > max_rows:
        origins = origins[np.linspace(0, len(origins) - 1, max_rows).round().astype(int)]
    channels = values.shape[1]
    weight, bias = np.zeros((channels, window, horizon)), np.zeros((channels, horizon))
    for c in range(channels):
        design, target = _highway_rows(values[:, c], origins, window, horizon)
        cut = len(origins) - max(1, len(origins) // 5) - horizon  # a gap of one horizon before the held-out rows
        chosen = ridge
        if len(ridges) > 1 and cut > window:
            gram, rhs = _normal(design[:cut], target[:cut])
            held = design[cut + horizon :], target[cut + horizon :]
            errors = [np.mean((held[0] @ _solve(gram, rhs, r) - held[1]) ** 2) for r in ridges]
            chosen = ridges[int(np.argmin(errors))]
        coef = _solve(*_normal(design, target), chosen)  # (L, H)
        weight[c, :-1], bias[c] = coef[:-1], coef[-1]
    return weight, bias


def _highway_rows(x: np.ndarray, origins: np.ndarray, window: int, horizon: int) -> tuple[np.ndarray, np.ndarray]:
    """The design (N, L) and the path-delta targets (N, H) of one channel."""
    lagged = x[origins[:, None] + np.arange(-window, 0)]  # (N, L)
    target = x[origins[:, None] + np.arange(horizon)] - x[origins - 1][:, None]  # (N, H)
    # Relative to the last value (shift-invariant, like the targets); that column is identically zero,
    # so the ones column takes its place as the intercept.
    design = np.concatenate([lagged[:, :-1] - lagged[:, -1:], np.ones((len(origins), 1))], axis=1)  # (N, L)
    return design, target


def _normal(design: np.ndarray, target: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """X'X and X'Y, as float64 products through torch on one thread (numpy's BLAS would spin on a busy box)."""
    d = torch.as_tensor(design)
    with single_thread():
        return (d.T @ d).numpy(), (d.T @ torch.as_tensor(target)).numpy()  # (L, L), (L, H)


def _solve(gram: np.ndarray, rhs: np.ndarray, ridge: float) -> np.ndarray:
    scale = np.trace(gram) / len(gram)
    return np.linalg.solve(gram + ridge * scale * np.eye(len(gram)), rhs)


def _safe_std(x: np.ndarray) -> np.ndarray:
    std = x.std(axis=0)
    return np.where(std > 1e-12 * (1.0 + np.abs(x).max(axis=0)), std, 1.0)


class EarlyStop:
    """Scores the LSTM's correction on held-out windows during training, keeps the best weights, says when to stop.

    The correction starts at zero, so the first score is the highway's alone. On most series the LSTM learns
    what it can of the highway's residual within a few hundred steps and then fits noise, and on some it never
    helps: training stops after ``PATIENCE`` scores without a new best, and the best weights are restored.
    """

    CHECKS = 10  # scores over the full schedule
    PATIENCE = 2

    def __init__(self, windows: torch.Tensor, residuals: torch.Tensor) -> None:
        self.windows, self.residuals = windows, residuals  # (V, L, 3C), (V, H, C)
        self.best = float("inf")
        self.state: dict[str, torch.Tensor] = {}
        self.misses = 0

    @torch.no_grad()
    def check(self, net: PathLSTM) -> bool:
        """Score the current weights; True when training should stop."""
        net.eval()
        error = torch.mean((net.correction(self.windows) - self.residuals) ** 2).item()
        net.train()
        if error < self.best:
            self.best, self.misses = error, 0
            self.state = {k: v.clone() for k, v in net.state_dict().items() if k.startswith(("lstm.", "head."))}
        else:
            self.misses += 1
        return self.misses >= self.PATIENCE

    def restore(self, net: PathLSTM) -> None:
        """The best weights seen, the final ones included."""
        self.check(net)
        net.load_state_dict(self.state, strict=False)


class LSTMForecaster:
    """Our fast LSTM: batched random windows (truncated BPTT over ``window`` steps), Adam with one-cycle lr."""

    def __init__(self, cfg: LSTMConfig) -> None:
        self.cfg = cfg
        self.val_gain = float("nan")  # share of the highway's validation error the LSTM removes
        self.highway_val_error = float("nan")  # the highway's validation error / the targets' mean square
        self.trained_steps = 0  # fewer than cfg.steps when early stopping ended the training
        with torch.random.fork_rng():
            torch.manual_seed(cfg.seed)
            self.net = PathLSTM(cfg)

    def _tensors(self, series: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        """Normalised features (T, 3C) and values (T, C) of a whole series."""
        net = self.net
        feats = torch.as_tensor(features(series), dtype=torch.float32)
        values = torch.as_tensor(series, dtype=torch.float32)
        return (feats - net.feat_mean) / net.feat_std, (values - net.x_mean) / net.x_std

    def fit(self, train: np.ndarray, on_fraction: OnFraction | None = None) -> LSTMForecaster:
        with single_thread():
            self._fit(train, on_fraction)
        return self

    def _fit(self, train: np.ndarray, on_fraction: OnFraction | None) -> None:
        """Normalise, solve the highway, train the LSTM on what it leaves, then gate it on held-out windows."""
        cfg, net = self.cfg, self.net
        fn, xn = self._normalise(train)  # (T, 3C), (T, C)
        # An origin o reads the window fn[o-L : o] and predicts xn[o : o+H] - xn[o-1].
        lo, hi = cfg.window, len(train) - cfg.horizon
        if hi < lo:
            raise ValueError(f"training part of {len(train)} steps is too short for window + horizon")
        val_lo = hi + 1
        if cfg.highway:
            weight, bias = fit_highway(
                xn.double().numpy(), np.arange(lo, hi + 1), cfg.window, cfg.horizon, cfg.ridge, ridges=cfg.ridges
            )
            net.hw_weight.copy_(torch.as_tensor(weight))
            net.hw_bias.copy_(torch.as_tensor(bias))
            # The latest sixth of the windows, after a gap of one horizon, judges the LSTM's correction.
            n_val = (hi - lo + 1) // 6
            if n_val >= 16 and hi - n_val - cfg.horizon >= lo:
                val_lo, hi = hi - n_val + 1, hi - n_val - cfg.horizon
            else:  # too few windows to judge the correction: the highway alone, which cannot overfit as much
                net.lstm_gate.fill_(0.0)
                return
        val = self._validation(val_lo, len(train) - cfg.horizon)
        if cfg.highway and val is not None and self._highway_exact(fn, xn, val):
            net.lstm_gate.fill_(0.0)  # nothing left for the LSTM to correct: skip its training
            return
        loss = self._train(fn, xn, lo, hi, val, on_fraction)
        if val is not None:
            self._gate(fn, xn, val)
        log.debug("lstm trained: %d steps, last loss %.3g, gate %g", self.trained_steps, loss, net.lstm_gate)

    @staticmethod
    def _validation(first: int, last: int) -> torch.Tensor | None:
        """At most 512 evenly spaced validation origins in first..last: enough to judge, bounded memory."""
        if first > last:
            return None
        return torch.linspace(first, last, min(512, last - first + 1)).round().long()

    @torch.no_grad()
    def _residuals(self, fn: torch.Tensor, xn: torch.Tensor, origins: torch.Tensor) -> torch.Tensor:
        """The path-delta targets at ``origins`` minus the highway's path (the targets without one): (O, H, C)."""
        cfg, out = self.cfg, []
        for chunk in torch.split(origins, 1024):
            target = xn[chunk[:, None] + torch.arange(cfg.horizon)] - xn[chunk - 1][:, None]  # (b, H, C)
            if cfg.highway:
                target = target - self.net.highway(fn[chunk[:, None] + torch.arange(-cfg.window, 0)])
            out.append(target)
        return torch.cat(out)

    def _val_error(self, fn: torch.Tensor, xn: torch.Tensor, origins: torch.Tensor) -> tuple[float, float]:
        """The net's mean squared error on the windows at ``origins``, and the targets' mean square."""
        window = fn[origins[:, None] + torch.arange(-self.cfg.window, 0)]  # (V, L, 3C)
        target = xn[origins[:, None] + torch.arange(self.cfg.horizon)] - xn[origins - 1][:, None]  # (V, H, C)
        with torch.no_grad():
            return torch.mean((self.net(window) - target) ** 2).item(), torch.mean(target**2).item()

    def _highway_exact(self, fn: torch.Tensor, xn: torch.Tensor, origins: torch.Tensor) -> bool:
        """Whether the highway alone (the LSTM starts from no correction) is exact on the held-out windows.

        A sum of sinusoids is linearly predictable, and on clean waves the highway's held-out error is a
        millionth of the paths' mean square or less: the LSTM has nothing to learn, its training would cost
        the most of the whole forecast, and the gate would switch it off anyway.
        """
        error, scale = self._val_error(fn, xn, origins)
        self.highway_val_error = error / max(scale, 1e-30)
        return self.highway_val_error < EXACT_HIGHWAY

    def _normalise(self, train: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        """Store the training part's feature and value statistics in the net; its normalised tensors."""
        net = self.net
        feats = features(train)
        net.feat_mean.copy_(torch.as_tensor(feats.mean(0)))
        net.feat_std.copy_(torch.as_tensor(_safe_std(feats)))
        net.x_mean.copy_(torch.as_tensor(train.mean(0)))
        net.x_std.copy_(torch.as_tensor(_safe_std(train)))
        return self._tensors(train)

    def _train(
        self,
        fn: torch.Tensor,
        xn: torch.Tensor,
        lo: int,
        hi: int,
        val: torch.Tensor | None,
        on_fraction: OnFraction | None,
    ) -> float:
        """Adam, one-cycle lr, batches of random windows at origins lo..hi, early stopping on ``val``; the last loss."""
        cfg, net = self.cfg, self.net
        gen = torch.Generator().manual_seed(cfg.seed)
        opt = torch.optim.Adam([p for p in net.parameters() if p.requires_grad], lr=cfg.lr)
        sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=cfg.lr, total_steps=cfg.steps, pct_start=0.1)
        back = torch.arange(-cfg.window, 0)  # (L,)
        # The highway is fixed: what it leaves of each window's target is computed once, not every batch.
        small = (hi - lo + 1) * cfg.horizon * cfg.channels <= _TABLE
        table = self._residuals(fn, xn, torch.arange(lo, hi + 1)) if small else None
        stop = EarlyStop(fn[val[:, None] + back], self._residuals(fn, xn, val)) if val is not None else None
        every = max(1, cfg.steps // EarlyStop.CHECKS)
        net.train()
        for step in range(cfg.steps):
            if stop is not None and step % every == 0 and stop.check(net):
                break
            origins = torch.randint(lo, hi + 1, (cfg.batch,), generator=gen)  # (B,)
            window = fn[origins[:, None] + back]  # (B, L, 3C)
            target = table[origins - lo] if table is not None else self._residuals(fn, xn, origins)  # (B, H, C)
            loss = torch.mean((net.correction(window) - target) ** 2)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            if on_fraction is not None and step % 25 == 0:
                on_fraction(step / cfg.steps)
        self.trained_steps = step + 1
        if stop is not None:
            stop.restore(net)
        net.eval()
        return loss.item()

    def _gate(self, fn: torch.Tensor, xn: torch.Tensor, origins: torch.Tensor) -> None:
        """Keep the LSTM's correction only if it lowers the error on the held-out windows by MIN_GAIN or more."""
        with_lstm, _ = self._val_error(fn, xn, origins)
        self.net.lstm_gate.fill_(0.0)
        without, _ = self._val_error(fn, xn, origins)
        self.val_gain = 1.0 - with_lstm / max(without, 1e-30)
        self.net.lstm_gate.fill_(1.0 if self.val_gain >= MIN_GAIN else 0.0)

    @torch.no_grad()
    def predict_at(self, series: np.ndarray, origins: np.ndarray, horizon: int) -> np.ndarray:
        if horizon != self.cfg.horizon:
            raise ValueError(f"this model predicts {self.cfg.horizon} steps, not {horizon}")
        cfg, net = self.cfg, self.net
        origins_t = torch.as_tensor(np.asarray(origins), dtype=torch.long)  # (O,)
        if int(origins_t.min()) < cfg.window:
            raise ValueError(f"an origin needs {cfg.window} steps of context")
        # Only the context before the last origin matters; features need 2 extra steps for the differences.
        first = max(0, int(origins_t.min()) - cfg.window - 2)
        fn, xn = self._tensors(series[first : int(origins_t.max())])
        rel = origins_t - first
        out = []
        with single_thread():
            for chunk in torch.split(rel, 1024):
                window = fn[chunk[:, None] + torch.arange(-cfg.window, 0)]  # (b, L, 3C)
                out.append(net(window) + xn[chunk - 1][:, None])  # (b, H, C)
        path = torch.cat(out) * net.x_std + net.x_mean  # (O, H, C)
        return path.double().numpy()

    def to_bytes(self) -> bytes:
        return checkpoint("lstm", self.cfg, self.net)

    @classmethod
    def from_bytes(cls, blob: bytes) -> LSTMForecaster:
        config, weights = read_checkpoint(blob)
        model = cls(LSTMConfig(**config))
        model.net.load_state_dict(weights)
        model.net.eval()
        return model


def checkpoint(kind: str, config: Any, net: nn.Module) -> bytes:
    """A trained network as bytes: its config (a dataclass) next to its weights, so loading needs nothing else."""
    buf = io.BytesIO()
    torch.save({"kind": kind, "config": asdict(config), "state_dict": net.state_dict()}, buf)
    return buf.getvalue()


def read_checkpoint(blob: bytes) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
    """The (config fields, weights) of a `checkpoint`; tensors and plain values only (`weights_only`)."""
    ckpt = torch.load(io.BytesIO(blob), weights_only=True)
    return ckpt["config"], ckpt["state_dict"]
