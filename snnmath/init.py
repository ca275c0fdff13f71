r"""In-place weight initialisers in the style of ``torch.nn.init``.

Each takes a weight ``tensor`` (Linear: ``(out, in)``; Conv: ``(out, in, *kernel)``), an
optional ``torch.Generator``, fills the tensor and returns it. The fan-in is
``in * prod(kernel)``. The variances are those of THEORY.md §4:

==================  ==========================================================
``snn_normal_``     :math:`V/(n\,Q(\theta/\sqrt V))` (the proposed scale)
``kaiming_normal_`` :math:`2/n_{in}`
``glorot_normal_``  :math:`2/(n_{in}+n_{out})`
``pytorch_default_`` uniform on :math:`\pm 1/\sqrt{n_{in}}`, variance :math:`1/(3n_{in})`
``fluctuation_driven_``  Rossbroich, Gygax & Zenke (2022), see its docstring
==================  ==========================================================
"""

from __future__ import annotations

import math
from typing import Callable

import torch

from . import theory
from ._checks import real_scalar

Initialiser = Callable[[torch.Tensor, "torch.Generator | None"], torch.Tensor]


def fans(tensor: torch.Tensor) -> tuple[int, int]:
    """``(fan_in, fan_out)`` of a Linear or Conv weight: ``in·k…`` and ``out·k…``."""
    if tensor.dim() < 2:
        raise ValueError(f"tensor must have at least 2 dimensions (out, in, ...), got shape {tuple(tensor.shape)}")
    receptive = math.prod(tensor.shape[2:])
    return tensor.shape[1] * receptive, tensor.shape[0] * receptive


@torch.no_grad()
def normal_(tensor: torch.Tensor, variance: float, generator: torch.Generator | None = None) -> torch.Tensor:
    """Fill with :math:`\\mathcal N(0, \\mathrm{variance})`."""
    var = real_scalar("variance", variance, low=0.0)
    return tensor.normal_(0.0, math.sqrt(var), generator=generator)


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
    variance = float(theory.weight_variance(fans(tensor)[0], threshold, target_variance))
    return normal_(tensor, variance, generator)


def kaiming_normal_(tensor: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """He et al. (2015): :math:`\\mathrm{Var}[w] = 2/n_{in}`."""
    return normal_(tensor, 2.0 / fans(tensor)[0], generator)


def glorot_normal_(tensor: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """Glorot & Bengio (2010): :math:`\\mathrm{Var}[w] = 2/(n_{in}+n_{out})`."""
    fan_in, fan_out = fans(tensor)
    return normal_(tensor, 2.0 / (fan_in + fan_out), generator)


@torch.no_grad()
def pytorch_default_(tensor: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """PyTorch's default for Linear/Conv: uniform on :math:`\\pm 1/\\sqrt{n_{in}}` (Var = 1/(3n))."""
    bound = 1.0 / math.sqrt(fans(tensor)[0])
    return tensor.uniform_(-bound, bound, generator=generator)


def for_threshold(name: str, threshold: float = 1.0) -> Initialiser:
    """The initialiser called ``name`` ("snn", "kaiming", "glorot", "pytorch") as ``f(tensor, generator)``."""
    if name == "snn":
        return lambda tensor, generator=None: snn_normal_(tensor, threshold, generator=generator)
    table: dict[str, Initialiser] = {
        "kaiming": kaiming_normal_,
        "glorot": glorot_normal_,
        "pytorch": pytorch_default_,
    }
    if name not in table:
        raise ValueError(f"name must be one of 'snn', {', '.join(map(repr, table))}; got {name!r}")
    return table[name]
