r"""Numeric theory, generated from :mod:`snnmath.symbolic` with ``lambdify``.

No formula is typed here: each function evaluates an expression derived in
``symbolic`` (in its tail-stable form, see :func:`snnmath.symbolic.stable`) and adds
only validation and solvers (fixed points, the finite-width Markov chain).
All functions accept numpy arrays and broadcast, except where noted.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from functools import cache
from typing import Any, NamedTuple

import numpy as np
import scipy.integrate
import scipy.special
import scipy.stats
import sympy as sp
import torch
from numpy.typing import ArrayLike, NDArray
from scipy.optimize import brentq

from . import symbolic as sym
from ._checks import integer, real_array, real_scalar
from .stationary import stationary_rate  # re-exported: theory is the numeric entry point

Array = NDArray[np.float64]

_MODULES: list[Any] = [{"erfcx": scipy.special.erfcx}, "scipy", "numpy"]


def _compile(expr: sp.Expr, *args: sp.Symbol) -> Callable[..., Any]:
    """``lambdify`` the tail-stable form of ``expr`` over ``args``."""
    return sp.lambdify(args, sym.stable(expr), modules=_MODULES)


@cache
def _spike_probability() -> Callable[..., Any]:
    return _compile(sym.second_moment_of_spike(), sym.theta, sym.V)


@cache
def _weight_variance() -> Callable[..., Any]:
    return _compile(sym.weight_variance(), sym.n, sym.theta, sym.V)


@cache
def _map_slope() -> Callable[..., Any]:
    return _compile(sym.map_slope(), sym.V, sym.theta, sym.gain)


@cache
def _slope_at_fixed_point() -> Callable[..., Any]:
    return _compile(sym.slope_at_fixed_point(), sym.x)


@cache
def _fixed_point_gain_of_ratio() -> Callable[..., Any]:
    return _compile(sym.fixed_point_gain_of_ratio(), sym.x, sym.theta)


@cache
def critical_ratio() -> float:
    r"""The root :math:`x_c \approx 1.19` of :math:`x\varphi(x) = 2Q(x)` (slope one at a fixed point)."""
    return float(sym.critical_ratio())


def _thresholds(theta: ArrayLike) -> Array:
    return real_array("theta", theta, low=0.0)


def _float_result(value: Any, what: str) -> Array:
    out = np.asarray(value, dtype=np.float64)
    if not np.all(np.isfinite(out)):
        raise ValueError(
            f"{what} is not representable in float64 for these parameters "
            "(theta/sqrt(variance) beyond about 37 standard deviations)"
        )
    return out


# --- first-time-step mean field ------------------------------------------------------
def spike_probability(theta: ArrayLike, variance: ArrayLike = 1.0) -> Array:
    r"""Firing probability :math:`E[s^2] = P(u>\theta) = \tfrac12\mathrm{erfc}(\theta/\sqrt{2V})`
    for :math:`u\sim\mathcal N(0,V)`. ``variance = 0`` means u ≡ 0: no spike (strict threshold)."""
    th = _thresholds(theta)
    var = real_array("variance", variance, low=0.0)
    safe = np.where(var > 0, var, 1.0)
    with np.errstate(over="ignore"):  # V far below θ²: θ²/V overflows to inf and Q to its exact limit 0
        return np.where(var > 0, _spike_probability()(th, safe), 0.0)


def variance_map(variance: ArrayLike, theta: ArrayLike, gain: ArrayLike) -> Array:
    r"""One layer of the depth map :math:`V_l = c\,Q(\theta/\sqrt{V_{l-1}})`, c = n·Var[w]."""
    c = real_array("gain", gain, low=0.0, low_open=True)
    return c * spike_probability(theta, variance)


def map_slope(variance: ArrayLike, theta: ArrayLike, gain: ArrayLike) -> Array:
    r"""Slope :math:`\partial V_l/\partial V_{l-1} = c\,\theta\,\varphi(\theta/\sqrt V)/(2V^{3/2})`.

    At V = 0 the slope is 0 for θ > 0 and infinite for θ = 0 (the map jumps from 0 to c/2).
    """
    th = _thresholds(theta)
    var = real_array("variance", variance, low=0.0)
    c = real_array("gain", gain, low=0.0, low_open=True)
    safe = np.where(var > 0, var, 1.0)
    slope = _map_slope()(safe, th, c)
    at_zero = np.where(th > 0, 0.0, np.inf)
    return np.where(var > 0, slope, at_zero)


def weight_variance(n: ArrayLike, theta: ArrayLike, target_variance: ArrayLike = 1.0) -> Array:
    r"""Closed-form scale :math:`\mathrm{Var}[w] = V/(n\,Q(\theta/\sqrt V))`, V the target variance.

    Equals 1/(n Q(θ)) at V = 1 and Kaiming's 2/n at θ = 0.
    """
    fan_in = real_array("n", n, low=1.0)
    if np.any(fan_in != np.round(fan_in)):
        raise ValueError(f"n must be an integer >= 1, got {n!r}")
    th = _thresholds(theta)
    var = real_array("target_variance", target_variance, low=0.0, low_open=True)
    with np.errstate(over="ignore"):
        return _float_result(_weight_variance()(fan_in, th, var), "weight_variance")


def slope_at_fixed_point(ratio: ArrayLike) -> Array:
    r"""Map slope at a non-zero fixed point, :math:`x\varphi(x)/(2Q(x))` with x = θ/√V*."""
    xs = real_array("ratio", ratio, low=0.0)
    return np.asarray(_slope_at_fixed_point()(xs), dtype=np.float64)


def critical_threshold(target_variance: ArrayLike = 1.0) -> Array:
    r"""Threshold :math:`\theta_c = x_c\sqrt V` above which the proposed scale's target
    V is a *repelling* fixed point (slope > 1); below it, the target attracts."""
    var = real_array("target_variance", target_variance, low=0.0, low_open=True)
    return critical_ratio() * np.sqrt(var)


def saddle_node_gain(theta: ArrayLike) -> Array:
    r"""Saddle-node boundary :math:`c_{sn}(\theta) = \theta^2/(x_c^2 Q(x_c))`: for gains below it
    only the silent fixed point exists (θ > 0); above it there are two non-zero ones."""
    th = _thresholds(theta)
    return np.asarray(_fixed_point_gain_of_ratio()(critical_ratio(), th), dtype=np.float64)


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


# --- exact finite width at t = 0 -----------------------------------------------------
def _default_gain(theta: float, gain: float | None) -> float:
    if gain is None:
        return float(weight_variance(1, theta))
    return real_scalar("gain", gain, low=0.0, low_open=True)


def transition_matrix(n: int, theta: float, gain: float | None = None) -> Array:
    r"""P[k, k'] = P(K_l = k' | K_{l-1} = k) = Binomial(n, Q(θ/√(k c/n))) at k'.

    Gaussian weights with Var[w] = c/n; K = 0 is absorbing. ``gain`` defaults to the
    proposed scale at unit target variance, c = 1/Q(θ).
    """
    width = integer("n", n, low=1)
    th = real_scalar("theta", theta, low=0.0)
    c = _default_gain(th, gain)
    active = np.arange(width + 1)
    return _binomial_pmf(width, spike_probability(th, active * (c / width)))


def _binomial_pmf(n: int, p: Array) -> Array:
    """Rows ``Binomial(n, p[i]).pmf(0..n)`` through log-gamma (much faster than scipy.stats.binom),
    each renormalised to sum to one (the log-gamma route leaves ~1e-12 rounding)."""
    k = np.arange(n + 1)
    log_choose = scipy.special.gammaln(n + 1) - scipy.special.gammaln(k + 1) - scipy.special.gammaln(n - k + 1)
    p = p[:, None]
    with np.errstate(divide="ignore", invalid="ignore"):
        log_pmf = log_choose + scipy.special.xlogy(k, p) + scipy.special.xlog1py(n - k, -p)
    pmf = np.exp(log_pmf)
    return pmf / pmf.sum(axis=1, keepdims=True)


def active_count_distribution(
    n: int, theta: float, depth: int, gain: float | None = None, input_variance: float = 1.0
) -> Array:
    r"""Distribution of the number of active neurons in layers 0..depth, shape (depth+1, n+1).

    Layer 0 is driven by i.i.d. :math:`\mathcal N(0, V_0)` currents, so
    :math:`K_0 \sim \mathrm{Binomial}(n, Q(\theta/\sqrt{V_0}))`; deeper layers follow
    :func:`transition_matrix`.
    """
    width = integer("n", n, low=1)
    th = real_scalar("theta", theta, low=0.0)
    layers = integer("depth", depth, low=0)
    v0 = real_scalar("input_variance", input_variance, low=0.0, low_open=True)
    step = transition_matrix(width, th, gain)
    out = np.empty((layers + 1, width + 1))
    out[0] = _binomial_pmf(width, np.atleast_1d(spike_probability(th, v0)))[0]
    for layer in range(1, layers + 1):
        out[layer] = out[layer - 1] @ step
    return out


def silence_probability(n: int, theta: float, depth: int, gain: float | None = None) -> float:
    """Probability that a sample has no spike in layer ``depth`` at t = 0 (layer 0 has unit variance)."""
    return float(active_count_distribution(n, theta, depth, gain)[-1, 0])


def mean_square_interval(
    n: int, theta: float, depth: int, alpha: float, gain: float | None = None, input_variance: float = 1.0
) -> tuple[Array, Array]:
    r"""Acceptance region :math:`\{0\} \cup [\mathrm{low}_l, \mathrm{high}_l]` of one sample's
    mean square potential :math:`\hat V_l = \frac1n\sum_i u_{l,i}^2` in layers 0..depth at
    t = 0, holding with probability at least ``1 - alpha``: a silent layer (exactly 0) is
    allowed as often as the chain predicts it, a spiking one must lie in the interval.

    Exact for Gaussian weights: :math:`\hat V_0 = V_0\,\chi^2_n/n` and, given
    :math:`K_{l-1} = k` active inputs, :math:`\hat V_l = \sigma_w^2 k\,\chi^2_n/n`, mixed
    over the chain's distribution of :math:`K_{l-1}` (k = 0 gives exactly 0).
    """
    width = integer("n", n, low=1)
    th = real_scalar("theta", theta, low=0.0)
    a = real_scalar("alpha", alpha, low=0.0, high=1.0, low_open=True)
    c = _default_gain(th, gain)
    counts = active_count_distribution(width, th, depth, gain=c, input_variance=input_variance)
    active = np.arange(width + 1)
    lows, highs = np.empty(len(counts)), np.empty(len(counts))
    for layer in range(len(counts)):
        if layer == 0:
            scales, weights = np.array([input_variance]), np.array([1.0])
        else:
            scales, weights = active * (c / width), counts[layer - 1]
        lows[layer], highs[layer] = _mixture_interval(scales, weights, width, a)
    return lows, highs


def _mixture_interval(scales: Array, weights: Array, dof: int, alpha: float) -> tuple[float, float]:
    """``[lo, hi]`` with P(0 < X < lo) = alpha/2 = P(X > hi), X = scales[k]·χ²_dof/dof w.p. weights[k]."""
    keep = weights > 0
    scales, weights = scales[keep], weights[keep]

    def cdf(v: float) -> float:
        with np.errstate(divide="ignore"):
            z = np.where(scales > 0, dof * v / np.where(scales > 0, scales, 1.0), np.inf)
        return float(np.sum(weights * scipy.stats.chi2.cdf(z, dof)))

    top = float(scales.max()) * scipy.stats.chi2.isf(alpha / 4, dof) / dof + 1.0

    def quantile(q: float) -> float:
        return brentq(lambda v: cdf(v) - q, 0.0, top, xtol=1e-12, rtol=1e-10)

    silent = cdf(0.0)
    if silent >= 1 - alpha / 2:  # (almost) surely silent
        return 0.0, 0.0
    return quantile(silent + alpha / 2), quantile(1 - alpha / 2)


def expected_depth_to_silence(
    n: int, theta: float, gain: float | None = None, input_variance: float = 1.0, max_layers: int = 100_000
) -> tuple[float, float]:
    r"""Expected index of the first silent layer at t = 0, and the per-layer hazard of silence.

    :math:`E[\tau] = \sum_{l \ge 0} P(K_l > 0)`. The chain is iterated until its law
    conditioned on survival settles into the quasi-stationary distribution q (relative
    change below 1e-13); from then on survival decays geometrically with hazard
    :math:`h = \sum_k q_k P(k \to 0)`, computed from the binomial probabilities of
    silence directly (accurate even where h is far below float64 epsilon), so the tail
    of the sum is :math:`P(K_L > 0)/h`. Returns ``(E[τ], log h)``; E[τ] is ``inf`` only
    when it exceeds the float64 range (the natural log of the hazard stays finite).
    """
    width = integer("n", n, low=1)
    th = real_scalar("theta", theta, low=0.0)
    layers = integer("max_layers", max_layers, low=1)
    step_gain = _default_gain(th, gain)
    step = transition_matrix(width, th, step_gain)
    dist = active_count_distribution(width, th, 0, gain, input_variance)[0]
    expected = 0.0
    conditional = np.zeros(width + 1)
    for _ in range(layers):
        alive = float(dist[1:].sum())
        if alive <= 0:
            return expected, 0.0
        expected += alive
        previous, conditional = conditional, np.concatenate([[0.0], dist[1:] / alive])
        if np.abs(conditional - previous).sum() < 1e-13:
            p = spike_probability(th, np.arange(1, width + 1) * (step_gain / width))
            log_silence = scipy.stats.binom.logpmf(0, width, p)  # log P(k -> 0), no underflow
            log_hazard = float(scipy.special.logsumexp(log_silence, b=conditional[1:]))
            with np.errstate(over="ignore"):
                return float(expected - alive + alive * np.exp(-log_hazard)), log_hazard
        dist = dist @ step
    raise ValueError(f"max_layers={layers} was too few for the chain to reach its quasi-stationary law")


# --- quenched mean field over time (leak and reset) ---------------------------------
_HERMITE_NODES = 48


def quenched_rate_map(
    rate_mean: float, rate_square: float, gain: float, beta: float, theta: float
) -> tuple[float, float]:
    r"""One layer of the quenched mean field of the stationary rates, over depth.

    Neuron i of layer l receives :math:`I_i[t] = \sum_j w_{ij} s_j[t]`. Its time average
    :math:`m_i = \sum_j w_{ij} r_j` is fixed by its own weights, so across neurons
    :math:`m_i \sim \mathcal N(0, c\,E[r^2])`; around it the input fluctuates with variance
    :math:`c\,(E[r] - E[r^2])`, treated as fresh each step (presynaptic spikes taken as
    independent in time and across neurons: the approximation of this theory). Each neuron
    then fires at :func:`~snnmath.stationary.stationary_rate` of its own (mean, std), and the layer's
    :math:`(E[r], E[r^2])` follow by Gauss–Hermite quadrature over :math:`m_i`.
    """
    q1 = real_scalar("rate_mean", rate_mean, low=0.0, high=1.0)
    q2 = real_scalar("rate_square", rate_square, low=0.0, high=1.0)
    if q2 > q1 * (1 + 1e-12) or q2 < q1 * q1 * (1 - 1e-12):
        raise ValueError(f"rate_square must lie in [rate_mean², rate_mean] = [{q1 * q1}, {q1}], got {rate_square!r}")
    c = real_scalar("gain", gain, low=0.0, low_open=True)
    b = real_scalar("beta", beta, low=0.0, high=1.0)
    th = real_scalar("theta", theta, low=0.0, low_open=True)
    # every input lies within 40 sd of 0 but for mass far below 1e-300; if even that cannot
    # lift u (at most I/(1-β)) to θ, the layer is silent to float64 precision
    if q1 == 0 or (b < 1 and 40 * np.sqrt(c * q1) < (1 - b) * th):
        return 0.0, 0.0
    nodes, weights = np.polynomial.hermite_e.hermegauss(_HERMITE_NODES)
    weights = weights / weights.sum()
    rates = stationary_rate(np.sqrt(c * q2) * nodes, np.sqrt(max(c * (q1 - q2), 0.0)), b, th)
    return float(weights @ rates), float(weights @ rates**2)


def quenched_depth_map(
    gain: float, beta: float, theta: float, depth: int, input_std: float = 1.0
) -> tuple[Array, Array]:
    r"""Layers 0..depth of the quenched mean field, with layer 0 driven by fresh i.i.d.
    :math:`\mathcal N(0, \sigma_0^2)` currents (so every layer-0 neuron fires at the same rate).
    Returns the arrays :math:`E[r]` and :math:`E[r^2]` per layer."""
    layers = integer("depth", depth, low=0)
    r0 = float(stationary_rate(0.0, real_scalar("input_std", input_std, low=0.0, low_open=True), beta, theta))
    q1, q2 = np.empty(layers + 1), np.empty(layers + 1)
    q1[0], q2[0] = r0, r0 * r0
    for layer in range(1, layers + 1):
        q1[layer], q2[layer] = quenched_rate_map(q1[layer - 1], q2[layer - 1], gain, beta, theta)
    return q1, q2


class QuenchedFixedPoint(NamedTuple):
    """Gain holding the stationary rate at its target, the fixed point and its stability."""

    gain: float
    rate_mean: float
    rate_square: float
    eigenvalues: tuple[complex, complex]
    stable: bool


def multistep_gain(beta: float, theta: float, target_rate: float | None = None) -> QuenchedFixedPoint:
    r"""Gain :math:`c = n\,\mathrm{Var}[w]` at which the quenched mean field has the stationary
    rate ``target_rate`` (default Q(θ), the first-step rate) as a fixed point over depth.

    Solves :math:`E[r](c, \rho, q_2) = \rho` and :math:`E[r^2](c, \rho, q_2) = q_2` for
    :math:`(c, q_2)`; stability from the eigenvalues of the map's Jacobian in
    :math:`(E[r], E[r^2])` (central differences). The weight variance is ``gain / n``.
    """
    from scipy.optimize import least_squares

    b = real_scalar("beta", beta, low=0.0, high=1.0)
    th = real_scalar("theta", theta, low=0.0, low_open=True)
    rho = float(spike_probability(th)) if target_rate is None else real_scalar(
        "target_rate", target_rate, low=0.0, high=1.0, low_open=True)
    if rho >= 1:
        raise ValueError(f"target_rate must be below 1, got {target_rate!r}")

    def residual(params: Array) -> Array:
        log_gain, share = params  # q2 = rho² + share·(rho − rho²), share in (0, 1)
        q2 = rho * rho + scipy.special.expit(share) * (rho - rho * rho)
        m1, m2 = quenched_rate_map(rho, q2, float(np.exp(log_gain)), b, th)
        return np.array([m1 / rho - 1, m2 / q2 - 1])

    start = np.array([np.log(float(weight_variance(1, th))), 0.0])
    fit = least_squares(residual, start, xtol=1e-12, ftol=1e-12, gtol=1e-12)
    if np.max(np.abs(fit.fun)) > 1e-6:
        raise ValueError(f"no gain holds the stationary rate at target_rate={rho} for beta={b}, theta={th}")
    c = float(np.exp(fit.x[0]))
    q2 = rho * rho + float(scipy.special.expit(fit.x[1])) * (rho - rho * rho)
    eigenvalues = _quenched_eigenvalues(rho, q2, c, b, th)
    stable = bool(np.all(np.abs(eigenvalues) < 1))
    return QuenchedFixedPoint(c, rho, q2, (complex(eigenvalues[0]), complex(eigenvalues[1])), stable)


def _quenched_eigenvalues(q1: float, q2: float, gain: float, beta: float, theta: float) -> NDArray[np.complex128]:
    """Eigenvalues of the Jacobian of :func:`quenched_rate_map` at (q1, q2), central differences."""
    h = 1e-4 * (q1 - q2)
    jacobian = np.empty((2, 2))
    for column, step in enumerate(([h, 0.0], [0.0, h])):
        plus = quenched_rate_map(q1 + step[0], q2 + step[1], gain, beta, theta)
        minus = quenched_rate_map(q1 - step[0], q2 - step[1], gain, beta, theta)
        jacobian[:, column] = (np.array(plus) - np.array(minus)) / (2 * h)
    return np.asarray(np.linalg.eigvals(jacobian), dtype=np.complex128)


def quenched_fold(beta: float, theta: float, rate_low: float, rate_high: float) -> QuenchedFixedPoint:
    r"""Saddle-node of the quenched mean field: the least gain :math:`c_\ast = \min_\rho c(\rho)` at which
    it has a non-zero fixed point, :math:`c(\rho)` being :func:`multistep_gain` at target rate ρ.

    Below :math:`c_\ast` every layer's rate decays to silence; above it a stable fixed point (the
    branch where :math:`c'(\rho) > 0`) and an unstable one coexist, and at :math:`c_\ast` they merge
    with an eigenvalue 1. Found by bounded Brent minimisation over ρ in ``[rate_low, rate_high]``,
    which must bracket the minimum (a ``ValueError`` says so when it lands on an end).
    """
    from scipy.optimize import minimize_scalar

    lo = real_scalar("rate_low", rate_low, low=0.0, high=1.0, low_open=True)
    hi = real_scalar("rate_high", rate_high, low=lo, high=1.0, low_open=True)
    fit = minimize_scalar(lambda rho: multistep_gain(beta, theta, rho).gain, bounds=(lo, hi), method="bounded",
                          options=dict(xatol=1e-4 * hi))
    if min(fit.x - lo, hi - fit.x) < 1e-3 * (hi - lo):
        raise ValueError(f"rate_low and rate_high must bracket the fold; the least gain on [{lo}, {hi}] is at {fit.x}")
    return multistep_gain(beta, theta, float(fit.x))


def input_std_for_rate(rate: float, beta: float, theta: float) -> float:
    r"""Standard deviation :math:`\sigma_0` of fresh i.i.d. :math:`\mathcal N(0, \sigma_0^2)` input
    currents at which a leaky, resetting neuron fires at ``rate``: the root of
    :math:`r_\infty(0, \sigma_0; \beta, \theta) = \text{rate}` (:func:`~snnmath.stationary.stationary_rate`, increasing
    in :math:`\sigma_0`), found on :math:`[10^{-3}\theta, 10^{3}\theta]` by Brent's method in
    :math:`\log\sigma_0`. The rate tends to 0 as :math:`\sigma_0 \to 0` and to 1/2 as
    :math:`\sigma_0 \to \infty` (for β < 1; a perfect integrator with zero-mean input never fires).
    """
    b = real_scalar("beta", beta, low=0.0, high=1.0)
    if b == 1:
        raise ValueError("beta must lie in [0, 1): a perfect integrator driven by zero-mean input never fires")
    th = real_scalar("theta", theta, low=0.0, low_open=True)
    target = real_scalar("rate", rate, low=0.0, high=1.0, low_open=True)
    lo, hi = (float(stationary_rate(0.0, th * scale, b, th)) for scale in (1e-3, 1e3))
    if not lo < target < hi:
        raise ValueError(f"rate must lie in ({lo}, {hi}) for beta={b}, theta={th}, got {rate!r}")
    log_std = brentq(lambda x: float(stationary_rate(0.0, np.exp(x), b, th)) - target,
                     np.log(th * 1e-3), np.log(th * 1e3), xtol=1e-12)
    return float(np.exp(log_std))


# --- convolutions: the per-position map and the border --------------------------------
PADDINGS = ("zeros", "circular")
"""Padding modes of :func:`conv_variance_maps` (as in ``torch.nn.Conv2d``'s ``padding_mode``)."""


@cache
def _conv_tap_weight() -> Callable[..., Any]:
    weight = sp.simplify(sym.conv_tap_contribution() / sym.second_moment_of_spike())
    return _compile(weight, sym.gain, sym.kernel_size)


@cache
def _taps_inside() -> Callable[..., Any]:
    return _compile(sym.taps_inside(sym.row, sym.height), sym.row, sym.height, sym.kernel_size)


def _kernel(kernel: int) -> int:
    k = integer("kernel", kernel, low=1)
    if k % 2 == 0:
        raise ValueError(f"kernel must be an odd integer >= 1 (same-size output), got {kernel!r}")
    return k


def _padding(padding_mode: str) -> str:
    if padding_mode not in PADDINGS:
        raise ValueError(f"padding_mode must be one of {PADDINGS}, got {padding_mode!r}")
    return padding_mode


def tap_counts(height: int, width: int, kernel: int = 3, padding_mode: str = "zeros") -> Array:
    r"""Number of in-image taps :math:`t(i)\,t(j)` of each position of an H × W map, shape (H, W).

    A neuron at (i, j) has :math:`C_{in}\,t(i)\,t(j)` inputs (:func:`snnmath.symbolic.taps_inside`):
    k² in the interior, :math:`((k+1)/2)^2` at a corner with zero padding, k² everywhere
    with circular padding.
    """
    h, w = integer("height", height), integer("width", width)
    k = _kernel(kernel)
    if _padding(padding_mode) == "circular":
        return np.full((h, w), float(k * k))
    rows = np.asarray(_taps_inside()(np.arange(h), h, k), dtype=np.float64)
    cols = np.asarray(_taps_inside()(np.arange(w), w, k), dtype=np.float64)
    return np.outer(rows, cols)


def conv_variance_map(
    previous: ArrayLike, theta: float, gain: float, kernel: int = 3, padding_mode: str = "zeros",
    rescale_border: bool = False,
) -> Array:
    r"""One layer of the per-position map :func:`snnmath.symbolic.conv_variance_map`:
    :math:`V_l(i,j) = \tfrac{c}{k^2}\sum_{\text{taps}} Q\big(\theta/\sqrt{V_{l-1}(i+a,j+b)}\big)`.

    The sum is a 2-D convolution of the spike-probability field with a k × k kernel of ones,
    over zero padding (taps outside the image add nothing) or circular padding.
    ``rescale_border`` multiplies by :math:`k^2/(t(i)t(j))` (:func:`snnmath.symbolic.border_rescaled_map`).
    ``previous`` is an (H, W) array, or a stack (..., H, W) of independent maps.
    """
    var = real_array("previous", previous, low=0.0)
    if var.ndim < 2:
        raise ValueError(f"previous must be an (H, W) map or a stack of them, got shape {var.shape}")
    k, mode = _kernel(kernel), _padding(padding_mode)
    c = real_scalar("gain", gain, low=0.0, low_open=True)
    if not isinstance(rescale_border, bool):
        raise ValueError(f"rescale_border must be True or False, got {rescale_border!r}")
    r = k // 2
    if mode == "circular" and r > min(var.shape[-2:]):
        raise ValueError(f"kernel must be at most 2·min(H, W) + 1 for circular padding, got {kernel!r}")
    per_tap = float(_conv_tap_weight()(c, k)) * spike_probability(real_scalar("theta", theta, low=0.0), var)
    pad = [(0, 0)] * (var.ndim - 2) + [(r, r), (r, r)]
    padded = np.pad(per_tap, pad, mode="wrap" if mode == "circular" else "constant")
    summed = np.lib.stride_tricks.sliding_window_view(padded, (k, k), axis=(-2, -1)).sum(axis=(-2, -1))
    if rescale_border:
        summed = summed * (k * k / tap_counts(var.shape[-2], var.shape[-1], k, mode))
    return np.asarray(summed, dtype=np.float64)


def conv_variance_maps(
    theta: float, gain: float, depth: int, height: int, width: int, kernel: int = 3,
    padding_mode: str = "zeros", rescale_border: bool = False, input_variance: float = 1.0,
) -> Array:
    r"""Per-position variance maps of layers 0..depth-1 of a convolutional stack at t = 0,
    shape (depth, H, W): layer 0 holds the input variance :math:`V_0` everywhere, and each
    further layer is :func:`conv_variance_map` of the one before (the :math:`C_{in}\to\infty` mean field).
    Rates follow as :func:`spike_probability` of the maps."""
    layers = integer("depth", depth, low=1)
    v0 = real_scalar("input_variance", input_variance, low=0.0)
    out = np.empty((layers, integer("height", height), integer("width", width)))
    out[0] = v0
    for layer in range(1, layers):
        out[layer] = conv_variance_map(out[layer - 1], theta, gain, kernel, padding_mode, rescale_border)
    return out


# --- gradients at the first time step ---------------------------------------------------
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
    th = _thresholds(theta)
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
        return _float_result(c * surrogate_square_moment(theta, slope, surrogate, var), "backward_gain")


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
    c = _default_gain(th, gain)
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


# --- the pixel-driven first layer --------------------------------------------------------
_IMAGE_BLOCK = 4096
"""Images per block when counting levels (bounds the memory of per-image histograms)."""


@cache
def _first_spike_intensity() -> Callable[..., Any]:
    return _compile(sym.first_spike_intensity(), sym.beta, sym.theta, sym.step)


@cache
def _first_layer_weight_variance() -> Callable[..., Any]:
    return _compile(sym.first_layer_weight_variance(), sym.V, sym.n, sym.mean_input_rate)


@cache
def _scale_mixture_kurtosis() -> Callable[..., Any]:
    return _compile(sym.scale_mixture_kurtosis(), *sym.COUNT_MOMENTS)


def first_spike_intensity(beta: ArrayLike, theta: ArrayLike, step: ArrayLike) -> Array:
    r"""Smallest intensity that makes an input neuron spike by step t,
    :math:`x^*(t) = \theta(1-\beta)/(1-\beta^{t+1})` (θ/(t+1) at β = 1): it first spikes at the
    first t with :math:`x > x^*(t)` (:func:`snnmath.symbolic.first_spike_intensity`). Broadcasts."""
    b = real_array("beta", beta, low=0.0, high=1.0)
    th = _thresholds(theta)
    t = real_array("step", step, low=0.0)
    if np.any(t != np.round(t)):
        raise ValueError(f"step must be an integer >= 0, got {step!r}")
    with np.errstate(divide="ignore", invalid="ignore"):  # the β ≠ 1 branch is evaluated at β = 1 too
        value = _first_spike_intensity()(b, th, t)
    return np.broadcast_to(np.asarray(value, dtype=np.float64), np.broadcast(b, th, t).shape).copy()


def input_spike_trains(intensities: ArrayLike, beta: float, theta: float, steps: int) -> NDArray[np.bool_]:
    r"""Spike trains ``(T, *intensities.shape)`` of input neurons with constant currents x in [0, 1].

    :math:`u[t] = \beta u[t-1] + x - \theta s[t-1]`, :math:`s[t] = H(u[t]-\theta)`, u[-1] = s[-1] = 0,
    run by the simulator's own recurrence (:func:`snnmath.simulate.lif_layer`, float32), so the
    trains agree bit for bit with the simulator's. That matters at β = 1, where u is a multiple of
    a pixel level and can land exactly on θ: in exact arithmetic such a neuron does not spike, in
    float32 it may.
    """
    from .simulate import lif_layer  # here, not at the top: simulate imports init, which imports this module

    x = real_array("intensities", intensities, low=0.0, high=1.0).astype(np.float32)
    b = real_scalar("beta", beta, low=0.0, high=1.0)
    th = real_scalar("theta", theta, low=0.0)
    t_steps = integer("steps", steps, low=1)
    currents = torch.from_numpy(x).expand(t_steps, *x.shape)
    return lif_layer(currents, b, th)[1].numpy().astype(np.bool_)


def _levels(images: ArrayLike, max_value: int) -> tuple[NDArray[np.float32], NDArray[Any]]:
    """``(intensities, codes)``: the distinct intensities (float32) and, per image
    ``(N, pixels)``, the index of each pixel's intensity. Integer images are levels 0..max_value
    (intensity level/max_value in float32, as :meth:`snnmath.data.Dataset.tensors` computes it);
    real images are intensities in [0, 1]."""
    arr = np.asarray(images)
    if arr.ndim < 2 or arr.shape[0] < 1 or arr[0].size < 1:
        raise ValueError(f"images must be an array (N, ...) of N >= 1 non-empty images, got shape {arr.shape}")
    flat = arr.reshape(arr.shape[0], -1)
    if np.issubdtype(arr.dtype, np.integer):
        top = integer("max_value", max_value, low=1)
        if flat.min() < 0 or flat.max() > top:
            raise ValueError(f"images must hold integer levels in [0, {top}] (max_value), "
                             f"got values in [{flat.min()}, {flat.max()}]")
        return np.arange(top + 1, dtype=np.float32) / np.float32(top), flat
    if not np.issubdtype(arr.dtype, np.floating):
        raise ValueError(f"images must be integer levels or real intensities in [0, 1], got dtype {arr.dtype}")
    values = flat.astype(np.float32)
    if not np.all(np.isfinite(values)) or values.min() < 0 or values.max() > 1:
        raise ValueError("images must be real intensities in [0, 1] (finite)")
    intensities, codes = np.unique(values, return_inverse=True)
    return intensities, codes.reshape(flat.shape)


def _image_histograms(codes: NDArray[Any], size: int) -> Any:
    """Per-image histograms of ``codes`` over ``0..size-1``, block by block: ``(start, (B, size))``."""
    for start in range(0, codes.shape[0], _IMAGE_BLOCK):
        block = codes[start : start + _IMAGE_BLOCK].astype(np.intp)
        offsets = np.arange(block.shape[0])[:, None] * size
        counts = np.bincount((block + offsets).ravel(), minlength=block.shape[0] * size)
        yield start, counts.reshape(block.shape[0], size)


def intensity_histogram(images: ArrayLike, max_value: int = 255) -> tuple[Array, Array]:
    r"""``(intensities, fractions)``: the distinct pixel intensities and the fraction :math:`h_v` of
    all pixels (every position of every image) at each. ``images`` is ``(N, ...)``: integer levels
    0..``max_value``, or real intensities in [0, 1]."""
    intensities, codes = _levels(images, max_value)
    total = np.zeros(intensities.size)
    for _, counts in _image_histograms(codes, intensities.size):
        total += counts.sum(axis=0)
    return intensities.astype(np.float64), total / codes.size


def input_layer_rates(images: ArrayLike, beta: float, theta: float, steps: int, max_value: int = 255) -> Array:
    r"""Exact data-averaged firing probability of the input layer per step,
    :math:`p_0[t] = \sum_v h_v\,s_0(x_v, t)` (:func:`snnmath.symbolic.input_layer_rate`): the
    :func:`intensity_histogram` weighted by each intensity's :func:`input_spike_trains`. Shape (T,)."""
    intensities, fractions = intensity_histogram(images, max_value)
    return input_spike_trains(intensities, beta, theta, steps) @ fractions


def input_active_counts(
    images: ArrayLike, beta: float, theta: float, steps: int, max_value: int = 255
) -> NDArray[np.int64]:
    r"""Number of spiking input neurons :math:`K[t] = \sum_j s_0(x_j, t)` of every image and step,
    shape (N, T): each image's intensity histogram times the :func:`input_spike_trains`."""
    intensities, codes = _levels(images, max_value)
    trains = input_spike_trains(intensities, beta, theta, steps).T.astype(np.float64)  # (levels, T)
    out = np.empty((codes.shape[0], trains.shape[1]), dtype=np.int64)
    for start, counts in _image_histograms(codes, intensities.size):
        out[start : start + counts.shape[0]] = np.rint(counts @ trains)  # integers, exact in float64
    return out


def current_kurtosis(counts: ArrayLike) -> Array:
    r"""Kurtosis :math:`3E[K^2]/E[K]^2` of the first-layer current :math:`I_1[t] = W_1 s_0[t]` over images,
    per step, from the active counts ``(N, T)`` of :func:`input_active_counts`
    (:func:`snnmath.symbolic.scale_mixture_kurtosis`); 3 is Gaussian. NaN where :math:`E[K] = 0`."""
    active = real_array("counts", counts, low=0.0)
    if active.ndim != 2 or active.shape[0] < 1:
        raise ValueError(f"counts must be an array (N, T) with N >= 1, got shape {active.shape}")
    mean, second = active.mean(axis=0), np.square(active).mean(axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(mean > 0, _scale_mixture_kurtosis()(mean, second), np.nan)


def first_layer_weight_variance(
    images: ArrayLike, beta: float, theta: float, steps: int, target_variance: float = 1.0,
    max_value: int = 255, step: int | None = None,
) -> float:
    r"""Data-aware first-layer scale :math:`\mathrm{Var}[w_1] = V/(n\,\bar p_0)`, n the pixels per image
    (:func:`snnmath.symbolic.first_layer_weight_variance`): the current :math:`W_1 s_0` then has
    variance V pooled over the T steps. ``step=t`` uses :math:`p_0[t]` instead of the time average,
    for variance V at that step alone. Compare the paper's :math:`1/(n\,Q(\theta))`
    (:func:`weight_variance`), which assumes inputs firing at Q(θ).
    """
    var = real_scalar("target_variance", target_variance, low=0.0, low_open=True)
    rates = input_layer_rates(images, beta, theta, steps, max_value)
    pixels = int(np.asarray(images)[0].size)
    rate = float(rates.mean() if step is None else rates[integer("step", step, low=0, high=len(rates) - 1)])
    if rate == 0:
        when = "in any of the steps" if step is None else f"at step {step}"
        raise ValueError(f"theta must be low enough for some pixel to drive its input neuron above it; "
                         f"theta={theta} leaves the input layer silent {when}, and no first-layer scale can help")
    return float(_first_layer_weight_variance()(var, pixels, rate))
