"""snnmath.symbolic: the derivations, as exact identities."""

import math

import numpy as np
import sympy as sp
from scipy import integrate

from snnmath import symbolic as sym


def tail_by_quadrature(theta: float, variance: float = 1.0) -> float:
    """P(u > θ), u ~ N(0, V), by adaptive quadrature of the density (no erfc involved)."""
    sd = math.sqrt(variance)
    z = theta / sd
    # integrate exp(-(t^2 - z^2)/2) over t > z, then rescale: stays in range far in the tail
    scaled, _ = integrate.quad(lambda t: math.exp(-(t * t - z * z) / 2), z, np.inf, epsabs=0, epsrel=1e-13)
    return scaled * math.exp(-z * z / 2) / math.sqrt(2 * math.pi)


def test_second_moment_is_tail_probability():
    expected = sp.erfc(sym.theta / sp.sqrt(2 * sym.V)) / 2
    assert sp.simplify(sym.second_moment_of_spike() - expected) == 0

def test_zero_mean_weights_remove_cross_terms():
    general, zero_mean = sym.membrane_variance_from_moments()
    assert general.has(sym.MOMENTS[0])
    assert sp.simplify(zero_mean - sym.n * sym.var_w * sym.second_moment_of_spike()) == 0

def test_scale_makes_target_a_fixed_point():
    at_scale = sym.variance_map().subs(sym.gain, sym.n * sym.weight_variance())
    assert sp.simplify(at_scale - sym.V) == 0

def test_kaiming_is_theta_zero():
    assert sym.kaiming_limit().subs(sym.V, 1) == 2 / sym.n

def test_saddle_node_and_unit_slope_coincide():
    assert sym.saddle_node_is_unit_slope()

def test_stable_form_is_identical():
    for expr in (sym.weight_variance(), sym.slope_at_fixed_point(), sym.second_moment_of_spike()):
        back = sym.stable(expr).rewrite(sp.erfc)
        point = {sym.n: 7, sym.theta: sp.Rational(13, 10), sym.V: sp.Rational(7, 10), sym.x: sp.Rational(9, 5)}
        assert abs(sp.N((back - expr).subs(point), 30)) < 1e-25

def test_latex_prints_heaviside_as_h():
    assert sym.latex(sym.spike()).startswith(r"H\left(")

def test_stationary_derivation_selects_phi_not_phi_over_p():
    derived = sym.leak_reset_weight_variance()
    candidates = sym.circulating_scales()
    assert sp.simplify(candidates["phi"] - derived) == 0
    assert sp.simplify(candidates["phi_over_p"] - derived) != 0
    # at beta = 0 the two coincide (the disputed term carries a factor beta)
    assert sp.simplify((candidates["phi_over_p"] - derived).subs(sym.beta, 0)) == 0


def test_kernel_map_relations_as_printed():
    """The kernel map's two relations link C_{l+1} to K_l, and the empirical covariance of the currents
    of n neurons is c/n times the count of coincident spikes."""
    (c_next, c_kernel), (kernel, average) = sym.kernel_map()
    assert c_kernel == sym.gain * kernel and isinstance(average, sym.KernelAverage)
    _, covariance = sym.empirical_covariance()
    s = sp.IndexedBase("s")
    spikes = {s[1, sym.step]: 1, s[1, sym.other_step]: 1, s[2, sym.step]: 1, s[2, sym.other_step]: 0}
    assert sp.simplify(covariance.subs(sym.n, 2).doit().subs(spikes) - sym.gain / 2) == 0
