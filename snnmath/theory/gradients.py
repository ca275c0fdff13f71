r"""Gradients at the first time step: the backward gain of the surrogate derivative.

Under gradient independence the mean square gradient changes per layer by
:math:`c\,E[\sigma'(u-\theta)^2]` (:func:`snnmath.symbolic.surrogate_square_moment`) for the
surrogates of :mod:`snnmath.surrogate`; evaluated here by adaptive quadrature, accurate far
into the tail.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from functools import cache
from typing import Any

import mpmath  # type: ignore[import-untyped]  # no stubs; only its workdps and mpf are used
import numpy as np
import scipy.integrate
import scipy.special
import scipy.stats
import sympy as sp
from numpy.typing import ArrayLike
from scipy.optimize import brentq

from .. import symbolic as sym
from .._validate import integer, real_array, real_scalar
from ._common import Array, compile_expression, finite_result, thresholds
from .first_step import gain_or_proposed, iterate_map, weight_variance


def _surrogate(name: str) -> str:
    if name not in sym.SURROGATE_NAMES:
        raise ValueError(f"surrogate must be one of {sym.SURROGATE_NAMES}, got {name!r}")
    return name


@cache
def _surrogate_square_integrand(name: str) -> Callable[..., float]:
    r"""Scalar code of the integrand of :func:`snnmath.symbolic.surrogate_square_moment` in the
    standardised variable :math:`\xi = u/\sqrt V` (so that any V > 0, however small, has the same
    Gaussian scale), over (ξ, θ, α, V): :math:`\sigma'(\sqrt V\xi - \theta)^2\varphi(\xi)`."""
    xi = sp.Symbol("xi", real=True)
    integrand = sym.surrogate_square_moment(name).function
    standardised = sp.simplify(integrand.subs(sym.u, sp.sqrt(sym.V) * xi) * sp.sqrt(sym.V))
    return sp.lambdify((xi, sym.theta, sym.slope, sym.V), standardised, modules="math")


@cache
def _surrogate_square_at_rest(name: str) -> Callable[..., float]:
    r""":math:`\sigma'(0-\theta)^2` over (θ, α): the moment when u ≡ 0 (V = 0)."""
    return sp.lambdify((sym.theta, sym.slope), sym.surrogate_derivative(name).subs(sym.u, 0) ** 2, modules="math")


def _square_moment(name: str, theta: float, slope: float, variance: float) -> float:
    r"""Adaptive quadrature of E[σ'(u − θ)²] in ξ = u/√V, split where the integrand changes scale.

    Breakpoints at the Gaussian's centre and edges ξ = 0, ±8, at the kink u = θ and at
    u = θ ± 1/α, θ ± 30/α (the surrogate's own width), so that every piece is smooth on one
    scale; a relative tolerance, with no absolute one, keeps tiny moments accurate. Beyond
    |ξ| = 40 the density is below 1e-347 and σ'² at most its peak, which no algebraic
    surrogate's value over |ξ| < 1 undercuts by that much: the integral stops there.
    """
    if variance == 0:
        return float(_surrogate_square_at_rest(name)(theta, slope))
    sd = math.sqrt(variance)
    kinks = {(theta + sign * k / slope) / sd for sign in (-1, 1) for k in (0.0, 1.0, 30.0)}
    points = sorted({-40.0, -8.0, 0.0, 8.0, 40.0} | {kink for kink in kinks if abs(kink) < 40})
    tolerance = dict(epsabs=0.0, epsrel=1e-12, limit=400)
    integrand = _surrogate_square_integrand(name)
    pieces = (scipy.integrate.quad(integrand, lo, hi, args=(theta, slope, variance), **tolerance)[0]
              for lo, hi in zip(points[:-1], points[1:], strict=True))
    return float(sum(pieces))


def surrogate_square_moment(
    theta: ArrayLike, slope: ArrayLike, surrogate: str = "arctan", variance: ArrayLike = 1.0
) -> Array:
    r""":math:`E[\sigma'(u-\theta)^2]` for :math:`u \sim \mathcal N(0, V)` and the surrogate derivative
    of :func:`snnmath.symbolic.surrogate_derivative`, by adaptive quadrature of
    :func:`snnmath.symbolic.surrogate_square_moment` (relative accuracy about 1e-11, also far in the
    tail). ``variance = 0`` means u ≡ 0, giving :math:`\sigma'(-\theta)^2`. Broadcasts."""
    name = _surrogate(surrogate)
    th = thresholds(theta)
    alpha = real_array("slope", slope, low=0.0, low_open=True)
    var = real_array("variance", variance, low=0.0)
    th, alpha, var = np.broadcast_arrays(th, alpha, var)
    cases = zip(th.ravel(), alpha.ravel(), var.ravel(), strict=True)
    moments = [_square_moment(name, float(t), float(a), float(v)) for t, a, v in cases]
    return np.asarray(moments, dtype=np.float64).reshape(th.shape)


def backward_gain(
    theta: ArrayLike, slope: ArrayLike, surrogate: str = "arctan", gain: ArrayLike | None = None,
    variance: ArrayLike = 1.0,
) -> Array:
    r"""Per-layer backward gain at t = 0, :math:`\chi = c\,E[\sigma'(u-\theta)^2]` with
    :math:`u \sim \mathcal N(0, V)`: the factor by which the mean square gradient
    :math:`E[\delta_l^2]` grows from layer l to layer l − 1 (:func:`snnmath.symbolic.backward_gain`).

    ``gain`` is :math:`c = n\,\mathrm{Var}[w]`; by default the proposed scale for target variance
    ``variance``, :math:`c = V/Q(\theta/\sqrt V)`, so that
    :math:`\chi = V\,E[\sigma'^2]/Q(\theta/\sqrt V)` (:func:`snnmath.symbolic.backward_gain_at_scale`).
    """
    var = real_array("variance", variance, low=0.0)
    if gain is None:
        c = weight_variance(1, theta, real_array("variance", variance, low=0.0, low_open=True))
    else:
        c = real_array("gain", gain, low=0.0, low_open=True)
    with np.errstate(over="ignore"):
        return finite_result(c * surrogate_square_moment(theta, slope, surrogate, var), "backward_gain")


def backward_profile(
    theta: float, slope: float, surrogate: str, depth: int, gain: float | None = None, input_variance: float = 1.0
) -> Array:
    r"""Mean-field mean square gradient :math:`E[\delta_l^2]` of layers 0..depth−1 at t = 0 (scalar inputs).

    The forward pass follows :func:`iterate_map` from ``input_variance``; the top layer receives a
    unit-variance gradient at its spikes, so :math:`E[\delta_{L-1}^2] = E[\sigma'(u_{L-1}-\theta)^2]`,
    and each layer below multiplies by its :func:`backward_gain` at its own forward variance,
    :math:`E[\delta_l^2] = c\,E[\sigma'(u_l-\theta)^2]\,E[\delta_{l+1}^2]`. ``gain`` defaults to the
    proposed scale at unit target variance, :math:`c = 1/Q(\theta)`.
    """
    layers = integer("depth", depth, low=1)
    th = real_scalar("theta", theta, low=0.0)
    c = gain_or_proposed(th, gain)
    variances = iterate_map(th, c, real_scalar("input_variance", input_variance, low=0.0), layers - 1)
    moments = surrogate_square_moment(th, slope, surrogate, variances)
    factors = np.append(c * moments[:-1], moments[-1])  # layer l's factor; the top one has no weight
    return np.cumprod(factors[::-1])[::-1]


def slopes_for_gain(
    theta: float, surrogate: str = "arctan", target: float = 1.0, gain: float | None = None,
    variance: float = 1.0, slopes: tuple[float, float] = (1e-3, 1e4),
) -> tuple[float, ...]:
    r"""Every slope α in ``slopes`` = (low, high) at which the backward gain equals ``target``
    (default one: gradients neither grow nor shrink over depth); scalar inputs.

    Sign changes of :math:`\log\chi(\alpha) - \log(\mathrm{target})` on a grid of 20 points per
    decade, each refined by Brent's method; two roots closer than the grid spacing (a tangency)
    are not resolved. ``gain`` and ``variance`` as in :func:`backward_gain`.
    """
    th = real_scalar("theta", theta, low=0.0)
    log_target = np.log(real_scalar("target", target, low=0.0, low_open=True))
    low, high = (real_scalar("slopes", bound, low=0.0, low_open=True) for bound in slopes)
    if high <= low:
        raise ValueError(f"slopes must be (low, high) with 0 < low < high, got {slopes!r}")
    grid = np.geomspace(low, high, int(np.ceil(20 * np.log10(high / low))) + 1)

    def excess(alpha: ArrayLike) -> Array:
        return np.log(backward_gain(th, alpha, surrogate, gain, variance)) - log_target

    signs = np.sign(excess(grid))
    roots = [float(alpha) for alpha, sign in zip(grid, signs, strict=True) if sign == 0]
    roots += [brentq(lambda a: float(excess(a)), grid[i], grid[i + 1], xtol=1e-14, rtol=1e-12)
              for i in np.nonzero(signs[:-1] * signs[1:] < 0)[0]]
    return tuple(sorted(roots))


@cache
def _square_limits(name: str) -> tuple[Callable[..., Any], Callable[..., Any]]:
    flat, sharp = sym.surrogate_square_limits(name)
    return (compile_expression(flat, sym.theta, sym.slope, sym.V),
            compile_expression(sharp, sym.theta, sym.slope, sym.V))


def surrogate_square_limits(
    theta: ArrayLike, slope: ArrayLike, surrogate: str = "arctan", variance: ArrayLike = 1.0
) -> tuple[Array, Array]:
    r"""``(flat, sharp)``: the leading behaviour of :math:`E[\sigma'(u-\theta)^2]`, :math:`u \sim
    \mathcal N(0, V)`, for a flat (α → 0) and a sharp (α → ∞) surrogate
    (:func:`snnmath.symbolic.surrogate_square_limits`),

    .. math::
        E[\sigma'^2] \sim \sigma'(0)^2 \quad (\alpha \to 0), \qquad
        E[\sigma'^2] \sim \varphi_V(\theta) \int \sigma'(z)^2\,dz \quad (\alpha \to \infty),

    evaluated at the given slopes: :math:`\alpha^2/4` and :math:`\alpha\,\varphi_V(\theta)/4` for the
    arctan, 1 and :math:`2\varphi_V(\theta)/(3\alpha)` for the fast sigmoid.
    :func:`surrogate_square_moment` over either tends to one in its limit. Broadcasts.
    """
    flat, sharp = _square_limits(_surrogate(surrogate))
    th = thresholds(theta)
    alpha = real_array("slope", slope, low=0.0, low_open=True)
    var = real_array("variance", variance, low=0.0, low_open=True)
    shape = np.broadcast(th, alpha, var).shape

    def evaluate(form: Callable[..., Any]) -> Array:
        return np.broadcast_to(np.asarray(form(th, alpha, var), dtype=np.float64), shape).copy()

    return evaluate(flat), evaluate(sharp)


@cache
def _square_moment_at_zero_threshold(name: str) -> Callable[..., Any]:
    return sp.lambdify((sym.slope, sym.V), sym.surrogate_square_moment_at_zero_threshold(name), modules="mpmath")


def _at_converged_precision(form: Callable[..., Any], slope: float, variance: float) -> float:
    r"""``form(slope, variance)`` by mpmath at 30, 60, 120, … digits until two successive values are
    positive and agree to 1e-17 relative: the arctan's form subtracts nearly equal terms of size
    :math:`\exp(2/(\pi^2V\alpha^2))`, so a flat surrogate needs many digits."""
    previous, digits = None, 30
    while digits <= 4000:
        with mpmath.workdps(digits):
            value = form(mpmath.mpf(slope), mpmath.mpf(variance))
            if value > 0 and previous is not None and abs(value - previous) <= 1e-17 * value:
                return float(value)
        previous, digits = value, 2 * digits
    raise ValueError(f"slope and variance give a closed form that 4000 digits do not resolve "
                     f"(slope={slope!r}, variance={variance!r}); use surrogate_square_moment")


def surrogate_square_moment_at_zero_threshold(
    slope: ArrayLike, surrogate: str = "arctan", variance: ArrayLike = 1.0
) -> Array:
    r""":math:`E[\sigma'(u)^2]` for :math:`u \sim \mathcal N(0, V)` at θ = 0 from sympy's closed form
    (:func:`snnmath.symbolic.surrogate_square_moment_at_zero_threshold`: erf and exp for the arctan,
    a Meijer G function for the fast sigmoid), an independent route to :func:`surrogate_square_moment`
    at θ = 0. Evaluated by mpmath (numpy has no Meijer G) at a working precision raised until the
    value is stable, then rounded to float64; a ``ValueError`` where 4000 digits do not suffice (the
    arctan with :math:`\alpha\sqrt V` below about 0.015). Broadcasts."""
    form = _square_moment_at_zero_threshold(_surrogate(surrogate))
    alpha = real_array("slope", slope, low=0.0, low_open=True)
    var = real_array("variance", variance, low=0.0, low_open=True)
    alpha, var = np.broadcast_arrays(alpha, var)
    cases = zip(alpha.ravel(), var.ravel(), strict=True)
    values = [_at_converged_precision(form, float(a), float(v)) for a, v in cases]
    return np.asarray(values, dtype=np.float64).reshape(alpha.shape)
