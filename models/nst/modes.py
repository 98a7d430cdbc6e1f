"""The choices of a style job as enums: what each mode needs, and the other closed option sets.

`app/schemas.py` mirrors `Mode` at the API edge (the API process never imports models/); a test checks
that the two agree.
"""

from __future__ import annotations

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


E = TypeVar("E", bound=StrEnum)


def parse(kind: type[E], value: str, name: str) -> E:
    """`value` as a member of `kind`, or a ValueError naming the field and the choices."""
    try:
        return kind(value)
    except ValueError:
        raise ValueError(f"{name} must be one of {', '.join(kind)}, not {value!r}") from None
