"""snnmath.theory.first_step: the largest threshold at which a fixed gain keeps a non-zero fixed point."""

import numpy as np
import pytest

from snnmath import theory


@pytest.mark.parametrize("gain", [1 / 3, 1.0, 2.0, 6.3, 1e6])
def test_largest_threshold_is_where_the_gain_meets_the_saddle_node(gain):
    largest = float(theory.largest_threshold(gain))
    assert float(theory.saddle_node_gain(largest)) == pytest.approx(gain, rel=1e-12)
    assert len(theory.fixed_points(largest * 0.99, gain)) == 3  # silence and two non-zero points
    assert len(theory.fixed_points(largest * 1.01, gain)) == 1  # silence only


def test_largest_threshold_broadcasts_and_grows_like_the_root_of_the_gain():
    gains = np.array([0.5, 2.0, 8.0])
    largest = theory.largest_threshold(gains)
    assert largest.shape == (3,)
    assert np.allclose(largest[1:] / largest[:-1], 2.0, rtol=1e-12)


def test_largest_threshold_refuses_a_non_positive_gain():
    with pytest.raises(ValueError, match="^gain must"):
        theory.largest_threshold(0.0)
