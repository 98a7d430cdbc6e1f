"""The [x, x', x''] features the LSTMs read: the value and its first and second backward differences."""

from __future__ import annotations

import numpy as np


def features(x: np.ndarray) -> np.ndarray:
    """Stack [x, x', x''] with backward differences: (T, C) -> (T, 3C).

    As in the seed, x'(t) = x(t) - x(t-1) and x''(t) = x'(t) - x'(t-1); the first rows, which have no
    predecessor, repeat the first defined difference instead of the seed's jump from zero.
    """
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 2:
        raise ValueError(f"expected a (T, C) array, got shape {x.shape}")
    d1 = np.diff(x, axis=0, prepend=x[:1])  # (T, C); d1[0] = 0
    if len(x) > 1:
        d1[0] = d1[1]
    d2 = np.diff(d1, axis=0, prepend=d1[:1])  # (T, C)
    if len(x) > 2:
        d2[:2] = d2[2]
    return np.concatenate([x, d1, d2], axis=1)  # (T, 3C)
