r"""In-place weight initialisers in the style of ``torch.nn.init``.

Each takes a weight ``tensor`` (Linear: ``(out, in)``; Conv: ``(out, in, *kernel)``), an
optional ``torch.Generator``, fills the tensor and returns it. The fan-in is
``in * prod(kernel)``. The weight variances (THEORY.md §4), all from :func:`variance_of`:

=========================  =========================================================
``snn_normal_``            :math:`V/(n\,Q(\theta/\sqrt V))`, the proposed scale
``kaiming_normal_``        :math:`2/n_{in}` (He et al. 2015)
``glorot_normal_``         :math:`2/(n_{in}+n_{out})` (Glorot & Bengio 2010)
``pytorch_default_``       uniform on :math:`\pm 1/\sqrt{n_{in}}`, variance :math:`1/(3n_{in})`
``fluctuation_driven_``    Rossbroich, Gygax & Zenke (2022), see its docstring
=========================  =========================================================
"""

from __future__ import annotations

import math
from typing import Callable

import torch

from . import theory
from ._checks import integer, real_scalar

Initialiser = Callable[[torch.Tensor, "torch.Generator | None"], torch.Tensor]
NAMES = ("snn", "kaiming", "glorot", "pytorch", "fluctuation")
"""The initialisers :func:`for_threshold` knows, by name."""


def fans(tensor: torch.Tensor) -> tuple[int, int]:
    """``(fan_in, fan_out)`` of a Linear or Conv weight: ``in·k…`` and ``out·k…``."""
    if tensor.dim() < 2:
        raise ValueError(f"tensor must have at least 2 dimensions (out, in, ...), got shape {tuple(tensor.shape)}")
    receptive = math.prod(tensor.shape[2:])
    return tensor.shape[1] * receptive, tensor.shape[0] * receptive


def psp_integrals(beta: float) -> tuple[float, float]:
    r"""Integrals of the discrete PSP kernel :math:`\varepsilon[t] = \beta^t`:
    :math:`\bar\varepsilon = \sum_t \beta^t = 1/(1-\beta)` and
    :math:`\hat\varepsilon = \sum_t \beta^{2t} = 1/(1-\beta^2)` (β < 1)."""
    b = real_scalar("beta", beta, low=0.0, high=1.0)
    if b == 1.0:
        raise ValueError("beta must be < 1 for the fluctuation-driven scale (the PSP kernel does not decay at beta = 1)")
    return 1.0 / (1.0 - b), 1.0 / (1.0 - b * b)


def fluctuation_moments(
    fan_in: int, threshold: float = 1.0, beta: float = 0.5, mean: float = 0.0, xi: float = 1.0,
    rate: float | None = None,
) -> tuple[float, float]:
    r"""Weight mean and variance of Rossbroich, Gygax & Zenke (2022) for this book's neuron.

    Inputs firing at ``rate`` ν per step drive a membrane with PSP kernel β^t (reset
    ignored). Asking for membrane mean :math:`\mu_U` = ``mean`` and standard deviation
    :math:`\sigma_U = (\theta-\mu_U)/\xi` gives

    .. math::  \mu_w = \frac{\mu_U}{n\nu\bar\varepsilon}, \qquad
               \sigma_w^2 = \frac{((\theta-\mu_U)/\xi)^2}{n\nu\hat\varepsilon} - \mu_w^2 .

    Defaults: :math:`\mu_U = 0`, ξ = 1 (σ_U = θ) and ν = Q(ξ), the rate such a membrane
    itself produces at its first step, so that the choice is self-consistent over depth.
    At β = 0 with ξ = θ this is exactly the proposed scale.
    """
    n = integer("fan_in", fan_in, low=1)
    th = real_scalar("threshold", threshold, low=0.0)
    mu = real_scalar("mean", mean)
    if mu >= th:
        raise ValueError(f"mean must be below the threshold {th} (fluctuation-driven regime), got {mean!r}")
    x = real_scalar("xi", xi, low=0.0, low_open=True)
    nu = float(theory.spike_probability(x)) if rate is None else real_scalar("rate", rate, low=0.0, high=1.0, low_open=True)
    eps_bar, eps_hat = psp_integrals(beta)
    mean_w = mu / (n * nu * eps_bar)
    variance = ((th - mu) / x) ** 2 / (n * nu * eps_hat) - mean_w**2
    if variance < 0:
        raise ValueError("mean is too large for these parameters: the weight variance would be negative")
    return mean_w, variance


def variance_of(name: str, fan_in: int, fan_out: int, threshold: float = 1.0, beta: float = 0.5) -> float:
    """Weight variance of the initialiser ``name`` (one of :data:`NAMES`) for a layer."""
    n_in = integer("fan_in", fan_in, low=1)
    n_out = integer("fan_out", fan_out, low=1)
    rules: dict[str, Callable[[], float]] = {
        "snn": lambda: float(theory.weight_variance(n_in, threshold)),
        "kaiming": lambda: 2.0 / n_in,
        "glorot": lambda: 2.0 / (n_in + n_out),
        "pytorch": lambda: 1.0 / (3.0 * n_in),
        "fluctuation": lambda: fluctuation_moments(n_in, threshold, beta)[1],
    }
    if name not in rules:
        raise ValueError(f"name must be one of {', '.join(map(repr, NAMES))}; got {name!r}")
    return rules[name]()


@torch.no_grad()
def normal_(
    tensor: torch.Tensor, variance: float, generator: torch.Generator | None = None, mean: float = 0.0
) -> torch.Tensor:
    """Fill with :math:`\\mathcal N(\\mathrm{mean}, \\mathrm{variance})`."""
    var = real_scalar("variance", variance, low=0.0)
    return tensor.normal_(real_scalar("mean", mean), math.sqrt(var), generator=generator)


def gain_normal_(tensor: torch.Tensor, gain: float, generator: torch.Generator | None = None) -> torch.Tensor:
    """Normal weights with :math:`\\mathrm{Var}[w] = c/n_{in}` for a given gain c = n·Var[w]."""
    c = real_scalar("gain", gain, low=0.0, low_open=True)
    return normal_(tensor, c / fans(tensor)[0], generator)


def snn_normal_(
    tensor: torch.Tensor,
    threshold: float = 1.0,
    target_variance: float = 1.0,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    r"""The proposed scale, normal: :math:`\mathrm{Var}[w] = V/(n\,Q(\theta/\sqrt V))`."""
    th = real_scalar("threshold", threshold, low=0.0)
    variance = float(theory.weight_variance(fans(tensor)[0], th, target_variance))
    return normal_(tensor, variance, generator)


def kaiming_normal_(tensor: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """He et al. (2015): :math:`\\mathrm{Var}[w] = 2/n_{in}`."""
    return normal_(tensor, variance_of("kaiming", *fans(tensor)), generator)


def glorot_normal_(tensor: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """Glorot & Bengio (2010): :math:`\\mathrm{Var}[w] = 2/(n_{in}+n_{out})`."""
    return normal_(tensor, variance_of("glorot", *fans(tensor)), generator)


@torch.no_grad()
def pytorch_default_(tensor: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """PyTorch's default for Linear/Conv: uniform on :math:`\\pm b` with variance b²/3 = 1/(3n)."""
    bound = math.sqrt(3.0 * variance_of("pytorch", *fans(tensor)))
    return tensor.uniform_(-bound, bound, generator=generator)


def fluctuation_driven_(
    tensor: torch.Tensor,
    threshold: float = 1.0,
    beta: float = 0.5,
    mean: float = 0.0,
    xi: float = 1.0,
    rate: float | None = None,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Normal weights with the moments of :func:`fluctuation_moments`."""
    mean_w, variance = fluctuation_moments(fans(tensor)[0], threshold, beta, mean, xi, rate)
    return normal_(tensor, variance, generator, mean=mean_w)


def for_threshold(name: str, threshold: float = 1.0, beta: float = 0.5) -> Initialiser:
    """The initialiser ``name`` (one of :data:`NAMES`) as ``f(tensor, generator)``, for a
    network with this threshold and leak."""
    table: dict[str, Initialiser] = {
        "snn": lambda tensor, generator=None: snn_normal_(tensor, threshold, generator=generator),
        "kaiming": kaiming_normal_,
        "glorot": glorot_normal_,
        "pytorch": pytorch_default_,
        "fluctuation": lambda tensor, generator=None: fluctuation_driven_(tensor, threshold, beta, generator=generator),
    }
    if name not in table:
        raise ValueError(f"name must be one of {', '.join(map(repr, NAMES))}; got {name!r}")
    return table[name]
