"""The progress protocol both algorithms share: one `Progress` report, one `Canceled`, one `Tracker`.

Progress leaves an algorithm through a callback that receives `Progress`; the algorithm never knows who
listens (the worker, the CLI's progress bar or a test). Cancellation comes in through `should_stop`, which
the tracker polls: before every forward pass in style transfer, at every report in forecasting.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from PIL import Image


@dataclass
class Progress:
    """Where a run stands, as passed to the caller's `on_progress`."""

    step: int  # optimisation steps done; 0 where a run reports phases rather than steps (forecasting)
    total: int  # optimisation steps in the whole run (0 likewise)
    losses: dict[str, float] = field(default_factory=dict)  # the last step's loss terms
    image: Image.Image | None = None  # a preview, every `preview_every` steps when asked for
    message: str = ""  # one line for a status display, e.g. "step 3/20" or "training lstm"
    fraction: float = 0.0  # of the whole run, 0..1


OnProgress = Callable[[Progress], None]
ShouldStop = Callable[[], bool]
# A phase's own progress, called with the fraction of that phase done; raising from it (Canceled) aborts.
OnFraction = Callable[[float], None]


class Canceled(Exception):
    """Raised when `should_stop()` returns True: the caller canceled, or its time limit passed."""


class Tracker:
    """Counts steps, reports `Progress` to `on_progress`, and raises `Canceled` when `should_stop` says so.

    Style transfer counts optimisation steps (`check` before each, `done` after each); forecasting reports
    fractions of its phases (`report`, `span`).
    """

    def __init__(
        self,
        total: int = 0,
        on_progress: OnProgress | None = None,
        should_stop: ShouldStop | None = None,
        preview_every: int = 0,
        step_costs: Sequence[float] | None = None,
    ) -> None:
        self.total, self.step = total, 0
        self.on_progress, self.should_stop, self.preview_every = on_progress, should_stop, preview_every
        self.losses: dict[str, float] = {}
        # The fraction done is weighted by each step's cost when given (one per step), so that it tracks time.
        self.cumulative = list(itertools.accumulate(step_costs)) if step_costs else None

    def fraction(self) -> float:
        """Of the whole run: the cost of the steps done over the cost of all, or steps over total."""
        if self.cumulative and self.step:
            return self.cumulative[min(self.step, len(self.cumulative)) - 1] / self.cumulative[-1]
        return self.step / max(self.total, 1)

    def check(self) -> None:
        """Raise Canceled if the caller asked to stop."""
        if self.should_stop is not None and self.should_stop():
            raise Canceled(f"canceled at step {self.step} of {self.total}" if self.total else "canceled")

    def done(self, losses: dict[str, float], image: Callable[[], Image.Image] | None = None) -> None:
        """Count one step; report it, rendering `image()` as the preview on every `preview_every`-th step."""
        self.step += 1
        self.losses = losses
        if self.on_progress is None:
            return
        preview = None
        if (
            image is not None
            and self.preview_every
            and (self.step % self.preview_every == 0 or self.step == self.total)
        ):
            preview = image()
        message = f"step {self.step}/{self.total}"
        self.on_progress(Progress(self.step, self.total, dict(losses), preview, message, self.fraction()))

    def report(self, fraction: float, message: str) -> None:
        """Report a fraction of the whole run (clamped to 0..1), checking for cancellation first."""
        self.check()
        if self.on_progress is not None:
            fraction = float(min(max(fraction, 0.0), 1.0))
            self.on_progress(Progress(self.step, self.total, dict(self.losses), None, message, fraction))

    def span(self, lo: float, hi: float, message: str) -> OnFraction:
        """A phase's callback: its own 0..1 mapped onto lo..hi of the whole run."""
        return lambda f: self.report(lo + (hi - lo) * f, message)
