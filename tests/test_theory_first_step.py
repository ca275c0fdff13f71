"""snnmath.theory.first_step: the variance map, its fixed points and the scale, against quadrature; tails; bad input."""

import math

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from scipy import integrate

from snnmath import theory


def tail_by_quadrature(theta: float, variance: float = 1.0) -> float:
    """P(u > θ), u ~ N(0, V), by adaptive quadrature of the density (no erfc involved)."""
    sd = math.sqrt(variance)
    z = theta / sd
    # integrate exp(-(t^2 - z^2)/2) over t > z, then rescale: stays in range far in the tail
    scaled, _ = integrate.quad(lambda t: math.exp(-(t * t - z * z) / 2), z, np.inf, epsabs=0, epsrel=1e-13)
    return scaled * math.exp(-z * z / 2) / math.sqrt(2 * math.pi)


@pytest.mark.parametrize("theta", [0.0, 0.3, 1.0, 2.5, 5.0, 10.0, 20.0, 30.0])
@pytest.mark.parametrize("variance", [0.25, 1.0, 4.0])
def test_spike_probability_matches_quadrature(theta, variance):
    assert theory.spike_probability(theta, variance) == pytest.approx(tail_by_quadrature(theta, variance), rel=1e-10)


@pytest.mark.parametrize("theta", [0.0, 1.0, 3.0, 10.0, 30.0])
def test_weight_variance_matches_quadrature(theta):
    assert theory.weight_variance(784, theta) == pytest.approx(1 / (784 * tail_by_quadrature(theta)), rel=1e-10)
    expected = 2 / (100 * tail_by_quadrature(theta, 2.0))
    assert theory.weight_variance(100, theta, 2.0) == pytest.approx(expected, rel=1e-10)


def test_weight_variance_special_cases():
    assert theory.weight_variance(50, 0.0) == pytest.approx(2 / 50, rel=1e-15)
    q1 = 0.5 * math.erfc(1 / math.sqrt(2))
    assert theory.weight_variance(10, 1.0) == pytest.approx(1 / (10 * q1), rel=1e-14)
    grid = theory.weight_variance(np.array([[1], [10]]), np.array([0.0, 1.0, 2.0]))
    assert grid.shape == (2, 3)


@pytest.mark.parametrize("variance", [0.3, 1.0, 2.0])
@pytest.mark.parametrize("theta", [0.5, 1.0, 2.0, 8.0])
def test_map_slope_matches_quadrature_derivative(variance, theta):
    # d/dV of c ∫_θ^∞ p_V(u) du, differentiating the density under the integral
    def density_derivative(u):
        density = math.exp(-u * u / (2 * variance)) / math.sqrt(2 * math.pi * variance)
        return density * (u * u / variance - 1) / (2 * variance)

    value, _ = integrate.quad(density_derivative, theta, np.inf, epsabs=0, epsrel=1e-13)
    assert theory.map_slope(variance, theta, 3.0) == pytest.approx(3.0 * value, rel=1e-9, abs=1e-300)


def test_slope_at_fixed_point_in_the_far_tail_is_finite():
    slopes = theory.slope_at_fixed_point([0.0, 1.0, 10.0, 40.0, 1e3])
    assert np.all(np.isfinite(slopes)) and slopes[0] == 0
    # x φ(x)/(2Q(x)) → x²/2 as x → ∞
    assert slopes[-1] == pytest.approx(1e6 / 2, rel=1e-5)


def test_critical_ratio_solves_unit_slope():
    xc = theory.critical_ratio()
    assert theory.slope_at_fixed_point(xc) == pytest.approx(1.0, rel=1e-14)
    assert theory.critical_threshold(4.0) == pytest.approx(2 * xc)


def test_fixed_points_cover_every_regime():
    theta = 1.5
    boundary = float(theory.saddle_node_gain(theta))
    assert [p.variance for p in theory.fixed_points(theta, 0.9 * boundary)] == [0.0]
    assert len(theory.fixed_points(theta, boundary)) == 2  # silence and the saddle node
    below, lower, upper = theory.fixed_points(theta, 1.1 * boundary)
    assert below.variance == 0 and below.stable
    assert lower.slope > 1 > upper.slope and upper.stable and not lower.stable
    zero, half = theory.fixed_points(0.0, 3.0)
    assert half.variance == 1.5 and half.stable and not zero.stable


@pytest.mark.parametrize("theta", [0.3, 1.0, 2.0, 5.0, 10.0])
def test_fixed_points_solve_the_map_to_quadrature_precision(theta):
    gain = 3 * float(theory.saddle_node_gain(theta))
    for point in theory.fixed_points(theta, gain)[1:]:
        assert gain * tail_by_quadrature(theta, point.variance) == pytest.approx(point.variance, rel=1e-10)


@settings(max_examples=200, deadline=None)
@given(
    theta=st.floats(0.0, 10.0),
    target=st.floats(1e-3, 1e3),
    n=st.integers(1, 100_000),
)
def test_property_scale_makes_target_a_fixed_point(theta, target, n):
    assume(theta / math.sqrt(target) <= 30)  # the scale itself stays below float64's maximum
    gain = n * float(theory.weight_variance(n, theta, target))
    assert float(theory.variance_map(target, theta, gain)) == pytest.approx(target, rel=1e-11)


@settings(max_examples=200, deadline=None)
@given(
    theta=st.floats(0.0, 10.0),
    gain=st.floats(1e-3, 1e6),
    v1=st.floats(1e-6, 1e4),
    v2=st.floats(1e-6, 1e4),
)
def test_property_map_is_increasing(theta, gain, v1, v2):
    lo, hi = sorted((v1, v2))
    assert theory.variance_map(lo, theta, gain) <= theory.variance_map(hi, theta, gain)
    assert theory.map_slope(lo, theta, gain) >= 0


@pytest.mark.parametrize(
    "call, name",
    [
        (lambda: theory.weight_variance(0, 1.0), "n"),
        (lambda: theory.weight_variance(2.5, 1.0), "n"),
        (lambda: theory.weight_variance(10, float("nan")), "theta"),
        (lambda: theory.weight_variance(10, float("inf")), "theta"),
        (lambda: theory.weight_variance(10, -1.0), "theta"),
        (lambda: theory.weight_variance(10, 1.0, 0.0), "target_variance"),
        (lambda: theory.weight_variance(10, 1.0, -2.0), "target_variance"),
        (lambda: theory.fixed_points(1.0, 0.0), "gain"),
        (lambda: theory.fixed_points(float("nan"), 1.0), "theta"),
        (lambda: theory.variance_map(-1.0, 1.0, 2.0), "variance"),
        (lambda: theory.critical_threshold(0.0), "target_variance"),
        (lambda: theory.silence_probability(0, 1.0, 3), "n"),
        (lambda: theory.silence_probability(10, 1.0, -1), "depth"),
        (lambda: theory.iterate_map(1.0, 2.0, 1.0, 2.5), "depth"),
    ],
)
def test_bad_input_names_the_parameter(call, name):
    with pytest.raises(ValueError, match=rf"^{name} must"):
        call()


def test_unrepresentable_scale_is_an_error_not_inf():
    with pytest.raises(ValueError, match="weight_variance is not representable"):
        theory.weight_variance(10, 40.0)


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
