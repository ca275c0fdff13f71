r"""Two inputs at the first time step, at infinite width: the correlation map and the margin-aware scale.

Under two inputs a and b, one neuron's potentials :math:`(u_a, u_b)` are Gaussian with variance V
each and correlation ρ. The next layer's correlation is
:math:`\rho' = E[s_a s_b]/E[s^2] = f(\rho; x)` with x = θ/√V
(:func:`snnmath.symbolic.correlation_map`); the gain cancels, and V follows the variance map.
The map is convex on [0, 1] with f(0) = Q(x) > 0 and f(1) = 1 with infinite slope, so it has
exactly one fixed point ρ* in (0, 1), which attracts, and ρ = 1 never does: identical inputs
stay identical, but inputs that differ at all are driven to ρ*.
Every function evaluates a formula of :mod:`snnmath.symbolic` (tail-stable form).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import scipy.integrate
import torch
from numpy.typing import ArrayLike
from scipy.optimize import brentq

from .. import symbolic as sym
from .._validate import integer, real_array, real_scalar
from ._common import Array, compiled, thresholds
from .first_step import map_slope, slope_at_fixed_point, spike_probability, variance_map
from .kernel import MAX_SAMPLES, spike_kernel


def _ratio(theta: ArrayLike, variance: ArrayLike) -> Array:
    """x = θ/√V, infinite where V = 0 and θ > 0 (a silent layer); 0 where θ = 0."""
    th = thresholds(theta)
    var = real_array("variance", variance, low=0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(th > 0, th / np.sqrt(var), 0.0)


def _integrand(angle: float, ratio: float) -> float:
    return float(compiled(sym.correlation_slope_over_tail, sym.angle, sym.x)(angle, ratio))


def _map_at(rho: float, ratio: float) -> float:
    r""":math:`Q(x) + \int_0^{\arcsin\rho} e^{-x^2/(1+\sin t)}\,dt/(2\pi Q(x))` by adaptive quadrature.

    The integrand rises to its maximum at the upper limit, within about 1/x of it for large x;
    the breakpoints tell the quadrature where."""
    if np.isinf(ratio):  # a silent layer (V = 0): the x → ∞ limit
        return 1.0 if rho == 1.0 else 0.0
    top = float(np.arcsin(rho))
    near_top = [top - k / ratio for k in (1, 4, 16)] if ratio > 0 else []
    points = [p for p in near_top if min(0.0, top) < p < max(0.0, top)]
    integral, _ = scipy.integrate.quad(_integrand, 0.0, top, args=(ratio,), points=points or None,
                                       epsabs=0.0, epsrel=1e-12, limit=200)
    return float(spike_probability(ratio)) + integral


def correlation_map(rho: ArrayLike, theta: ArrayLike, variance: ArrayLike = 1.0) -> Array:
    r"""One layer of the correlation map :math:`\rho' = E[s_a s_b]/E[s^2]` for potentials of
    variance V and correlation ρ (:func:`snnmath.symbolic.correlation_map`); at θ = 0 it is
    Sheppard's :math:`1/2 + \arcsin(\rho)/\pi`. At V = 0 (θ > 0) the limit x → ∞: 0 for ρ < 1, 1 at ρ = 1."""
    r = real_array("rho", rho, low=-1.0, high=1.0)
    ratio = _ratio(theta, variance)
    r, ratio = np.broadcast_arrays(r, ratio)
    return np.vectorize(_map_at, otypes=[np.float64])(r, ratio)


def correlation_slope(rho: ArrayLike, theta: ArrayLike, variance: ArrayLike = 1.0) -> Array:
    r""":math:`\partial\rho'/\partial\rho = e^{-x^2/(1+\rho)}/(2\pi\sqrt{1-\rho^2}\,Q(x))`
    (:func:`snnmath.symbolic.correlation_slope`): infinite at ρ = 1 for every θ and V."""
    r = real_array("rho", rho, low=-1.0, high=1.0)
    ratio = _ratio(theta, variance)
    r, ratio = np.broadcast_arrays(r, ratio)
    inside = np.abs(r) < 1
    safe_r = np.where(inside, r, 0.0)
    with np.errstate(divide="ignore", over="ignore"):
        angle = np.arcsin(safe_r)
        slope = compiled(sym.correlation_slope_over_tail, sym.angle, sym.x)(angle, np.where(np.isinf(ratio), 0, ratio))
        slope = slope / np.sqrt(1 - safe_r**2)
    return np.where(inside & np.isfinite(ratio), slope, np.where(inside, 0.0, np.inf))


class CorrelationFixedPoint(NamedTuple):
    """The attracting fixed point ρ* of the correlation map, its slope χ and depth scale ξ = −1/ln χ."""

    rho: float
    slope: float
    depth_scale: float


def correlation_fixed_point(theta: float, variance: float = 1.0) -> CorrelationFixedPoint:
    r"""The one fixed point ρ* in (0, 1) of the correlation map at x = θ/√V (scalar inputs), with
    :math:`\chi = \partial\rho'/\partial\rho` there and the depth scale :math:`\xi_c = -1/\ln\chi`
    over which :math:`|\rho_l - \rho^*|` shrinks by e. (ρ = 1 is the other fixed point, never stable.)"""
    th = real_scalar("theta", theta, low=0.0)
    var = real_scalar("variance", variance, low=0.0, low_open=True)

    def excess(r: float) -> float:
        return float(correlation_map(r, th, var)) - r

    gap = 0.5
    while excess(1.0 - gap) >= 0:  # f − ρ < 0 just below 1 (infinite slope there)
        gap /= 4
    star = brentq(excess, 0.0, 1.0 - gap, xtol=1e-15, rtol=4 * np.finfo(float).eps)
    chi = float(correlation_slope(star, th, var))
    return CorrelationFixedPoint(float(star), chi, float(-1.0 / np.log(chi)))


def iterate_correlation(
    theta: float, gain: float, depth: int, rho: float, input_variance: float = 1.0
) -> tuple[Array, Array]:
    r"""Variances :math:`V_0..V_{depth}` and correlations :math:`\rho_0..\rho_{depth}` of two inputs
    through the first-step maps, :math:`V_{l+1} = c\,Q(x_l)`, :math:`\rho_{l+1} = f(\rho_l; x_l)`."""
    th = real_scalar("theta", theta, low=0.0)
    c = real_scalar("gain", gain, low=0.0, low_open=True)
    layers = integer("depth", depth, low=0)
    variances = np.empty(layers + 1)
    correlations = np.empty(layers + 1)
    variances[0] = real_scalar("input_variance", input_variance, low=0.0, low_open=True)
    correlations[0] = real_scalar("rho", rho, low=-1.0, high=1.0)
    for layer in range(layers):
        variances[layer + 1] = variance_map(variances[layer], th, c)
        correlations[layer + 1] = correlation_map(correlations[layer], th, variances[layer])
    return variances, correlations


RESOLVED_GAP = 1e-2
"""Gaps in ρ below this fraction of the first are left out of the depth-scale fit (Monte Carlo graininess)."""


# --- two inputs over time: the kernel map on (2T) x (2T) kernels -------------------------------
PAIR_INPUTS = ("direct", "fresh")
"""Input kinds of the pair kernel map: one constant current per input, or fresh currents each step."""


def pair_input_covariance(kind: str, steps: int, rho: float, variance: float = 1.0) -> Array:
    r"""Covariance (2T × 2T) of one input neuron's currents under inputs a and b, ordered
    :math:`(h_a[0..T-1], h_b[0..T-1])`: :math:`V\begin{pmatrix}1&\rho\\ \rho&1\end{pmatrix}\otimes M`
    with :math:`M = \mathbf 1\mathbf 1^\top` (``"direct"``) or I (``"fresh"``)."""
    if kind not in PAIR_INPUTS:
        raise ValueError(f"input must be one of {PAIR_INPUTS}, got {kind!r}")
    t_steps = integer("steps", steps, low=1)
    r = real_scalar("rho", rho, low=-1.0, high=1.0)
    v = real_scalar("variance", variance, low=0.0, low_open=True)
    time = np.ones((t_steps, t_steps)) if kind == "direct" else np.eye(t_steps)
    return v * np.kron(np.array([[1.0, r], [r, 1.0]]), time)


@dataclass(frozen=True)
class PairKernelMap:
    """The joint kernels of two inputs in layers 0 … depth−1, from independent replicas of the map."""

    kernels: Array
    """Shape ``(replicas, depth, 2T, 2T)``, the blocks :math:`E[s_a s_a^\top]`, :math:`E[s_a s_b^\top]`, …"""

    @property
    def correlations(self) -> Array:
        r"""Correlation of the next layer's currents pooled over the T steps,
        :math:`\rho_{l+1} = \mathrm{tr}K_{ab}/\sqrt{\mathrm{tr}K_{aa}\,\mathrm{tr}K_{bb}}`, shape
        ``(replicas, depth)``; NaN where a replica's layer has no spike under one input (undefined)."""
        t_steps = self.kernels.shape[-1] // 2
        diagonal = np.diagonal(self.kernels, axis1=2, axis2=3)
        own_a, own_b = diagonal[..., :t_steps].sum(-1), diagonal[..., t_steps:].sum(-1)
        cross = np.trace(self.kernels[..., :t_steps, t_steps:], axis1=2, axis2=3)
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where((own_a > 0) & (own_b > 0), cross / np.sqrt(own_a * own_b), np.nan)


def pair_kernel_depth_map(
    gain: float, beta: float, theta: float, steps: int, depth: int, rho: float, *,
    input: str = "direct", input_variance: float = 1.0, samples: int = 1 << 16, replicas: int = 4, seed: int = 0,
) -> PairKernelMap:
    r"""The kernel map of :mod:`snnmath.theory.kernel` for two inputs: :math:`C_{l+1} = c\,K_l` with
    :math:`K_l = E[S(h)S(h)^\top]`, h the 2T currents of one neuron under both inputs, S running the
    LIF neuron on each input's T steps. At T = 1 its correlation is :func:`correlation_map`'s."""
    c = real_scalar("gain", gain, low=0.0, low_open=True)
    b = real_scalar("beta", beta, low=0.0, high=1.0)
    th = real_scalar("theta", theta, low=0.0)
    layers = integer("depth", depth, low=1)
    m = integer("samples", samples, low=2, high=MAX_SAMPLES)
    start = pair_input_covariance(input, steps, rho, input_variance)
    kernels = [_pair_kernels(start, c, b, th, layers, m, integer("seed", seed, low=0) + replica)
               for replica in range(integer("replicas", replicas, low=1))]
    return PairKernelMap(np.array(kernels))


def _pair_kernels(covariance: Array, gain: float, beta: float, theta: float, layers: int, samples: int,
                  seed: int) -> Array:
    """The kernels of ``layers`` layers of the pair map from ``covariance``, ``(layers, 2T, 2T)``, one
    generator seeded with ``seed`` drawing each layer's currents in turn."""
    generator = torch.Generator().manual_seed(seed)
    kernels = []
    for _ in range(layers):
        kernels.append(spike_kernel(covariance, beta, theta, samples, generator, inputs=2))
        covariance = gain * kernels[-1]
    return np.array(kernels)


class DepthScale(NamedTuple):
    """The correlation depth scale of the pair kernel map over time, with its spread over replicas."""

    depth_scale: float
    """The mean over replicas of −1/ln χ, χ the fitted contraction per layer."""
    spread: float
    """Standard deviation of the replicas' estimates."""
    correlation: float
    """The fixed point ρ* reached (mean over replicas)."""


def depth_scale_over_time(
    gain: float, beta: float, theta: float, steps: int, *, burn_in: int = 20, layers: int = 8,
    nudge: float = 0.1, samples: int = 1 << 16, replicas: int = 4, seed: int = 0,
) -> DepthScale:
    r"""Depth scale of correlations over time: the pair kernel map is run ``burn_in`` layers from two
    direct inputs of correlation 0.9 to its fixed point; there the cross blocks are shrunk by
    ``nudge`` and both kernels are run on with the same draws (common random numbers), so that
    their difference in ρ shrinks like :math:`\chi^l`. χ is the least-squares slope of
    :math:`\ln\Delta\rho_l` over ``layers`` layers after the first. At T = 1 it estimates
    :func:`correlation_fixed_point`'s :math:`\xi_c`."""
    c = real_scalar("gain", gain, low=0.0, low_open=True)
    t_steps = integer("steps", steps, low=1)
    count = integer("replicas", replicas, low=2)
    estimates, stars = [], []
    for replica in range(count):
        base = pair_kernel_depth_map(c, beta, theta, t_steps, burn_in, 0.9, samples=samples, replicas=1,
                                     seed=seed + replica)
        fixed = c * base.kernels[0, -1]
        nudged = fixed.copy()
        nudged[:t_steps, t_steps:] *= 1 - nudge
        nudged[t_steps:, :t_steps] *= 1 - nudge
        paths = [PairKernelMap(_pair_kernels(start, c, beta, theta, layers + 1, samples, seed + count + replica)[None])
                 .correlations[0] for start in (fixed, nudged)]
        gap = np.abs(paths[0] - paths[1])[1:]
        if not np.all(np.isfinite(gap)):
            raise ValueError("the pair kernel map falls silent at this gain: no correlation, no depth scale")
        small = gap <= RESOLVED_GAP * gap[0]  # Monte Carlo graininess from here on
        resolved = np.arange(np.argmax(small) if small.any() else len(gap))
        if len(resolved) < 3:
            raise ValueError("the correlation gap vanished within 3 layers: no depth scale can be fitted")
        slope = np.polyfit(resolved, np.log(gap[resolved]), 1)[0]
        estimates.append(-1.0 / slope)
        stars.append(float(paths[0][-1]))
    return DepthScale(float(np.mean(estimates)), float(np.std(estimates, ddof=1)), float(np.mean(stars)))


# --- the margin-aware scale ------------------------------------------------------------
def margin_ratio(slope: ArrayLike) -> Array:
    r"""The x = θ/√V at which the variance map's slope at its fixed point,
    :math:`x\varphi(x)/(2Q(x))` (:func:`snnmath.symbolic.slope_at_fixed_point`), equals ``slope`` > 0.
    That slope rises from 0 at x = 0 without bound, so the root is unique."""
    target = real_array("slope", slope, low=0.0, low_open=True)

    def ratio(level: float) -> float:
        high = 1.0
        while float(slope_at_fixed_point(high)) < level:
            high *= 2
        return brentq(lambda z: float(slope_at_fixed_point(z)) - level, 0.0, high, xtol=1e-15,
                      rtol=4 * np.finfo(float).eps)

    return np.vectorize(ratio, otypes=[np.float64])(target)


def margin_variance(theta: ArrayLike, slope: ArrayLike = 0.5) -> Array:
    r"""Target variance of the margin-aware scale: the V at which the variance map's slope at its
    fixed point is at most ``slope``: V = 1 where the slope at V = 1 is already at most that,
    else the V with slope exactly ``slope``, :math:`V = \max(1, (\theta/x_\lambda)^2)`."""
    th = thresholds(theta)
    return np.maximum(1.0, (th / margin_ratio(slope)) ** 2)


def target_slope(theta: ArrayLike, variance: ArrayLike = 1.0) -> Array:
    r"""Slope of the variance map at its fixed point V when the gain holds it, :math:`c = V/Q(\theta/\sqrt V)`."""
    var = real_array("variance", variance, low=0.0, low_open=True)
    return map_slope(var, theta, var / spike_probability(theta, var))
