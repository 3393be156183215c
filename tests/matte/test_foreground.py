"""Foreground colours: spill suppression takes out only the tint leaning towards the backdrop."""

from __future__ import annotations

import numpy as np

from device.matte.foreground import suppress_spill


def _reference(colours, f, b, min_separation=0.1):
    """The rule as written: the edge colour's chroma leaning from F~'s towards B~'s is removed."""

    def chroma(x):
        return x - x.mean(axis=0, keepdims=True)

    u = chroma(b) - chroma(f)
    uu = (u * u).sum(axis=0)
    lean = np.clip(((chroma(colours) - chroma(f)) * u).sum(axis=0) / np.maximum(uu, 1e-6), 0, 1)
    lean[uu < min_separation**2] = 0
    return np.clip(colours - lean * u, 0, 1)


def test_spill_suppression_matches_the_rule_on_every_kind_of_pixel():
    rng = np.random.default_rng(3)
    n = 5000
    colours, f, b = (rng.random((3, n), np.float32) for _ in range(3))
    b[:, :1000] = f[:, :1000] + 0.01  # backdrop and product nearly the same tint: left alone
    got = suppress_spill(colours.copy(), f, b)
    assert np.abs(got - _reference(colours, f, b)).max() < 1e-5
    assert np.array_equal(got[:, :1000], colours[:, :1000])


def test_a_red_rim_on_a_white_product_loses_its_tint_and_keeps_its_brightness():
    f = np.full((3, 1), 0.9, np.float32)  # white cap
    b = np.array([[0.8], [0.1], [0.1]], np.float32)  # red paper
    rim = np.array([[0.95], [0.75], [0.75]], np.float32)  # white with a pink cast
    got = suppress_spill(rim.copy(), f, b)
    assert np.ptp(got) < 1e-5  # neutral again
    assert abs(float(got.mean()) - float(rim.mean())) < 1e-5  # as bright as it was
