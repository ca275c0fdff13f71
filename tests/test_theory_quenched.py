"""Tests of :func:`snnmath.theory.circulating_weight_variance` (:mod:`snnmath.theory.quenched`): the
compiled scales against their sympy formulas in exact arithmetic, the derivation's scale, the β = 0
limit, broadcasting, the far tail, and bad input."""

import numpy as np
import pytest
import sympy as sp

from snnmath import symbolic as sym
from snnmath import theory

POINTS = [(n, theta, beta) for n in (1, 100, 1000) for theta in (0.0, 0.5, 1.0, 2.0, 5.0)
          for beta in (0.0, 0.25, 0.5, 0.9, 1.0)]


@pytest.mark.parametrize("name", theory.CIRCULATING_SCALES)
def test_matches_the_sympy_formula(name):
    expr = sym.circulating_scales()[name]
    for n, theta, beta in POINTS:
        exact = float(expr.subs({sym.n: n, sym.theta: sp.Rational(str(theta)), sym.beta: sp.Rational(str(beta))})
                      .evalf(30))
        value = float(theory.circulating_weight_variance(name, n, theta, beta))
        assert value == pytest.approx(exact, rel=1e-12, abs=1e-300), (n, theta, beta)


def test_phi_is_the_stationary_derivation_and_the_two_agree_without_leak():
    derived = sym.leak_reset_weight_variance()
    for n, theta, beta in POINTS:
        exact = float(derived.subs({sym.n: n, sym.theta: sp.Rational(str(theta)), sym.beta: sp.Rational(str(beta))})
                      .evalf(30))
        assert float(theory.circulating_weight_variance("phi", n, theta, beta)) == pytest.approx(exact, rel=1e-12)
    thetas = np.linspace(0.1, 3, 7)
    np.testing.assert_allclose(theory.circulating_weight_variance("phi", 50, thetas, 0.0),
                               theory.circulating_weight_variance("phi_over_p", 50, thetas, 0.0), rtol=1e-13)


def test_broadcasts_and_is_inverse_in_n():
    values = theory.circulating_weight_variance("phi_over_p", [[10], [100]], [0.5, 1.0, 2.0], 0.5)
    assert values.shape == (2, 3)
    np.testing.assert_allclose(values[0], 10 * values[1], rtol=1e-14)


def test_far_tail_is_finite_or_an_error():
    assert np.all(np.isfinite(theory.circulating_weight_variance("phi", 10, [20.0, 30.0, 37.0], 0.5)))
    with pytest.raises(ValueError, match="circulating_weight_variance is not representable"):
        theory.circulating_weight_variance("phi", 10, 40.0, 0.5)


@pytest.mark.parametrize("args, match", [
    (("first step", 10, 1.0, 0.5), "name must be one of"),
    (("phi", 0, 1.0, 0.5), "n must be"),
    (("phi", 2.5, 1.0, 0.5), "n must be an integer"),
    (("phi", 10, -1.0, 0.5), "theta must be"),
    (("phi", 10, float("nan"), 0.5), "theta must be"),
    (("phi", 10, 1.0, 1.5), "beta must be"),
    (("phi", 10, 1.0, -0.1), "beta must be"),
])
def test_bad_input_is_refused(args, match):
    with pytest.raises(ValueError, match=match):
        theory.circulating_weight_variance(*args)
