"""snnmath.theory.finite_width: the chain's mean rate and the log of the expected depth to silence."""

import math

import numpy as np
import pytest

from snnmath import theory


def test_mean_active_rate_is_the_mean_of_the_chain():
    dist = theory.active_count_distribution(40, 1.0, 6, gain=5.0)
    rate = theory.mean_active_rate(40, 1.0, 6, gain=5.0)
    assert rate.shape == (7,)
    assert np.allclose(rate, [sum(k * p for k, p in enumerate(row)) / 40 for row in dist], rtol=1e-12, atol=0)
    assert rate[0] == pytest.approx(float(theory.spike_probability(1.0)), rel=1e-12)  # layer 0 is binomial


def test_mean_active_rate_approaches_the_mean_field_at_large_width():
    rate = theory.mean_active_rate(3000, 0.5, 5)[-1]
    gain = float(theory.weight_variance(1, 0.5))
    mean_field = float(theory.spike_probability(0.5, theory.iterate_map(0.5, gain, 1.0, 5)[-1]))
    assert rate == pytest.approx(mean_field, rel=0.01)


@pytest.mark.parametrize("n, theta", [(10, 1.0), (30, 1.5), (100, 1.0)])
def test_log_expected_depth_is_the_log_where_finite(n, theta):
    expected, _ = theory.expected_depth_to_silence(n, theta)
    assert math.isfinite(expected)
    assert theory.log_expected_depth_to_silence(n, theta) == pytest.approx(math.log(expected), rel=1e-12)


def test_log_expected_depth_is_finite_where_the_depth_overflows():
    expected, log_hazard = theory.expected_depth_to_silence(3000, 0.5)
    assert expected == math.inf
    log_depth = theory.log_expected_depth_to_silence(3000, 0.5)
    assert math.isfinite(log_depth) and log_depth > math.log(np.finfo(float).max)
    assert log_depth == pytest.approx(-log_hazard, rel=1e-6)  # the geometric tail 1/h dominates


def test_a_chain_silent_from_the_start_has_depth_zero():
    # layer 0 at 100 standard deviations below the threshold: Q underflows to exactly 0
    assert theory.expected_depth_to_silence(5, 1.0, gain=2.0, input_variance=1e-4) == (0.0, 0.0)
    assert theory.log_expected_depth_to_silence(5, 1.0, gain=2.0, input_variance=1e-4) == -math.inf


def test_chain_rows_are_distributions_and_silence_absorbs():
    step = theory.transition_matrix(50, 1.0)
    assert np.allclose(step.sum(axis=1), 1.0, atol=1e-12)
    assert step[0, 0] == 1.0
    dist = theory.active_count_distribution(50, 1.0, 30)
    assert np.all(np.diff(dist[:, 0]) >= -1e-15)  # P(silent) never decreases with depth
    assert theory.silence_probability(50, 1.0, 30) == pytest.approx(dist[-1, 0])


def test_chain_mean_approaches_mean_field_at_large_width():
    dist = theory.active_count_distribution(3000, 1.0, 5)
    mean_rate = dist @ (np.arange(3001) / 3000)
    assert mean_rate[-1] == pytest.approx(float(theory.spike_probability(1.0)), rel=0.01)
