r"""Surrogate spike functions: the Heaviside step forward, a smooth derivative backward.

:math:`s = H(u - \theta)` (strict: a spike iff :math:`u > \theta`), and in the backward pass
:math:`\partial s/\partial u = \sigma'(u - \theta)` with the derivatives of
:func:`snnmath.symbolic.surrogate_derivative`, as snnTorch's ``surrogate.atan`` and
``surrogate.fast_sigmoid`` define them (same default slopes, 2 and 25).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from typing import Any

import sympy as sp
import torch

from . import symbolic as sym
from ._validate import real_scalar
from .lif import lif_

DEFAULT_SLOPES = {"arctan": 2.0, "fast_sigmoid": 25.0}
"""The default slope of each surrogate, as in snnTorch (``atan(alpha=2.0)``, ``fast_sigmoid(slope=25)``)."""


@cache
def _derivative(name: str) -> Callable[..., torch.Tensor]:
    """Torch code of :func:`snnmath.symbolic.surrogate_derivative` over ``(z, slope)``, z = u − θ."""
    z = sp.Symbol("z", real=True)
    expr = sym.surrogate_derivative(name).subs(sym.u, z + sym.theta)
    modules: list[Any] = [{"Abs": torch.abs, "pi": math.pi}]
    return sp.lambdify((z, sym.slope), sp.simplify(expr), modules=modules)


class _Spike(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, shifted: torch.Tensor, surrogate: Surrogate) -> torch.Tensor:
        ctx.save_for_backward(shifted)
        ctx.surrogate = surrogate
        return (shifted > 0).to(shifted.dtype)

    @staticmethod
    def backward(ctx: Any, grad_output: torch.Tensor) -> tuple[torch.Tensor, None]:
        (shifted,) = ctx.saved_tensors
        return grad_output * ctx.surrogate.derivative(shifted), None


@dataclass(frozen=True)
class Surrogate:
    """A surrogate spike function: ``name`` in :data:`snnmath.symbolic.SURROGATE_NAMES`, a positive ``slope``."""

    name: str = "arctan"
    slope: float | None = None
    """Slope parameter; None takes snnTorch's default for ``name``."""

    def __post_init__(self) -> None:
        if self.name not in DEFAULT_SLOPES:
            raise ValueError(f"surrogate must be one of {tuple(DEFAULT_SLOPES)}, got {self.name!r}")
        value = DEFAULT_SLOPES[self.name] if self.slope is None else self.slope
        object.__setattr__(self, "slope", real_scalar("slope", value, low=0.0, low_open=True))

    def derivative(self, shifted: torch.Tensor) -> torch.Tensor:
        r""":math:`\sigma'(z)` at :math:`z = u - \theta`."""
        return _derivative(self.name)(shifted, self.slope)

    def __call__(self, shifted: torch.Tensor) -> torch.Tensor:
        r"""Spikes :math:`H(z)` of :math:`z = u - \theta`, differentiable through :math:`\sigma'(z)`."""
        return _Spike.apply(shifted, self)


class _LIF(torch.autograd.Function):
    """The LIF recurrence over time with an analytic backward pass (no per-step autograd graph)."""

    @staticmethod
    def forward(ctx: Any, currents: torch.Tensor, beta: float, theta: float, surrogate: Surrogate) -> torch.Tensor:
        potentials = currents.detach().clone(memory_format=torch.contiguous_format)
        spikes = torch.empty_like(potentials)
        lif_(potentials, spikes, beta, theta)
        ctx.save_for_backward(potentials)
        ctx.beta, ctx.theta, ctx.surrogate = beta, theta, surrogate
        return spikes

    @staticmethod
    def backward(ctx: Any, grad_spikes: torch.Tensor) -> tuple[torch.Tensor, None, None, None]:
        (potentials,) = ctx.saved_tensors
        grad = grad_spikes * ctx.surrogate.derivative(potentials - ctx.theta)
        for t in range(grad.shape[0] - 2, -1, -1):  # g[t] = ∂L/∂s[t]·σ'(u[t] − θ) + β g[t+1]
            grad[t].add_(grad[t + 1], alpha=ctx.beta)
        return grad, None, None, None


def lif_spikes(currents: torch.Tensor, beta: float, theta: float, surrogate: Surrogate) -> torch.Tensor:
    r"""Differentiable LIF layer over time: spikes ``(T, B, …)`` for currents ``(T, B, …)``.

    .. math::
        u[t] = \beta\,u[t-1] + I[t] - \theta\,s[t-1], \qquad s[t] = H(u[t] - \theta),

    computed by :func:`snnmath.lif.lif_`'s recurrence (snnTorch's floating-point order).
    As in snnTorch's ``Leaky`` the reset :math:`\theta s[t-1]` is detached from the graph, so the
    backward pass is the reverse scan

    .. math::
        \frac{\partial L}{\partial I[t]} = \frac{\partial L}{\partial u[t]}
        = \frac{\partial L}{\partial s[t]}\,\sigma'(u[t] - \theta)
          + \beta\,\frac{\partial L}{\partial u[t+1]},

    with the surrogate derivative :math:`\sigma'`: two vectorised operations and one per step.
    """
    return _LIF.apply(currents, beta, theta, surrogate)
