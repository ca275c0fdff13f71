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
as :math:`h = A z` with :math:`A A^\top = C` from the eigendecomposition of C. Spikes are
0/1, so :math:`S S^\top` counts coincidences exactly in float32 (up to 2²⁴ samples) and the
only error is the sampling error. It compounds over depth where the map is nearly marginal,
so :func:`kernel_depth_map` runs independent ``replicas`` of the whole map and reports their
spread at every layer, which measures the error of the map's output itself.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from numpy.typing import NDArray

from .._validate import integer, real_scalar
from ..lif import lif_
from ._common import Array

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
    r"""A matrix A with :math:`A A^\top = C`, from the eigendecomposition of the symmetric C.

    Eigenvalues within rounding of zero (above ``-PSD_TOLERANCE`` times the largest) are set
    to 0; a clearly negative one raises ``ValueError``: C is not a covariance.
    """
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
    return vectors * np.sqrt(np.clip(values, 0.0, None))


def spike_kernel(
    covariance: Array, beta: float, theta: float, samples: int, generator: torch.Generator
) -> Array:
    r"""Monte Carlo estimate of :math:`K = E[S(h) S(h)^\top]` for :math:`h \sim \mathcal N(0, C)`
    (T × T), from ``samples`` sequences run through the LIF recurrence of :mod:`snnmath.lif`."""
    root = torch.from_numpy(covariance_root(covariance)).to(torch.float32)
    t_steps = root.shape[0]
    noise = torch.randn(t_steps, samples, generator=generator, dtype=torch.float32)
    potentials = root @ noise
    spikes = torch.empty_like(potentials)
    lif_(potentials, spikes, beta, theta)
    return (spikes @ spikes.T).double().numpy() / samples


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
