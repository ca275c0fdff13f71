r"""The leaky integrate-and-fire recurrence that every simulator, the differentiable layer of
:mod:`snnmath.surrogate` and the theory of input spike trains share.

.. math::
    u[t] = \beta\,u[t-1] + I[t] - \theta\,s[t-1], \qquad
    s[t] = H(u[t] - \theta), \qquad u[-1] = s[-1] = 0,

snnTorch's ``Leaky`` with ``reset_mechanism="subtract"`` and its delayed reset (a spike when
:math:`u > \theta`, strictly), in snnTorch's floating-point order so that spikes agree bit for bit.
"""

from __future__ import annotations

import torch


def lif_(potentials: torch.Tensor, spikes: torch.Tensor, beta: float, theta: float) -> None:
    r"""The LIF recurrence in place over the first axis (time): ``potentials`` holds the currents
    :math:`I[t]` on entry and the potentials :math:`u[t]` on exit.

    ``spikes`` (same shape and dtype) receives :math:`s[t] = (u[t] > \theta)`. Each step does
    snnTorch ``Leaky``'s floating-point operations in its order, :math:`(\beta u + I) - \theta s`,
    so that spikes agree bit for bit: the decay is a separate multiply (``add_(u, alpha=beta)``
    would be a fused multiply-add, rounded differently), ``I + βu`` equals ``βu + I`` because
    IEEE addition commutes, and ``θ·s`` is exactly 0 or θ.
    """
    decayed = torch.empty_like(potentials[0])
    torch.gt(potentials[0], theta, out=spikes[0])
    for t in range(1, potentials.shape[0]):
        u = potentials[t]
        torch.mul(potentials[t - 1], beta, out=decayed)
        u.add_(decayed)
        u.sub_(spikes[t - 1], alpha=theta)
        torch.gt(u, theta, out=spikes[t])


def lif_layer(currents: torch.Tensor, beta: float, theta: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Run :func:`lif_` on a copy of the currents ``(T, …)``; return ``(u, s)`` of that shape."""
    potentials = currents.clone(memory_format=torch.contiguous_format)
    spikes = torch.empty_like(potentials)
    lif_(potentials, spikes, beta, theta)
    return potentials, spikes
