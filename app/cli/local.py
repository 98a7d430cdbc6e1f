"""The CLI's local runs: the one place where app/ reaches the job bodies in `workers/jobs.py`.

The imports of `workers` are inside the functions, on purpose: app/ never imports workers/ or models/ at
module level, because the API process (which imports app/) must stay free of torch. A local run is the one
place the CLI needs the algorithm, and it runs the same job body as the worker, so the two cannot drift.
tests/app/test_boundaries.py allows this module, and only this one, to import workers/.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from app.cli.common import Show
from app.schemas import StyleTransferParams, WaveForecastRequest
from app.settings import get_settings

if TYPE_CHECKING:
    from workers.jobs import Listener


class BarListener:
    """A job body's listener for the progress bar: status lines with the loss; no previews; never stops."""

    def __init__(self, show: Show) -> None:
        self.show = show

    def progress(self, fraction: float, message: str, metrics: dict[str, Any] | None = None) -> None:
        loss = ((metrics or {}).get("losses") or {}).get("total")
        self.show(fraction, message + (f", loss {loss:.4g}" if loss is not None else ""))

    def preview(self, png: bytes) -> None:
        pass  # the terminal shows no images

    def should_stop(self) -> bool:
        return False  # Ctrl-C raises KeyboardInterrupt instead


def stylize(
    params: StyleTransferParams, content: bytes | None, styles: list[bytes], device: str | None, show: Show
) -> bytes:
    """Run the style job in this process, as the worker would; the result PNG."""
    from workers.jobs import style_job
    from workers.memory import job_budget

    settings = get_settings()
    listener: Listener = BarListener(show)
    device = device or settings.device
    out = style_job(
        params,
        content,
        styles,
        device=device,
        weights_path=settings.vgg_weights,
        listener=listener,
        memory_bytes=job_budget(settings.worker_memory_mb, 1, device),
    )
    return out.outputs["result"]


def forecast(request: WaveForecastRequest, show: Show, plot: bool) -> tuple[dict[str, Any], bytes]:
    """Run the forecast job in this process, as the worker would; the result JSON (as the API serves it) and plot."""
    from workers.jobs import forecast_job

    out = forecast_job(request, listener=BarListener(show), plot=plot)
    return json.loads(out.outputs["result"]), out.outputs.get("plot", b"")
