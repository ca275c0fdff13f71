r"""The quenched mean field over time: stationary rates with leak and reset.

Each neuron's input is a quenched mean (fixed by its weights) plus a temporal fluctuation
treated as white; the stationary rate of one neuron (:mod:`snnmath.theory.stationary`) closes
a map on the first two moments of the rates over depth. It ignores temporal correlations of
the spikes, which is why it holds at β = 0.5 but not at β = 0.9. The module also evaluates the
two leak-and-reset-aware scales of the fresh-input derivation that the mean field replaces
(:func:`snnmath.theory.circulating_weight_variance`).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from typing import Any, NamedTuple

import numpy as np
import scipy.integrate
import scipy.special
import scipy.stats
from numpy.typing import ArrayLike, NDArray
from scipy.optimize import brentq, least_squares, minimize_scalar

from .. import symbolic as sym
from .._validate import integer, real_array, real_scalar
from ._common import Array, compile_expression, finite_result, thresholds
from .first_step import spike_probability, weight_variance
from .stationary import stationary_rate

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
    then fires at :func:`~snnmath.theory.stationary_rate` of its own (mean, std), and the layer's
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
    :math:`r_\infty(0, \sigma_0; \beta, \theta) = \text{rate}` (:func:`~snnmath.theory.stationary_rate`, increasing
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


CIRCULATING_SCALES = tuple(sym.circulating_scales())
"""Names of the leak-and-reset-aware scales of :func:`snnmath.symbolic.circulating_scales`."""


@cache
def _circulating_scale(name: str) -> Callable[..., Any]:
    return compile_expression(sym.circulating_scales()[name], sym.n, sym.theta, sym.beta)


def circulating_weight_variance(name: str, n: ArrayLike, theta: ArrayLike, beta: ArrayLike) -> Array:
    r"""Weight variance of the leak-and-reset-aware scale ``name`` (one of ``CIRCULATING_SCALES``),
    from :func:`snnmath.symbolic.circulating_scales`, with :math:`q = Q(\theta)`:

    ``"phi"``, the stationary derivation's (:func:`snnmath.symbolic.leak_reset_weight_variance`),
    :math:`\sigma_w^2 = \bigl(1 - \beta^2 - \theta^2 q(1-q) + 2\beta\theta\,\varphi(\theta)\bigr)/(n q)`;

    ``"phi_over_p"``, the reference code's,
    :math:`\sigma_w^2 = \bigl(1 - \beta^2 - \theta^2 q(1-q) + 2\beta\theta\,\varphi(\theta)/q\bigr)/(n q)`.

    Broadcasts over ``n``, ``theta`` and ``beta``. The value is the formula's and may be
    :math:`\le 0`, where the formula gives no scale; a ``ValueError`` where it overflows float64
    (θ beyond about 37).
    """
    if not isinstance(name, str) or name not in CIRCULATING_SCALES:
        raise ValueError(f"name must be one of {', '.join(map(repr, CIRCULATING_SCALES))}; got {name!r}")
    fan_in = real_array("n", n, low=1.0)
    if np.any(fan_in != np.round(fan_in)):
        raise ValueError(f"n must be an integer >= 1, got {n!r}")
    th = thresholds(theta)
    b = real_array("beta", beta, low=0.0, high=1.0)
    with np.errstate(over="ignore"):
        return finite_result(_circulating_scale(name)(fan_in, th, b), "circulating_weight_variance")


def quenched_rates(
    gain: float, beta: float, theta: float, depth: int, *, input: str = "rate", input_variance: float = 1.0,
    input_rate: float | None = None,
) -> NDArray[np.float64]:
    r"""The quenched mean field's stationary rate :math:`E[r]` of layers 0 … depth−1 for the kernel map's
    inputs (:func:`input_covariance`) that have a part fresh in time, to set beside the kernel map's late rates.

    The quenched map (:func:`snnmath.theory.quenched_rate_map`) takes the moments :math:`(E[r], E[r^2])`
    of the layer below, whose input is then :math:`m \sim \mathcal N(0, c\,E[r^2])` fixed in time plus a
    fresh part of variance :math:`c\,(E[r] - E[r^2])`. Rate-coded input (``"rate"``: Bernoulli(p) spikes) is
    such a layer with moments :math:`(p, p^2)`; fresh input (``"fresh"``) is
    :func:`snnmath.theory.quenched_depth_map` with :math:`\sigma_0 = \sqrt V`. Direct input (a constant
    current, no fresh part) is refused: the map's quadrature over :math:`m` assumes a rate smooth in m,
    which a noiseless neuron's is not.
    """
    c = real_scalar("gain", gain, low=0.0, low_open=True)
    layers = integer("depth", depth, low=1)
    if input not in ("rate", "fresh"):
        raise ValueError(f"input must be 'rate' or 'fresh' (an input with a fresh part), got {input!r}")
    if input == "fresh":
        return np.asarray(quenched_depth_map(c, beta, theta, layers - 1,
                                             input_std=real_scalar("input_variance", input_variance,
                                                                   low=0.0, low_open=True) ** 0.5)[0])
    if input_rate is None:
        raise ValueError("rate-coded input needs input_rate (the spike probability per step)")
    q1 = real_scalar("input_rate", input_rate, low=0.0, high=1.0)
    q2 = q1 * q1
    rates = np.empty(layers)
    for layer in range(layers):
        q1, q2 = quenched_rate_map(q1, q2, c, beta, theta)
        rates[layer] = q1
    return rates
