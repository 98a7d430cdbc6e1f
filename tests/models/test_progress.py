"""The progress protocol both algorithms share: step counting, previews, phase spans and cancellation."""

from __future__ import annotations

import pytest
from PIL import Image

from models.progress import Canceled, Progress, Tracker


def test_steps_are_counted_reported_and_previewed_every_k() -> None:
    seen: list[Progress] = []
    rendered: list[int] = []
    tracker = Tracker(5, seen.append, preview_every=2)

    def image() -> Image.Image:
        rendered.append(tracker.step)
        return Image.new("RGB", (2, 2))

    for i in range(5):
        tracker.done({"total": float(i)}, image)
    assert [(p.step, p.total, p.message, p.fraction) for p in seen][-1] == (5, 5, "step 5/5", 1.0)
    assert [p.image is not None for p in seen] == [False, True, False, True, True]  # every 2nd, and the last
    assert rendered == [2, 4, 5]  # the preview is rendered only when it is sent
    assert tracker.losses == {"total": 4.0} and seen[0].losses == {"total": 0.0}


def test_phases_map_onto_the_whole_run_clamped() -> None:
    seen: list[Progress] = []
    tracker = Tracker(on_progress=seen.append)
    training = tracker.span(0.1, 0.9, "training")
    training(0.0)
    training(0.5)
    tracker.report(1.5, "done")
    assert [(p.fraction, p.message) for p in seen] == [(0.1, "training"), (0.5, "training"), (1.0, "done")]


def test_should_stop_raises_canceled_before_the_next_step_or_report() -> None:
    stop = False
    tracker = Tracker(10, should_stop=lambda: stop)
    tracker.check()
    tracker.done({})
    stop = True
    with pytest.raises(Canceled, match="step 1 of 10"):
        tracker.check()
    with pytest.raises(Canceled):
        tracker.span(0.0, 1.0, "training")(0.3)
