r"""The pixel-driven first layer: exact spike trains of input neurons and the scale that follows.

An input neuron driven by a constant pixel intensity x fires a deterministic train, so the
data-averaged rate of the input layer follows exactly from the histogram of pixel levels,
and so does the first-layer weight variance that hands the target variance to the next layer.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from typing import Any

import numpy as np
import sympy as sp
import torch
from numpy.typing import ArrayLike, NDArray

from .. import symbolic as sym
from .._validate import integer, real_array, real_scalar
from ..lif import lif_layer
from ._common import Array, compile_expression, compiled, finite_result, thresholds

_IMAGE_BLOCK = 4096
"""Images per block when counting levels (bounds the memory of per-image histograms)."""


def first_spike_intensity(beta: ArrayLike, theta: ArrayLike, step: ArrayLike) -> Array:
    r"""Smallest intensity that makes an input neuron spike by step t,
    :math:`x^*(t) = \theta(1-\beta)/(1-\beta^{t+1})` (θ/(t+1) at β = 1): it first spikes at the
    first t with :math:`x > x^*(t)` (:func:`snnmath.symbolic.first_spike_intensity`). Broadcasts."""
    b = real_array("beta", beta, low=0.0, high=1.0)
    th = thresholds(theta)
    t = real_array("step", step, low=0.0)
    if np.any(t != np.round(t)):
        raise ValueError(f"step must be an integer >= 0, got {step!r}")
    with np.errstate(divide="ignore", invalid="ignore"):  # the β ≠ 1 branch is evaluated at β = 1 too
        value = compiled(sym.first_spike_intensity, sym.beta, sym.theta, sym.step)(b, th, t)
    return np.broadcast_to(np.asarray(value, dtype=np.float64), np.broadcast(b, th, t).shape).copy()


def input_spike_trains(intensities: ArrayLike, beta: float, theta: float, steps: int) -> NDArray[np.bool_]:
    r"""Spike trains ``(T, *intensities.shape)`` of input neurons with constant currents x in [0, 1].

    :math:`u[t] = \beta u[t-1] + x - \theta s[t-1]`, :math:`s[t] = H(u[t]-\theta)`, u[-1] = s[-1] = 0,
    run by the simulator's own recurrence (:func:`snnmath.lif.lif_layer`, float32), so the
    trains agree bit for bit with the simulator's. That matters at β = 1, where u is a multiple of
    a pixel level and can land exactly on θ: in exact arithmetic such a neuron does not spike, in
    float32 it may.
    """
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
        return np.where(mean > 0, compiled(sym.scale_mixture_kurtosis, *sym.COUNT_MOMENTS)(mean, second), np.nan)


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
    return float(compiled(sym.first_layer_weight_variance, sym.V, sym.n, sym.mean_input_rate)(var, pixels, rate))


def silent_intensity(beta: ArrayLike, theta: ArrayLike) -> Array:
    r"""Intensity at or below which an input neuron never spikes,
    :math:`\lim_{t\to\infty} x^*(t) = \theta(1-\beta)` (:func:`snnmath.symbolic.silent_intensity`):
    the bound :math:`x/(1-\beta)` of the free potential reaching θ. At β = 1 it is 0, the limit of
    θ/(t+1) too: a perfect integrator spikes for every x > 0. Broadcasts."""
    b = real_array("beta", beta, low=0.0, high=1.0)
    th = thresholds(theta)
    value = compiled(sym.silent_intensity, sym.beta, sym.theta)(b, th) + 0.0  # + 0.0: no -0.0 at β = 1
    return np.broadcast_to(np.asarray(value, dtype=np.float64), np.broadcast(b, th).shape).copy()


def paper_scale_current_variance(rate: ArrayLike, theta: ArrayLike) -> Array:
    r"""Current variance :math:`E[I_1[t]^2] = p_0[t]/Q(\theta)` that the paper's scale
    :math:`1/(n\,Q(\theta))` hands to the first hidden layer when the input layer fires at rate
    :math:`p_0[t]` (:func:`snnmath.symbolic.paper_scale_current_variance`); one only if
    :math:`p_0[t] = Q(\theta)`. ``rate`` may be the per-step rates of :func:`input_layer_rates` or
    their time average :math:`\bar p_0` (the variance pooled over the steps). Broadcasts."""
    p = real_array("rate", rate, low=0.0, high=1.0)
    th = thresholds(theta)
    with np.errstate(over="ignore"):
        return finite_result(_paper_scale_current_variance()(p, th), "paper_scale_current_variance")


@cache
def _paper_scale_current_variance() -> Callable[..., Any]:
    rate = sp.Symbol("p", nonnegative=True)
    form = sym.paper_scale_current_variance().subs(sym.input_rate[sym.step], rate)
    return compile_expression(form, rate, sym.theta)
