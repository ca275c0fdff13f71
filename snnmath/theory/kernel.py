r"""The kernel over time: deep LIF networks across time steps at infinite width.

Layer l receives :math:`h_i[t] = \sum_j w_{ij} s_j[t]` with i.i.d. :math:`w \sim \mathcal N(0, c/n)`
and zero bias. Given layer l−1's spikes, the current sequences of different neurons are
independent Gaussian vectors over t with covariance :math:`(c/n)\sum_j s_j[t] s_j[t']`, which
tends to :math:`c\,K_{l-1}(t, t')`, :math:`K(t, t') = E[s[t]\,s[t']]`, as n → ∞. An infinitely
wide network is therefore a deterministic map on T × T kernels,

.. math::
    C_{l+1} = c\,K_l, \qquad K_l = E_{h \sim \mathcal N(0, C_l)}\big[S(h)\,S(h)^\top\big],

where S runs one neuron of :mod:`snnmath.lif` on the current sequence h. Layer 0 receives the
input: a constant current (direct encoding, :math:`C_0 = V\,\mathbf 1\mathbf 1^\top`), a fresh
current each step (:math:`C_0 = V I`), or Bernoulli spikes of probability p per step through
weights of the same gain (rate coding, :math:`C_0 = c\,(p\,I + p^2(\mathbf 1\mathbf 1^\top - I))`).
The rate of layer l at step t is :math:`K_l(t, t)`. At T = 1 the map is the first-step map
:math:`V \mapsto c\,Q(\theta/\sqrt V)` (:func:`snnmath.symbolic.kernel_map_first_step`).

The expectation is a Monte Carlo average over ``samples`` current sequences per layer, drawn
as :math:`h = A z` with A the symmetric square root of C (the fixed points behind the leak-aware scale
replace z's component along C's leading eigenvector by stratified quantiles,
:func:`snnmath.theory.window_currents`). Spikes are
0/1, so :math:`S S^\top` counts coincidences exactly in float32 (up to 2²⁴ samples) and the
only error is the sampling error. It compounds over depth where the map is nearly marginal,
so :func:`snnmath.theory.kernel_depth_map` runs independent ``replicas`` of the whole map and reports their
spread at every layer, which measures the error of the map's output itself.

A network driven long after rest has a kernel that depends on the lag alone, :math:`K(\tau)`; the
stationary kernel map (:func:`snnmath.theory.stationary_kernel`) iterates :math:`C(\tau) = c\,K(\tau)` on
it, with currents drawn by circulant embedding and a stratified constant part, for the stationary limit
of the leak-aware scale (:func:`snnmath.theory.stationary_gain`).
"""

from __future__ import annotations

import itertools
import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch
from numpy.typing import NDArray
from scipy.special import ndtri

from .._validate import integer, real_scalar, window_steps
from ..lif import lif_
from ._common import Array
from .first_step import saddle_node_gain, spike_probability, weight_variance

INPUTS = ("direct", "fresh", "rate")
"""Input kinds of layer 0 (see the module docstring)."""
MAX_SAMPLES = 1 << 24
"""Most Monte Carlo samples per layer: float32 counts coincidences exactly up to 2²⁴."""
PSD_TOLERANCE = 1e-9
"""Eigenvalues of a covariance below ``-PSD_TOLERANCE`` times its largest are refused as not
positive semi-definite; those between are rounding and set to 0."""


def input_covariance(
    kind: str, steps: int, *, variance: float = 1.0, rate: float | None = None, gain: float | None = None
) -> Array:
    r"""Covariance :math:`C_0` (T × T) of layer 0's input currents.

    ``"direct"``: :math:`V\,\mathbf 1\mathbf 1^\top` (one constant current, variance V);
    ``"fresh"``: :math:`V I`; ``"rate"``: Bernoulli spikes of probability ``rate`` per step,
    independent in time, through weights of ``gain``: :math:`c\,(p I + p^2(\mathbf 1\mathbf 1^\top - I))`.
    """
    t_steps = integer("steps", steps, low=1)
    if kind not in INPUTS:
        raise ValueError(f"input must be one of {INPUTS}, got {kind!r}")
    if kind == "rate":
        if rate is None or gain is None:
            raise ValueError("rate-coded input needs rate (the spike probability per step) and gain")
        p = real_scalar("rate", rate, low=0.0, high=1.0)
        c = real_scalar("gain", gain, low=0.0, low_open=True)
        return c * (p * p * np.ones((t_steps, t_steps)) + (p - p * p) * np.eye(t_steps))
    v = real_scalar("variance", variance, low=0.0)
    return v * (np.ones((t_steps, t_steps)) if kind == "direct" else np.eye(t_steps))


def covariance_root(covariance: Array) -> Array:
    r"""The symmetric square root :math:`A = U\Lambda^{1/2}U^\top` of :math:`C = U\Lambda U^\top`, so
    :math:`A A^\top = C`. It is continuous in C, so that the same noise z gives nearby currents
    :math:`h = A z` for nearby covariances (what a fixed point over depth needs).

    Eigenvalues within rounding of zero (above ``-PSD_TOLERANCE`` times the largest) are set
    to 0; a clearly negative one raises ``ValueError``: C is not a covariance.
    """
    return _symmetric_root(*_eigen(covariance))


def _symmetric_root(values: Array, vectors: Array) -> Array:
    """:math:`U\\Lambda^{1/2}U^\\top` from the eigenvalues Λ and eigenvectors U."""
    return (vectors * np.sqrt(values)) @ vectors.T


def _eigen(covariance: Array) -> tuple[Array, Array]:
    """Eigenvalues (ascending, those within rounding of zero set to 0) and eigenvectors of a covariance,
    checked as :func:`covariance_root` says."""
    c = np.asarray(covariance, dtype=np.float64)
    if c.ndim != 2 or c.shape[0] != c.shape[1] or not np.all(np.isfinite(c)):
        raise ValueError(f"covariance must be a finite square matrix, got shape {c.shape}")
    if not np.allclose(c, c.T, rtol=1e-12, atol=1e-300):
        raise ValueError("covariance must be symmetric")
    values, vectors = np.linalg.eigh(c)
    scale = max(float(np.abs(values).max(initial=0.0)), np.finfo(np.float64).tiny)
    if values.min(initial=0.0) < -PSD_TOLERANCE * scale:
        raise ValueError(f"covariance is not positive semi-definite: smallest eigenvalue {values.min():.3g}, "
                         f"largest {values.max():.3g}")
    return np.clip(values, 0.0, None), vectors


def spike_kernel(
    covariance: Array, beta: float, theta: float, samples: int, generator: torch.Generator, inputs: int = 1
) -> Array:
    r"""Monte Carlo estimate of :math:`K = E[S(h) S(h)^\top]` for :math:`h \sim \mathcal N(0, C)`
    (T × T), from ``samples`` sequences run through the LIF recurrence of :mod:`snnmath.lif`.
    With ``inputs`` > 1, h holds one neuron's currents under that many inputs one after the other
    (C is (inputs·T) × (inputs·T)) and each input's T steps are run separately."""
    noise = torch.randn(covariance.shape[0], samples, generator=generator, dtype=torch.float32)
    return _sample_kernel(covariance, beta, theta, noise, inputs)


@dataclass(frozen=True)
class KernelMap:
    """The kernels :math:`K_l` of layers 0 … depth−1 from independent replicas of the map."""

    kernels: NDArray[np.float64]
    """Shape ``(replicas, depth, T, T)``."""
    samples: int
    """Monte Carlo samples per layer and replica."""

    @property
    def rates(self) -> NDArray[np.float64]:
        """Rates :math:`K_l(t, t)`, shape ``(replicas, depth, T)``."""
        return np.diagonal(self.kernels, axis1=2, axis2=3)

    @property
    def rate(self) -> NDArray[np.float64]:
        """The replicas' mean rate per layer and step, ``(depth, T)``."""
        return self.rates.mean(axis=0)

    @property
    def spread(self) -> NDArray[np.float64]:
        """Standard error of :attr:`rate` from the spread of the replicas, ``(depth, T)``
        (the error of the map's own output, compounded over depth; NaN for one replica)."""
        replicas = self.kernels.shape[0]
        if replicas < 2:
            return np.full(self.rate.shape, np.nan)
        return self.rates.std(axis=0, ddof=1) / np.sqrt(replicas)


def kernel_depth_map(
    gain: float,
    beta: float,
    theta: float,
    steps: int,
    depth: int,
    *,
    input: str = "direct",
    input_variance: float = 1.0,
    input_rate: float | None = None,
    samples: int = 1 << 16,
    replicas: int = 4,
    seed: int = 0,
) -> KernelMap:
    r"""Iterate the kernel map :math:`C_{l+1} = c K_l` from layer 0's input over ``depth`` layers.

    Each of ``replicas`` independent runs of the map (seeds ``seed``, ``seed + 1``, …) draws
    ``samples`` current sequences per layer. ``input``, ``input_variance`` and ``input_rate``
    set :math:`C_0` (:func:`input_covariance`; rate coding uses ``gain`` for its weights).
    """
    c = real_scalar("gain", gain, low=0.0, low_open=True)
    b = real_scalar("beta", beta, low=0.0, high=1.0)
    th = real_scalar("theta", theta, low=0.0)
    t_steps = integer("steps", steps, low=1)
    layers = integer("depth", depth, low=1)
    m = integer("samples", samples, low=2, high=MAX_SAMPLES)
    r = integer("replicas", replicas, low=1)
    start = input_covariance(input, t_steps, variance=input_variance, rate=input_rate, gain=c)
    kernels = np.empty((r, layers, t_steps, t_steps))
    for replica in range(r):
        generator = torch.Generator().manual_seed(integer("seed", seed, low=0) + replica)
        covariance = start
        for layer in range(layers):
            kernels[replica, layer] = spike_kernel(covariance, b, th, m, generator)
            covariance = c * kernels[replica, layer]
    return KernelMap(kernels, m)


# --- fixed points over depth and the leak-aware scale ---------------------------------------
SILENT_RATE = 1e-4
"""A time-averaged rate below this counts as silence when following a fixed point over depth."""
FINITE_SAMPLES = 1 << 15
"""Current sequences per layer with which a fixed point over a window from rest is followed."""
MAX_LAYERS = 400
"""Layers after which a fixed point that has not settled counts as not converged."""
TOLERANCE = 1e-4
"""Relative change of the rate per layer, held for 5 layers running, at which a fixed point counts as settled."""
SETTLE_COUNTS = 4
"""A change of the rate by at most this many spike counts (of the M·W the rate is counted from) also counts as
settled: with the same draws at every layer the map is a map on counts, which can cycle by a count or two
where ``TOLERANCE`` times the rate is less than one count (low rates, few samples)."""


class KernelFixedPoint(NamedTuple):
    """Where the kernel map goes over depth at one gain, followed with common random numbers."""

    kernel: Array
    """The last kernel, T × T, which is the fixed point when ``converged``."""
    rate: float
    """Its time-averaged rate :math:`\\bar r = \\frac1W\\sum_t K(t, t)` over the last W steps
    (all T steps without a burn-in)."""
    layers: int
    """Layers iterated."""
    converged: bool
    """Whether :math:`\\bar r` settled (changed by less than ``tolerance`` times itself for 5 layers running)."""


def kernel_fixed_point(
    gain: float,
    beta: float,
    theta: float,
    start: Array,
    *,
    samples: int = FINITE_SAMPLES,
    seed: int = 0,
    max_layers: int = MAX_LAYERS,
    tolerance: float = TOLERANCE,
    burn_in: int = 0,
) -> KernelFixedPoint:
    r"""Iterate :math:`C \mapsto c\,K(C)` from the current covariance ``start`` until the
    time-averaged rate settles, with the same draws (:func:`window_noise`) at every layer. The rate is
    averaged over the steps after the first ``burn_in`` (all steps by default).

    With fixed draws the Monte Carlo map is one deterministic map (the sample-average map), so the
    iteration settles on its fixed point, within :math:`O(1/\sqrt{M})` of the exact one, instead of
    wandering with fresh noise at every layer; with the symmetric square root and the leading
    eigenvector's sign fixed (:func:`window_currents`) it is continuous in C where that eigenvalue is
    simple. The stratified leading direction removes most of the sampling spread of the time-averaged
    rate. Silence (a rate below ``SILENT_RATE``) ends the iteration.
    """
    c = real_scalar("gain", gain, low=0.0, low_open=True)
    b = real_scalar("beta", beta, low=0.0, high=1.0)
    th = real_scalar("theta", theta, low=0.0)
    m = integer("samples", samples, low=2, high=MAX_SAMPLES)
    covariance = np.asarray(start, dtype=np.float64)
    skip = integer("burn_in", burn_in, low=0, high=covariance.shape[0] - 1)
    noise = window_noise(covariance.shape[0], m, integer("seed", seed, low=0))
    return _follow(lambda cov: _window_kernel(cov, b, th, noise), lambda k: _window_rate(k, skip), c, covariance,
                   integer("max_layers", max_layers, low=1), tolerance, 1 / (m * (covariance.shape[0] - skip)))


def _follow(sample: Callable[[Array], Array], rate_of: Callable[[Array], float], gain: float, start: Array,
            max_layers: int, tolerance: float, count: float = 0.0) -> KernelFixedPoint:
    """Iterate ``kernel = sample(covariance)``, ``covariance = gain · kernel`` from ``start`` until the rate
    settles (changes by less than ``tolerance`` times itself, or by at most ``SETTLE_COUNTS`` times ``count``,
    the rate of one spike count, for 5 layers running) or falls silent."""
    covariance, rate, quiet = start, np.inf, 0
    for layer in range(1, max_layers + 1):
        kernel = sample(covariance)
        previous, rate = rate, rate_of(kernel)
        quiet = quiet + 1 if abs(rate - previous) < max(tolerance * rate, SETTLE_COUNTS * count) else 0
        if rate < SILENT_RATE or quiet >= 5:
            return KernelFixedPoint(kernel, rate, layer, True)
        covariance = gain * kernel
    return KernelFixedPoint(kernel, rate, layer, False)


def _window_rate(kernel: Array, burn_in: int) -> float:
    """Time-averaged rate of ``kernel`` over its steps after the first ``burn_in``."""
    return float(np.trace(kernel[burn_in:, burn_in:])) / (kernel.shape[0] - burn_in)


def _sample_kernel(covariance: Array, beta: float, theta: float, noise: torch.Tensor, inputs: int = 1) -> Array:
    """:math:`S S^\\top / M` of the LIF spikes for currents ``covariance_root(covariance) @ noise``, the
    rows holding ``inputs`` sequences of T steps one after the other, each run through the neuron."""
    potentials = torch.from_numpy(covariance_root(covariance)).to(torch.float32) @ noise
    return _coincidences(potentials, beta, theta, inputs)


def _coincidences(potentials: torch.Tensor, beta: float, theta: float, inputs: int = 1) -> Array:
    """:math:`S S^\\top / M` of the spikes of the neuron run on the M current sequences in the columns of
    ``potentials`` (overwritten), each column holding ``inputs`` sequences one after the other."""
    samples = potentials.shape[1]
    if inputs > 1:  # (inputs·T, M) → (T, inputs, M): time first, as lif_ runs
        potentials = potentials.reshape(inputs, -1, samples).transpose(0, 1).contiguous()
    spikes = torch.empty_like(potentials)
    lif_(potentials, spikes, beta, theta)
    if inputs > 1:
        spikes = spikes.transpose(0, 1).reshape(-1, samples)
    return (spikes @ spikes.T).double().numpy() / samples


class WindowNoise(NamedTuple):
    """The draws a fixed point's iteration on T × T kernels reuses at every layer (common random numbers)."""

    normal: torch.Tensor
    """Standard normals z, T × M (float32)."""
    leading: torch.Tensor
    """M standard-normal quantiles :math:`\\Phi^{-1}((i + 1/2)/M)` in a random order, for the component of
    z along the covariance's leading eigenvector (stratified, so that the neurons' slow offsets, which
    set most of the spread of their time-averaged rates, are integrated by quadrature, not sampled)."""


def window_noise(steps: int, samples: int, seed: int) -> WindowNoise:
    """The draws for ``samples`` current sequences of ``steps`` steps, from ``seed``."""
    m = integer("samples", samples, low=2, high=MAX_SAMPLES)
    generator = torch.Generator().manual_seed(integer("seed", seed, low=0))
    normal = torch.randn(integer("steps", steps, low=1), m, generator=generator, dtype=torch.float32)
    order = torch.randperm(m, generator=generator).numpy()
    return WindowNoise(normal, torch.from_numpy(ndtri((order + 0.5) / m).astype(np.float32)))


def window_currents(covariance: Array, noise: WindowNoise) -> torch.Tensor:
    r"""T × M current sequences :math:`h = A\tilde z` of covariance C (A its symmetric square root), with
    :math:`\tilde z = z - v\,(v^\top z) + v\,q`: the component of the normals z along C's leading
    eigenvector v (signed so that :math:`v^\top\mathbf 1 \ge 0`) replaced by the stratified quantiles q.
    Each column is :math:`\mathcal N(0, C)` up to the quadrature of q (in a random order, independent of z); along v the
    sample is a quadrature, :math:`h = \sqrt{\lambda_1}\,v\,q + A(z - v\,v^\top z)`."""
    values, vectors = _eigen(covariance)
    lead = vectors[:, -1] if vectors[:, -1].sum() >= 0 else -vectors[:, -1]
    v = torch.from_numpy(lead.astype(np.float32))[:, None]
    stratified = noise.normal + v * (noise.leading - v.T @ noise.normal)
    return torch.from_numpy(_symmetric_root(values, vectors).astype(np.float32)) @ stratified


def _window_kernel(covariance: Array, beta: float, theta: float, noise: WindowNoise) -> Array:
    """The sample kernel :math:`S S^\\top / M` of the neuron on :func:`window_currents`."""
    return _coincidences(window_currents(covariance, noise), beta, theta)


FOLD_MARGIN = 0.1
"""The default target is the first-step rate only where a gain at least ``1 + FOLD_MARGIN`` times
the fold gain holds it; else it is the rate held at that gain (a 10 % margin against a gain that
is too small)."""


class LeakAwareScale(NamedTuple):
    """The gain at which a time-averaged rate is a stable fixed point of the kernel map over depth."""

    gain: float
    """:math:`c = n\\,\\mathrm{Var}[w]`: the weight variance is ``gain / n``."""
    rate: float
    """The time-averaged rate that the gain holds, over the window of T steps from rest, or in the
    stationary limit (T = ∞) the stationary rate."""
    first_step_rate_held: bool
    """Whether that is the first-step rate :math:`Q(\\theta)` (the default target); False where
    no gain ``FOLD_MARGIN`` or more above the fold holds :math:`Q(\\theta)` and the default fell
    back to the rate at ``1 + FOLD_MARGIN`` times the fold gain."""
    fold_gain: float
    """The smallest gain at which the network, started from its input, settles on a non-silent
    fixed point (the fold); for a window from rest at least the first-step saddle-node gain."""
    fold_rate: float
    """The time-averaged rate at the fold; no gain holds a lower rate from that input."""
    margin: float
    """Distance from the fold, ``gain / fold_gain - 1``."""
    contraction: float
    """Leading eigenvalue (modulus) of the map's Jacobian at the fixed point, from the decay of a
    perturbation of the rate over depth: below 1 is stable, and 1/(1 − it) layers is its depth scale."""
    burn_in: int = 0
    """The steps from rest before the averaging window, 0 for a window of T steps from rest; in the
    stationary limit, the steps each current sequence of the stationary map runs before its window."""
    window: int | None = None
    """The steps the rate is averaged over after the burn-in, T for a finite window, the stationary
    map's window in the stationary limit (None, all steps)."""


def leak_aware_gain(
    beta: float,
    theta: float,
    steps: int | float,
    target_rate: float | None = None,
    *,
    burn_in: int = 0,
    samples: int | None = None,
    seed: int = 0,
) -> LeakAwareScale:
    r"""The gain that holds a time-averaged rate over a window of ``steps`` steps from rest as a
    stable fixed point of the kernel map over depth, with the fold below it and the contraction at it.

    ``burn_in`` > 0 runs the neurons that many steps from rest before the window (the map is
    iterated on kernels of ``burn_in + steps`` steps, the rate averaged over the last ``steps``).
    ``steps=math.inf`` is the stationary limit, a network driven long after rest
    (:func:`snnmath.theory.stationary_gain`, on the stationary kernel map).

    At every gain the map is iterated from the input a network gets (a constant current of unit
    variance into layer 0, direct encoding, from rest) to the fixed point it settles on, the one
    a deep network reaches (the map can have several stable fixed points; continuation from
    other gains can land on one the input never reaches). Its time-averaged rate
    :math:`\bar r(c)` rises with the gain and the branch ends at a fold :math:`(c_f, \bar r_f)`,
    below which the network falls silent. From rest the first step of every layer follows the
    first-step map, which dies out over depth below its saddle-node gain :math:`c_{sn}(\theta)`, and
    each later step starts from rest in turn and dies after it (an onset front that moves later with
    depth): every window from rest falls silent at infinite depth, so gains up to :math:`c_{sn}`
    count as silent without iterating (a finite iteration would count a slow front as settled), and
    :math:`c_f \ge c_{sn}`. The fold is found by bisection in log gain below
    :math:`c = 4/Q(\theta)` to a relative 1e-3, and :math:`\bar r(c) = \rho` by bisection to a
    relative 1e-4 in the gain.

    ``target_rate`` None asks for the first-step rate :math:`Q(\theta)` where the branch holds it
    at least ``FOLD_MARGIN`` above the fold gain, else for the rate at ``1 + FOLD_MARGIN`` times
    the fold gain (``first_step_rate_held`` says which): near the fold the rate changes steeply
    with the gain and a network settles only over very many layers, so a target there is useless
    in practice. An explicit target outside the branch's range is refused with a ``ValueError`` that
    offers the range. ``samples`` (current sequences per layer) defaults to ``FINITE_SAMPLES`` for a
    window and to ``STATIONARY_SAMPLES`` for the stationary limit. Deterministic for a given
    ``samples`` and ``seed``.
    """
    b = real_scalar("beta", beta, low=0.0, high=1.0)
    th = real_scalar("theta", theta, low=0.0, low_open=True)
    window = window_steps("steps", steps)
    if not math.isfinite(window):
        return stationary_gain(b, th, target_rate, seed=seed, **({} if samples is None else {"samples": samples}))
    t_steps = int(window)
    skip = integer("burn_in", burn_in, low=0)
    m = FINITE_SAMPLES if samples is None else integer("samples", samples, low=2, high=MAX_SAMPLES)
    noise = window_noise(skip + t_steps, m, integer("seed", seed, low=0))

    def sample(covariance: Array) -> Array:
        return _window_kernel(covariance, b, th, noise)

    def rate_of(kernel: Array) -> float:
        return _window_rate(kernel, skip)

    saddle_node = float(saddle_node_gain(th))

    def follow(c: float) -> KernelFixedPoint:
        if c <= saddle_node:  # the onset front: silent at infinite depth
            return KernelFixedPoint(np.zeros((skip + t_steps, skip + t_steps)), 0.0, 0, True)
        return _follow(sample, rate_of, c, input_covariance("direct", skip + t_steps), MAX_LAYERS, TOLERANCE,
                       1 / (m * t_steps))

    scale = _scale(follow, lambda c, point: _contraction(sample, rate_of, c, point), th, target_rate,
                   f"beta={b}, theta={th}, steps={t_steps}")
    return scale._replace(burn_in=skip, window=t_steps)


def _scale(follow: Callable[[float], KernelFixedPoint], contraction: Callable[[float, KernelFixedPoint], float],
           theta: float, target_rate: float | None, setting: str) -> LeakAwareScale:
    """The fold, the target (:func:`leak_aware_gain`'s default or ``target_rate``), the gain that holds it and
    the contraction there, for a map whose fixed point at gain c from the input is ``follow(c)``."""
    if target_rate is not None:
        real_scalar("target_rate", target_rate, low=0.0, high=1.0, low_open=True)
    high_gain = 4.0 * float(weight_variance(1, theta))
    high = follow(high_gain)
    if not _alive(high):
        raise ValueError(f"no stable non-silent fixed point at gain {high_gain:.4g} for {setting}")
    fold_gain, fold = _fold(follow, high_gain, high)
    margin = follow((1 + FOLD_MARGIN) * fold_gain)
    if not _alive(margin) or margin.rate < fold.rate:
        raise ValueError(f"the fixed points reached from the input do not rise with the gain above the fold at "
                         f"{setting}: gain {fold_gain:.4g} holds rate {fold.rate:.4g} but {1 + FOLD_MARGIN:g} times "
                         f"it {'falls silent' if not _alive(margin) else f'holds {margin.rate:.4g}'}, so the set of "
                         "gains that stay active is not one interval and no fold can be given")
    first_step = float(spike_probability(theta))
    held = target_rate is None and margin.rate <= first_step <= high.rate
    rho = float(target_rate) if target_rate is not None else first_step if held else margin.rate
    if not fold.rate <= rho <= high.rate:
        raise ValueError(f"target_rate={rho:.4g} cannot be held stably at {setting}: the rates held stably range "
                         f"from {fold.rate:.4g} (the fold, gain {fold_gain:.4g}) to {high.rate:.4g} (gain "
                         f"{high_gain:.4g}); ask for a target_rate in that range")
    low_gain, upper_gain, upper = fold_gain, high_gain, high
    while upper_gain / low_gain - 1 > 1e-4:
        mid = float(np.sqrt(low_gain * upper_gain))
        point = follow(mid)
        if _alive(point) and point.rate >= rho:
            upper_gain, upper = mid, point
        else:
            low_gain = mid
    return LeakAwareScale(upper_gain, upper.rate, held, fold_gain, fold.rate, upper_gain / fold_gain - 1,
                          contraction(upper_gain, upper))


# --- the stationary limit T = ∞ ---------------------------------------------------------------
STATIONARY_SAMPLES = 1 << 12
"""Current sequences per layer of the stationary map (each gives a window of steps)."""
STATIONARY_MAX_BETA = 0.99
"""The largest leak of the stationary map (its burn-in and lags grow as 1/(1 − β))."""


FORGOTTEN = 1e-4
"""The stationary map's burn-in runs until :math:`\\beta^t` falls below this: the start at rest is forgotten."""
MIN_LAGS, TIME_CONSTANTS, WINDOW_LAGS = 32, 5, 4
"""The stationary map keeps at least ``MIN_LAGS`` lags and ``TIME_CONSTANTS`` membrane time constants
:math:`1/(1-\\beta)`, and averages the autocorrelation over a window of ``WINDOW_LAGS`` times the lags."""


def stationary_steps(beta: float) -> tuple[int, int, int]:
    r"""``(burn_in, lags, window)`` of the stationary map at leak β: the burn-in is the first t with
    :math:`\beta^t <` ``FORGOTTEN`` (the neuron has forgotten its start at rest; 1 at β = 0); the lags L
    are the power of two at least :math:`\max(32, 5/(1-\beta))` (``MIN_LAGS``, ``TIME_CONSTANTS``),
    beyond which the autocorrelation counts as constant; the window is 4L (``WINDOW_LAGS``)."""
    b = real_scalar("beta", beta, low=0.0, high=STATIONARY_MAX_BETA)
    burn_in = 1 if b == 0 else max(1, math.ceil(math.log(FORGOTTEN) / math.log(b)))
    lags = 1 << math.ceil(math.log2(max(MIN_LAGS, TIME_CONSTANTS / (1.0 - b))))
    return burn_in, lags, WINDOW_LAGS * lags


def circulant_spectrum(current: Array, size: int) -> Array:
    r"""Eigenvalues :math:`\lambda_k = \sum_\tau \gamma(\tau)\,e^{-2\pi i k\tau/F}` (k = 0 … F/2) of the
    circulant of F = ``size`` steps whose autocovariance is :math:`\gamma(\tau) = C(\tau) - C_\infty` for
    :math:`|\tau| < L` and 0 beyond, for ``current`` = :math:`[C(0), \dots, C(L-1), C_\infty]`; all are ≥ 0 exactly
    where that circulant is a covariance."""
    lags = len(current) - 1
    autocovariance = np.zeros(size)
    autocovariance[:lags] = current[:-1] - current[-1]
    autocovariance[size - lags + 1:] = autocovariance[1:lags][::-1]
    return np.fft.rfft(autocovariance).real


class StationaryNoise(NamedTuple):
    """The draws the stationary map reuses at every layer (common random numbers)."""

    spectral: torch.Tensor
    """Complex standard normals, (F/2 + 1) × M for a circulant of F steps, for the fluctuating part."""
    constant: torch.Tensor
    """M standard-normal quantiles :math:`\\Phi^{-1}((i + 1/2)/M)` in a random order, for the constant
    part (stratified, so that the neurons' quenched offsets are integrated by quadrature, not sampled)."""


def stationary_noise(steps: int, samples: int, seed: int) -> StationaryNoise:
    """Draws for current sequences of ``steps`` steps (the circulant is the next power of two)."""
    m = integer("samples", samples, low=2, high=MAX_SAMPLES)
    size = 1 << math.ceil(math.log2(integer("steps", steps, low=2)))
    generator = torch.Generator().manual_seed(integer("seed", seed, low=0))
    spectral = torch.complex(*torch.randn(2, size // 2 + 1, m, generator=generator, dtype=torch.float32))
    order = torch.randperm(m, generator=generator).numpy()
    constant = torch.from_numpy(ndtri((order + 0.5) / m).astype(np.float32))
    return StationaryNoise(spectral, constant)


def stationary_currents(current: Array, noise: StationaryNoise, steps: int) -> torch.Tensor:
    r"""``steps`` × M current sequences :math:`h = \sqrt{C_\infty}\,z_0 + g` of the stationary autocovariance
    ``current`` = :math:`[C(0), \dots, C(L-1), C_\infty]` (C(τ) = :math:`C_\infty` from lag L on), g by
    circulant embedding with :func:`circulant_spectrum`'s negative eigenvalues set to 0 (the nearest
    positive semi-definite circulant): exact where none is negative and ``steps`` + L ≤ F."""
    size = 2 * (noise.spectral.shape[0] - 1)
    spectrum = circulant_spectrum(current, size)
    amplitude = np.sqrt(spectrum.clip(0.0, None) * size / 2)
    amplitude[[0, -1]] *= np.sqrt(2)  # irfft keeps only the real part of these two bins
    fluctuation = torch.fft.irfft(torch.from_numpy(amplitude.astype(np.float32))[:, None] * noise.spectral, n=size,
                                  dim=0)
    return (fluctuation[:steps] + math.sqrt(current[-1]) * noise.constant).contiguous()


def stationary_kernel(current: Array, beta: float, theta: float, noise: StationaryNoise, burn_in: int,
                      window: int) -> Array:
    r"""One layer of the stationary kernel map: the spikes' autocorrelation from the currents'.

    ``current`` is :math:`[C(0), \dots, C(L-1), C_\infty]`, the currents' autocovariance at lags
    0 … L−1 and at every longer lag, drawn by :func:`stationary_currents` (the repair of a negative
    spectrum, from the truncation at L lags, is large on the periodic firing of the first layers and
    small at a fixed point, where the autocorrelation has decayed by L lags). Each of the M sequences
    runs through the neuron for ``burn_in + window`` steps from rest, and over the window

    .. math::
        K(\tau) = \frac{1}{M}\sum_{m} \frac{1}{W - \tau}\sum_{t=0}^{W-1-\tau} s_m(t)\,s_m(t + \tau),

    for τ < 2L (unbiased in τ); the result is :math:`[K(0), \dots, K(L-1), K_\infty]` with
    :math:`K_\infty` the mean of K over lags L … 2L−1.
    """
    current = np.asarray(current, dtype=np.float64)
    lags, size, samples = current.size - 1, 2 * (noise.spectral.shape[0] - 1), noise.constant.shape[0]
    if not np.all(np.isfinite(current)) or current[-1] < 0 or burn_in + window + lags > size or window < 2 * lags:
        raise ValueError(f"need a finite current with C_inf >= 0 (got {current[-1]:.3g}), window >= 2 lags and "
                         f"burn_in + window + lags <= {size} steps (got {burn_in}, {window}, {lags})")
    potentials = stationary_currents(current, noise, burn_in + window)
    spikes = torch.empty_like(potentials)
    lif_(potentials, spikes, beta, theta)
    transform = torch.fft.rfft(spikes[burn_in:], n=2 * window, dim=0)
    products = torch.fft.irfft(transform.abs().square(), n=2 * window, dim=0)[:2 * lags].double().sum(dim=1).numpy()
    autocorrelation = products / ((window - np.arange(2 * lags)) * samples)
    return np.append(autocorrelation[:lags], autocorrelation[lags:].mean())


def stationary_fixed_point(gain: float, beta: float, theta: float, *, samples: int = STATIONARY_SAMPLES,
                           seed: int = 0) -> KernelFixedPoint:
    r"""The stationary kernel map :math:`C \mapsto c\,K(C)` (:func:`stationary_kernel`) iterated over depth
    from direct input (a constant current of unit variance, :math:`C(\tau) = C_\infty = 1`) until the
    stationary rate :math:`K(0)` settles, with the same draws at every layer. The kernel of the result is
    :math:`[K(0), \dots, K(L-1), K_\infty]`."""
    c = real_scalar("gain", gain, low=0.0, low_open=True)
    b = real_scalar("beta", beta, low=0.0, high=STATIONARY_MAX_BETA)
    th = real_scalar("theta", theta, low=0.0)
    m = integer("samples", samples, low=2, high=MAX_SAMPLES)
    sample, rate_of, start = _stationary_map(b, th, m, seed)
    return _follow(sample, rate_of, c, start, MAX_LAYERS, TOLERANCE, 1 / (m * stationary_steps(b)[2]))


def _stationary_map(beta: float, theta: float, samples: int, seed: int) -> tuple[Callable[[Array], Array],
                                                                               Callable[[Array], float], Array]:
    burn_in, lags, window = stationary_steps(beta)
    noise = stationary_noise(burn_in + window + lags, samples, seed)

    def sample(current: Array) -> Array:
        return stationary_kernel(current, beta, theta, noise, burn_in, window)

    return sample, lambda kernel: float(kernel[0]), np.ones(lags + 1)


def stationary_gain(beta: float, theta: float, target_rate: float | None = None, *,
                    samples: int = STATIONARY_SAMPLES, seed: int = 0) -> LeakAwareScale:
    r"""The leak-aware gain in the stationary limit T → ∞, a network driven long after rest: the gain
    at which the target (as :func:`snnmath.theory.leak_aware_gain` chooses it) is the stationary rate
    :math:`K(0)` of a stable fixed point of the stationary kernel map over depth
    (:func:`stationary_fixed_point`), with its fold and contraction; ``burn_in`` and ``window`` are the
    map's (:func:`stationary_steps`).

    A window from rest cannot reach this limit by growing: in a deep network the first spikes of layer
    l come later than those of layer l − 1 wherever the gain is below the first-step fold, so the
    fixed point over depth of a window from rest is silence there however late the window; the
    stationary map has no start and no such front.
    """
    b = real_scalar("beta", beta, low=0.0, high=STATIONARY_MAX_BETA)
    th = real_scalar("theta", theta, low=0.0, low_open=True)
    m = integer("samples", samples, low=2, high=MAX_SAMPLES)
    sample, rate_of, start = _stationary_map(b, th, m, integer("seed", seed, low=0))
    burn_in, _, window = stationary_steps(b)

    def follow(c: float) -> KernelFixedPoint:
        return _follow(sample, rate_of, c, start, MAX_LAYERS, TOLERANCE, 1 / (m * window))

    scale = _scale(follow, lambda c, point: _contraction(sample, rate_of, c, point), th, target_rate,
                   f"beta={b}, theta={th}, steps=inf")
    return scale._replace(burn_in=burn_in, window=window)


def _alive(point: KernelFixedPoint) -> bool:
    return point.converged and point.rate >= SILENT_RATE


def _fold(follow: Callable[[float], KernelFixedPoint], gain: float,
          point: KernelFixedPoint) -> tuple[float, KernelFixedPoint]:
    """Bisect (in log gain, to a relative 1e-3) for the smallest gain at which the network, started
    from its input, settles on a non-silent fixed point."""
    dead_gain = gain / 2
    while _alive(candidate := follow(dead_gain)):
        gain, point, dead_gain = dead_gain, candidate, dead_gain / 2
        if dead_gain < 1e-6:
            raise ValueError("the fixed points reached from the input reach no fold above gain 1e-6")
    while gain / dead_gain - 1 > 1e-3:
        mid = float(np.sqrt(gain * dead_gain))
        candidate = follow(mid)
        if _alive(candidate):
            gain, point = mid, candidate
        else:
            dead_gain = mid
    return gain, point


def _contraction(sample: Callable[[Array], Array], rate_of: Callable[[Array], float], gain: float,
                 point: KernelFixedPoint, kick: float = 1.25, layers: int = 12) -> float:
    """Leading eigenvalue modulus from how a rate perturbation (the fixed point's covariance
    ×``kick``) decays over depth, with the fixed point's own draws: the median ratio of
    successive deviations of the time-averaged rate from the fixed point's."""
    covariance, deviations = kick * gain * point.kernel, []
    for _ in range(layers):
        kernel = sample(covariance)
        deviations.append(rate_of(kernel) - point.rate)
        covariance = gain * kernel
    ratios = [abs(b / a) for a, b in itertools.pairwise(deviations) if abs(a) > 1e-3 * point.rate]
    return float(np.median(ratios)) if ratios else float("nan")


TABLE = Path(__file__).resolve().parents[1] / "tables" / "leak_aware.json"
"""The tabulated leak-aware scales (``scripts/leak_aware_table.py`` writes it, with provenance)."""


def table_steps(value: int | str) -> int | float:
    """A table row's ``steps`` as the API takes it: the string ``"inf"`` (JSON has no infinity) is ``math.inf``."""
    return math.inf if value == "inf" else int(value)


@cache
def _tabulated() -> dict[tuple[float, float, int | float], LeakAwareScale]:
    if not TABLE.exists():
        return {}
    found = {}
    for row in json.loads(TABLE.read_text())["entries"]:
        steps = table_steps(row["steps"])
        row = {"burn_in": 0, "window": steps} | row  # rows of a finite window from rest may omit them
        found[row["beta"], row["theta"], steps] = LeakAwareScale(*(row.get(f) for f in LeakAwareScale._fields))
    return found


@cache
def leak_aware_scale(beta: float, theta: float, steps: int | float) -> LeakAwareScale:
    """:func:`snnmath.theory.leak_aware_gain` for its default target, read from the table ``TABLE`` where (β, θ, T) is
    tabulated (β ∈ {0.5, 0.8, 0.9, 0.95}, θ ∈ {0.5, 1}, T ∈ {10, 25, 100, ∞}; ``steps=math.inf`` is the stationary
    limit), else computed with the default seed and sample counts (deterministic; tens of seconds on a laptop's CPU
    for a finite window, from seconds to minutes for the stationary limit as β grows; cached)."""
    b = real_scalar("beta", beta, low=0.0, high=1.0)
    th = real_scalar("theta", theta, low=0.0, low_open=True)
    t_steps = window_steps("steps", steps)
    found = _tabulated().get((b, th, t_steps))
    return found if found is not None else leak_aware_gain(b, th, t_steps)
