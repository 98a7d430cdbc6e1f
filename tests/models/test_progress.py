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


def test_weighted_steps_report_the_share_of_the_work() -> None:
    """The default job's plan: 56 steps at 128 px, 56 at 256, 38 at 512 (StyleConfig's final_share 0.25)."""
    from models.nst.scales import plan, step_costs

    schedule = plan(512, 3, 150, 0.25)
    assert schedule == [(128, 56), (256, 56), (512, 38)]
    seen: list[Progress] = []
    tracker = Tracker(150, seen.append, step_costs=step_costs(schedule))
    for _ in range(150):
        tracker.done({})
    coarse = schedule[0][1] + schedule[1][1]
    # Three quarters of the steps are done after the two coarse scales, but only a third of the work.
    work = (schedule[0][0] ** 2 * schedule[0][1] + schedule[1][0] ** 2 * schedule[1][1]) / sum(
        e * e * n for e, n in schedule
    )
    assert seen[coarse - 1].fraction == pytest.approx(work) and 0.3 < work < 0.33
    assert seen[-1].fraction == 1.0
    assert all(a.fraction < b.fraction for a, b in zip(seen, seen[1:], strict=False))
