"""The correlation map of two inputs at t = 0, its fixed point, the pair kernel over time, the margin-aware scale."""

import mpmath
import numpy as np
import pytest
import scipy.special
import scipy.stats
import sympy as sp

from snnmath import bands, theory
from snnmath import symbolic as sym


def reference_map(rho: float, ratio: float) -> float:
    """ρ' in 40-digit arithmetic from the unsimplified definition: the bivariate normal orthant
    probability P(u_a > x, u_b > x) by two-dimensional quadrature, over Q(x)."""
    mpmath.mp.dps = 40
    r, x = mpmath.mpf(rho), mpmath.mpf(ratio)
    tail = mpmath.erfc(x / mpmath.sqrt(2)) / 2

    def inner(a):  # P(u_b > x | u_a = a) φ(a)
        return mpmath.npdf(a) * mpmath.erfc((x - r * a) / mpmath.sqrt(2 * (1 - r * r))) / 2

    return float(mpmath.quad(inner, [x, x + 2, x + 10, mpmath.inf]) / tail)


def test_symbolic_derivation_steps_hold():
    assert sym.plackett_identity_holds()
    assert sym.coincidence_at_zero_correlation_holds()


def test_sheppard_arcsine_law_at_zero_threshold():
    assert sp.simplify(sym.correlation_map_at_zero_threshold() - (sp.Rational(1, 2) + sp.asin(sym.rho) / sp.pi)) == 0
    rho = np.linspace(-1, 1, 41)
    assert np.allclose(theory.correlation_map(rho, 0.0), 0.5 + np.arcsin(rho) / np.pi, rtol=1e-13, atol=1e-15)


@pytest.mark.parametrize("ratio", [0.3, 1.0, 2.0, 4.0])
@pytest.mark.parametrize("rho", [-0.8, 0.0, 0.5, 0.9, 0.99])
def test_map_against_orthant_probability(rho, ratio):
    assert theory.correlation_map(rho, ratio) == pytest.approx(reference_map(rho, ratio), rel=1e-11)


@pytest.mark.parametrize("ratio", [0.5, 1.0, 3.0])
def test_map_against_owens_t(ratio):
    """A second closed route: P(u_a > x, u_b > x) = Q(x) − 2 T(x, √((1−ρ)/(1+ρ))) (Owen's T)."""
    rho = np.array([-0.5, 0.2, 0.7, 0.95])
    owen = 1 - 2 * scipy.special.owens_t(ratio, np.sqrt((1 - rho) / (1 + rho))) / theory.spike_probability(ratio)
    assert np.allclose(theory.correlation_map(rho, ratio), owen, rtol=1e-10)


def test_gain_free_and_depends_on_theta_through_ratio_only():
    assert theory.correlation_map(0.6, 1.0, 4.0) == pytest.approx(theory.correlation_map(0.6, 0.5), rel=1e-13)


def test_far_tail_stays_finite_and_accurate():
    value = float(theory.correlation_map(0.9999, 30.0))
    mpmath.mp.dps = 40
    x, top = mpmath.mpf(30), mpmath.asin(mpmath.mpf(0.9999))
    tail = mpmath.erfc(x / mpmath.sqrt(2)) / 2
    integral = mpmath.quad(lambda t: mpmath.exp(-x * x / (1 + mpmath.sin(t))) / (2 * mpmath.pi),
                           [0, *mpmath.linspace(top - 1, top, 200)])
    assert value == pytest.approx(float((tail**2 + integral) / tail), rel=1e-12)
    assert theory.correlation_map(0.5, 1.0, 0.0) == 0.0 and theory.correlation_map(1.0, 1.0, 0.0) == 1.0


def test_slope_is_derivative_and_infinite_at_one():
    rho, ratio, h = 0.6, 1.3, 1e-6
    numeric = (theory.correlation_map(rho + h, ratio) - theory.correlation_map(rho - h, ratio)) / (2 * h)
    assert theory.correlation_slope(rho, ratio) == pytest.approx(numeric, rel=1e-7)
    assert np.all(np.isinf(theory.correlation_slope(1.0, [0.0, 1.0, 3.0])))
    near = 1 - np.logspace(-2, -10, 5)  # diverges like (1 − ρ)^(−1/2)
    assert np.allclose(np.diff(np.log(theory.correlation_slope(near, 1.0))), np.log(100) / 2, rtol=1e-2)


@pytest.mark.parametrize("theta", [0.0, 0.5, 1.0, 2.0])
def test_fixed_point_is_unique_and_attracting(theta):
    point = theory.correlation_fixed_point(theta)
    assert 0 < point.rho < 1 and 0 < point.slope < 1
    assert theory.correlation_map(point.rho, theta) == pytest.approx(point.rho, abs=1e-13)
    grid = np.linspace(-1, 1 - 1e-9, 2001)
    crossings = np.flatnonzero(np.diff(np.sign(theory.correlation_map(grid, theta) - grid)))
    assert len(crossings) == 1
    assert point.depth_scale == pytest.approx(-1 / np.log(point.slope))
    if theta < theory.critical_threshold():  # V = 1 attracts, so ρ_l runs to ρ* at x = θ
        _, path = theory.iterate_correlation(theta, float(theory.weight_variance(1, theta)), 60, 0.99)
        assert path[-1] == pytest.approx(point.rho, abs=1e-9)


def test_pair_kernel_reduces_to_correlation_map_at_one_step():
    """At T = 1 the pair kernel map's correlation over depth is the first-step maps' (Student-t band of
    16 independent replicas at the book's α, Bonferroni over the layers)."""
    gain = float(theory.weight_variance(1, 1.0))
    result = theory.pair_kernel_depth_map(gain, 0.9, 1.0, 1, 5, 0.9, samples=1 << 14, replicas=16, seed=3)
    _, exact = theory.iterate_correlation(1.0, gain, 5, 0.9)
    mean, half = bands.t_band(result.correlations, comparisons=5)
    assert np.all(np.abs(mean - exact[1:]) <= half)


def test_pair_input_covariance_and_errors():
    c = theory.pair_input_covariance("direct", 2, 0.5, 2.0)
    assert np.allclose(c, 2 * np.array([[1, 1, .5, .5], [1, 1, .5, .5], [.5, .5, 1, 1], [.5, .5, 1, 1]]))
    with pytest.raises(ValueError, match="rho"):
        theory.pair_input_covariance("fresh", 2, 1.5)
    with pytest.raises(ValueError, match="input"):
        theory.pair_input_covariance("rate", 2, 0.5)
    with pytest.raises(ValueError, match="rho"):
        theory.correlation_map(np.nan, 1.0)
    with pytest.raises(ValueError, match="theta"):
        theory.correlation_map(0.5, -1.0)


def test_margin_variance():
    ratio = float(theory.margin_ratio(0.5))
    assert theory.slope_at_fixed_point(ratio) == pytest.approx(0.5, rel=1e-12)
    assert theory.margin_variance(0.5, 0.5) == 1.0  # slope at V = 1 already below 0.5
    v = float(theory.margin_variance(1.0, 0.5))
    assert v == pytest.approx((1.0 / ratio) ** 2) and v > 1
    assert theory.target_slope(1.0, v) == pytest.approx(0.5, rel=1e-10)
    assert theory.target_slope(0.5) <= 0.5
    with pytest.raises(ValueError, match="slope"):
        theory.margin_variance(1.0, 0.0)


def test_depth_scale_over_time_estimates_the_exact_one_at_one_step():
    """At T = 1 the fitted depth scale of the pair kernel map is ξ_c of the first-step map (Student-t band
    of 8 replicas at the book's α)."""
    gain = float(theory.weight_variance(1, 1.0))
    estimate = theory.depth_scale_over_time(gain, 0.9, 1.0, 1, samples=1 << 16, replicas=8, seed=1)
    half = scipy.stats.t.isf(bands.ALPHA / 2, 7) * estimate.spread / np.sqrt(8)
    assert abs(estimate.depth_scale - theory.correlation_fixed_point(1.0).depth_scale) <= half
    with pytest.raises(ValueError, match="silent"):
        theory.depth_scale_over_time(2.0, 0.9, 1.0, 1, burn_in=30, samples=1 << 12)


def test_required_width_is_the_smallest_width_that_keeps_the_samples():
    width = theory.required_width(1.0, 10, keep=0.99)
    survive = [1 - theory.active_count_distribution(n, 1.0, 9)[-1, 0] for n in (width - 1, width)]
    assert survive[0] < 0.99 <= survive[1]
    assert theory.required_width(1.0, 100, keep=0.99, largest=50) is None
