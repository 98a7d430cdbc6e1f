"""The wave generator follows DESIGN.md's formula; features are [x, x', x'']."""

from __future__ import annotations

import math

import numpy as np
import pytest

from models.waves.features import features
from models.waves.generator import ORIGINAL_WAVES, Term, Wave, generate


def test_original_waves_match_the_seed_formula() -> None:
    x = generate(ORIGINAL_WAVES, 0, 700)
    assert x.shape == (700, 2)
    for t in (0, 1, 299, 650):
        a1 = 0.2 + 2 * math.pi * t / 300
        a2 = 0.7 + 2 * math.pi * t / 200
        assert x[t, 0] == pytest.approx(5 + 5 * math.sin(a1) + 10 * math.cos(a2), abs=1e-12)
        assert x[t, 1] == pytest.approx(7 + 7 * math.sin(a2) + 14 * math.cos(a1), abs=1e-12)
    # The two periods share a cycle of 600 steps.
    np.testing.assert_allclose(x[:100], x[600:700], atol=1e-9)


def test_start_offsets_the_same_wave() -> None:
    waves = [Wave(1.0, [Term("sin", 2.0, 17.0, 0.3)]), Wave(-3.0, [])]
    whole = generate(waves, 0, 50)
    np.testing.assert_allclose(generate(waves, 20, 30), whole[20:], atol=1e-12)
    assert np.all(whole[:, 1] == -3.0)


def test_noise_is_seeded_and_has_the_asked_std() -> None:
    clean = generate(ORIGINAL_WAVES, 0, 5000)
    noisy = generate(ORIGINAL_WAVES, 0, 5000, noise_std=0.5, seed=7)
    np.testing.assert_array_equal(noisy, generate(ORIGINAL_WAVES, 0, 5000, noise_std=0.5, seed=7))
    assert not np.array_equal(noisy, generate(ORIGINAL_WAVES, 0, 5000, noise_std=0.5, seed=8))
    assert (noisy - clean).std() == pytest.approx(0.5, rel=0.05)


@pytest.mark.parametrize("fn, period", [("tan", 10.0), ("sin", 0.0), ("cos", -5.0)])
def test_bad_terms_are_refused(fn: str, period: float) -> None:
    with pytest.raises(ValueError):
        Term(fn, 1.0, period, 0.0)


def test_features_are_value_and_differences() -> None:
    x = generate(ORIGINAL_WAVES, 0, 40)
    f = features(x)
    assert f.shape == (40, 6)
    np.testing.assert_array_equal(f[:, :2], x)
    np.testing.assert_allclose(f[1:, 2:4], np.diff(x, axis=0))
    np.testing.assert_allclose(f[2:, 4:6], np.diff(x, n=2, axis=0))
    # No jump from zero at the start: the first rows repeat the first defined difference.
    np.testing.assert_allclose(f[0, 2:4], f[1, 2:4])
