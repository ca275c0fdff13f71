r"""The first time step at infinite width: the quantized-variance map and the proposed scale.

With zero-mean i.i.d. weights of gain :math:`c = n\,\mathrm{Var}[w]` and binary spikes, the
membrane variance of layer l is :math:`V_l = c\,Q(\theta/\sqrt{V_{l-1}})`
(:func:`snnmath.symbolic.variance_map`). This module evaluates that map, its slope, its fixed
points and their stability, the critical threshold :math:`\theta_c` and the saddle-node gain,
and the closed-form scale :math:`\mathrm{Var}[w] = V/(n\,Q(\theta/\sqrt V))`. Every function
evaluates a formula of :mod:`snnmath.symbolic` (tail-stable form) and broadcasts over arrays.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import scipy.integrate
import scipy.special
import scipy.stats
import sympy as sp
from numpy.typing import ArrayLike
from scipy.optimize import brentq

from .. import symbolic as sym
from .._validate import integer, real_array, real_scalar
from ._common import Array, compiled, finite_result, thresholds


def critical_ratio() -> float:
    r"""The root :math:`x_c \approx 1.19` of :math:`x\varphi(x) = 2Q(x)` (slope one at a fixed point)."""
    return float(sym.critical_ratio())


# --- first-time-step mean field ------------------------------------------------------
def spike_probability(theta: ArrayLike, variance: ArrayLike = 1.0) -> Array:
    r"""Firing probability :math:`E[s^2] = P(u>\theta) = \tfrac12\mathrm{erfc}(\theta/\sqrt{2V})`
    for :math:`u\sim\mathcal N(0,V)`. ``variance = 0`` means u ≡ 0: no spike (strict threshold)."""
    th = thresholds(theta)
    var = real_array("variance", variance, low=0.0)
    safe = np.where(var > 0, var, 1.0)
    with np.errstate(over="ignore"):  # V far below θ²: θ²/V overflows to inf and Q to its exact limit 0
        return np.where(var > 0, compiled(sym.second_moment_of_spike, sym.theta, sym.V)(th, safe), 0.0)


def variance_map(variance: ArrayLike, theta: ArrayLike, gain: ArrayLike) -> Array:
    r"""One layer of the depth map :math:`V_l = c\,Q(\theta/\sqrt{V_{l-1}})`, c = n·Var[w]."""
    c = real_array("gain", gain, low=0.0, low_open=True)
    return c * spike_probability(theta, variance)


def map_slope(variance: ArrayLike, theta: ArrayLike, gain: ArrayLike) -> Array:
    r"""Slope :math:`\partial V_l/\partial V_{l-1} = c\,\theta\,\varphi(\theta/\sqrt V)/(2V^{3/2})`.

    At V = 0 the slope is 0 for θ > 0 and infinite for θ = 0 (the map jumps from 0 to c/2).
    """
    th = thresholds(theta)
    var = real_array("variance", variance, low=0.0)
    c = real_array("gain", gain, low=0.0, low_open=True)
    safe = np.where(var > 0, var, 1.0)
    slope = compiled(sym.map_slope, sym.V, sym.theta, sym.gain)(safe, th, c)
    at_zero = np.where(th > 0, 0.0, np.inf)
    return np.where(var > 0, slope, at_zero)


def weight_variance(n: ArrayLike, theta: ArrayLike, target_variance: ArrayLike = 1.0) -> Array:
    r"""Closed-form scale :math:`\mathrm{Var}[w] = V/(n\,Q(\theta/\sqrt V))`, V the target variance.

    Equals 1/(n Q(θ)) at V = 1 and Kaiming's 2/n at θ = 0.
    """
    fan_in = real_array("n", n, low=1.0)
    if np.any(fan_in != np.round(fan_in)):
        raise ValueError(f"n must be an integer >= 1, got {n!r}")
    th = thresholds(theta)
    var = real_array("target_variance", target_variance, low=0.0, low_open=True)
    with np.errstate(over="ignore"):
        return finite_result(compiled(sym.weight_variance, sym.n, sym.theta, sym.V)(fan_in, th, var), "weight_variance")


def gain_or_proposed(theta: float, gain: float | None) -> float:
    r"""``gain`` checked to be > 0, or the proposed gain :math:`c = n\,\mathrm{Var}[w] = 1/Q(\theta)` when None."""
    if gain is None:
        return float(weight_variance(1, theta))
    return real_scalar("gain", gain, low=0.0, low_open=True)


def slope_at_fixed_point(ratio: ArrayLike) -> Array:
    r"""Map slope at a non-zero fixed point, :math:`x\varphi(x)/(2Q(x))` with x = θ/√V*."""
    xs = real_array("ratio", ratio, low=0.0)
    return np.asarray(compiled(sym.slope_at_fixed_point, sym.x)(xs), dtype=np.float64)


def critical_threshold(target_variance: ArrayLike = 1.0) -> Array:
    r"""Threshold :math:`\theta_c = x_c\sqrt V` above which the proposed scale's target
    V is a *repelling* fixed point (slope > 1); below it, the target attracts."""
    var = real_array("target_variance", target_variance, low=0.0, low_open=True)
    return critical_ratio() * np.sqrt(var)


def saddle_node_gain(theta: ArrayLike) -> Array:
    r"""Saddle-node boundary :math:`c_{sn}(\theta) = \theta^2/(x_c^2 Q(x_c))`: for gains below it
    only the silent fixed point exists (θ > 0); above it there are two non-zero ones."""
    th = thresholds(theta)
    return np.asarray(compiled(sym.fixed_point_gain_of_ratio, sym.x, sym.theta)(critical_ratio(), th), dtype=np.float64)


class FixedPoint(NamedTuple):
    """A fixed point of the variance map with the map's slope there."""

    variance: float
    slope: float
    stable: bool


def fixed_points(theta: float, gain: float) -> tuple[FixedPoint, ...]:
    r"""Every fixed point V ≥ 0 of :math:`V = c\,Q(\theta/\sqrt V)`, sorted by V (scalar inputs).

    V = 0 (silence) is always one. For θ > 0 the non-zero ones solve
    :math:`c = \theta^2/(x^2Q(x))` for x = θ/√V: none below the saddle-node gain, one at it,
    two above it (x on either side of :math:`x_c`). For θ = 0 the only non-zero one is c/2.
    A fixed point is stable when its slope is below one.
    """
    th = real_scalar("theta", theta, low=0.0)
    c = real_scalar("gain", gain, low=0.0, low_open=True)
    zero = float(map_slope(0.0, th, c))
    points = [FixedPoint(0.0, zero, zero < 1.0)]
    for ratio in _fixed_point_ratios(th, c):
        variance = c / 2 if th == 0 else (th / ratio) ** 2
        slope = 1.0 if ratio == critical_ratio() else float(map_slope(variance, th, c))
        points.append(FixedPoint(float(variance), slope, slope < 1.0))
    return tuple(sorted(points, key=lambda p: p.variance))


def _fixed_point_ratios(theta: float, gain: float) -> list[float]:
    """Roots x of log c(x) = log(gain) on each side of the minimum x_c (θ > 0)."""
    if theta == 0:
        return [0.0]
    xc = critical_ratio()
    log_gain = np.log(gain)

    def excess(ratio: float) -> float:  # log c(x) - log(gain), via the stable log-tail
        return float(2 * np.log(theta / ratio) - scipy.special.log_ndtr(-ratio) - log_gain)

    at_minimum = excess(xc)
    if at_minimum > 0:
        return []
    if at_minimum == 0:
        return [xc]
    low = xc
    while excess(low) < 0:
        low /= 2
    high = xc
    while excess(high) < 0:
        high *= 2
    tol = dict(xtol=1e-300, rtol=4 * np.finfo(float).eps, maxiter=500)
    roots = [brentq(excess, low, xc, **tol), brentq(excess, xc, high, **tol)]
    if roots[1] - roots[0] < 1e-6 * xc:  # at the saddle node (to float precision): one point
        return [xc]
    return roots


def iterate_map(theta: float, gain: float, initial_variance: float, depth: int) -> Array:
    """Mean-field trajectory :math:`V_0, \\dots, V_{depth}` of the variance map."""
    th = real_scalar("theta", theta, low=0.0)
    c = real_scalar("gain", gain, low=0.0, low_open=True)
    v = real_scalar("initial_variance", initial_variance, low=0.0)
    layers = integer("depth", depth, low=0)
    out = np.empty(layers + 1)
    out[0] = v
    for layer in range(1, layers + 1):
        out[layer] = variance_map(out[layer - 1], th, c)
    return out


def _threshold_of_fixed_point_gain() -> sp.Expr:
    r"""The θ ≥ 0 that solves :math:`c = \theta^2/(x^2 Q(x))` (:func:`snnmath.symbolic.fixed_point_gain_of_ratio`)."""
    roots = sp.solve(sp.Eq(sym.gain, sym.fixed_point_gain_of_ratio()), sym.theta)
    return next(root for root in roots if root.subs({sym.x: 1, sym.gain: 1}).is_positive)


def largest_threshold(gain: ArrayLike) -> Array:
    r"""Largest threshold at which a fixed gain c = n·Var[w] still has a non-zero fixed point:
    the θ where c meets the saddle-node gain, :math:`c_{sn}(\theta) = c`, i.e.
    :math:`\theta = x_c\sqrt{c\,Q(x_c)}`. Above it only silence remains (the gain of an ANN
    initialiser such as Kaiming's 2 does not depend on θ)."""
    c = real_array("gain", gain, low=0.0, low_open=True)
    return np.asarray(compiled(_threshold_of_fixed_point_gain, sym.x, sym.gain)(critical_ratio(), c), dtype=np.float64)
