r"""Convolutions at the first time step: the per-position variance map and the border.

A neuron at position (i, j) of a k×k convolution with zero padding has
:math:`C_{in}\,t(i)\,t(j)` in-image inputs (:func:`snnmath.symbolic.taps_inside`), so its
variance map carries the factor :math:`t(i)t(j)/k^2` of the border; circular padding has none.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from typing import Any

import numpy as np
import sympy as sp
from numpy.typing import ArrayLike

from .. import symbolic as sym
from .._validate import integer, real_array, real_scalar
from ._common import Array, compile_expression
from .first_step import spike_probability

PADDINGS = ("zeros", "circular")
"""Padding modes of :func:`conv_variance_maps` (as in ``torch.nn.Conv2d``'s ``padding_mode``)."""


@cache
def _conv_tap_weight() -> Callable[..., Any]:
    weight = sp.simplify(sym.conv_tap_contribution() / sym.second_moment_of_spike())
    return compile_expression(weight, sym.gain, sym.kernel_size)


@cache
def _taps_inside() -> Callable[..., Any]:
    return compile_expression(sym.taps_inside(sym.row, sym.height), sym.row, sym.height, sym.kernel_size)


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
