"""What a long-lived process loads once, before its first job."""

from __future__ import annotations


def preload() -> None:
    """Import what torch's optimizers load on their first use: torch._dynamo, about 1 CPU s.

    torch wraps every optimizer's ``__init__`` and ``step`` in a guard that imports torch._dynamo the first
    time one runs, so without this the first job of each process (a forecast's LSTM or a style transfer)
    pays it. A worker calls this once, before it forks its job processes, which then share the loaded modules.
    """
    import torch._dynamo  # noqa: F401
