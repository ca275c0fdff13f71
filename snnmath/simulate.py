r"""Torch simulator of deep feedforward LIF networks (THEORY.md §1).

Layer 0 receives the input currents directly; layer l ≥ 1 receives :math:`W_l s_{l-1}`:

.. math::
    u_l[t] = \beta\,u_l[t-1] + I_l[t] - \theta\,s_l[t-1], \qquad
    s_l[t] = H(u_l[t] - \theta), \qquad u_l[-1] = s_l[-1] = 0,

i.e. snnTorch's ``Leaky`` with ``reset_mechanism="subtract"`` and its delayed reset.

The network is feedforward, so a layer's currents for all T steps come from one matrix
multiply ``(T·B, n_in) @ W.T``; only the cheap elementwise recurrence runs over time.
Weights are drawn layer by layer and dropped, and only per-layer statistics are kept,
so memory does not grow with depth.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import torch

from ._checks import integer, real_scalar
from .init import Initialiser, for_threshold


@dataclass
class Record:
    """Per-layer, per-step statistics of one simulated batch.

    Arrays have shape ``(depth, steps)`` unless noted; statistics pool neurons and samples.
    """

    mean: torch.Tensor
    """Membrane mean :math:`E[u]`."""
    variance: torch.Tensor
    """Membrane variance :math:`E[u^2] - E[u]^2`."""
    rate: torch.Tensor
    """Firing rate :math:`E[s]`."""
    active: torch.Tensor
    """Number of spiking neurons per sample, shape ``(depth, steps, batch)``."""
    potentials: dict[int, torch.Tensor] = field(default_factory=dict)
    """Full potentials ``(steps, batch, width)`` of the layers asked for."""

    @property
    def silent_fraction(self) -> torch.Tensor:
        """Fraction of samples with no spike in the layer at that step."""
        return (self.active == 0).double().mean(dim=-1)


def lif_layer(
    currents: torch.Tensor, beta: float, theta: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """Run the LIF recurrence over time for currents ``(T, B, n)``; return ``(u, s)`` of that shape."""
    potentials = torch.empty_like(currents)
    spikes = torch.empty_like(currents)
    u = torch.zeros_like(currents[0])
    s = torch.zeros_like(currents[0])
    for t in range(currents.shape[0]):
        u = beta * u + currents[t] - theta * s
        s = (u > theta).to(currents.dtype)
        potentials[t] = u
        spikes[t] = s
    return potentials, spikes


def gaussian_currents(
    steps: int,
    batch: int,
    width: int,
    variance: float = 1.0,
    fresh: bool = False,
    generator: torch.Generator | None = None,
    device: str | torch.device = "cpu",
    dtype: torch.dtype = torch.float32,
) -> torch.Tensor:
    """Input currents ``(T, B, n)`` ~ N(0, variance): constant over time, or fresh each step."""
    var = real_scalar("variance", variance, low=0.0)
    shape = (steps if fresh else 1, batch, width)
    draw = torch.randn(shape, generator=generator, device=device, dtype=dtype) * var**0.5
    return draw if fresh else draw.expand(steps, batch, width)


@torch.no_grad()
def simulate(
    depth: int,
    width: int | Sequence[int],
    *,
    steps: int = 1,
    batch: int = 64,
    beta: float = 0.5,
    theta: float = 1.0,
    init: str | Initialiser = "snn",
    inputs: torch.Tensor | None = None,
    input_variance: float = 1.0,
    fresh_inputs: bool = False,
    record_layers: Sequence[int] = (),
    generator: torch.Generator | None = None,
    device: str | torch.device = "cpu",
    dtype: torch.dtype = torch.float32,
) -> Record:
    """Simulate ``depth`` LIF layers of the given width(s) for ``steps`` time steps.

    ``init`` is an initialiser name from :func:`snnmath.init.for_threshold` (at this
    ``theta``) or any ``f(weight, generator)`` that fills a weight in place. ``inputs``
    (``(T, B, n_0)``) overrides the Gaussian currents of variance ``input_variance``.
    """
    layers = integer("depth", depth, low=1)
    widths = [width] * layers if isinstance(width, int) else list(width)
    if len(widths) != layers:
        raise ValueError(f"width must be an int or a sequence of {layers} widths, got {len(widths)}")
    widths = [integer("width", w, low=1) for w in widths]
    b = real_scalar("beta", beta, low=0.0, high=1.0)
    th = real_scalar("theta", theta, low=0.0)
    fill = for_threshold(init, th) if isinstance(init, str) else init
    if inputs is None:
        t_steps = integer("steps", steps, low=1)
        n_batch = integer("batch", batch, low=1)
        currents = gaussian_currents(
            t_steps, n_batch, widths[0], input_variance, fresh_inputs, generator, device, dtype
        )
    else:
        if inputs.dim() != 3 or inputs.shape[2] != widths[0]:
            raise ValueError(f"inputs must have shape (steps, batch, {widths[0]}), got {tuple(inputs.shape)}")
        currents = inputs.to(device=device, dtype=dtype)
    t_steps, n_batch = currents.shape[:2]

    shape = (layers, t_steps)
    record = Record(
        mean=torch.empty(shape, dtype=torch.float64),
        variance=torch.empty(shape, dtype=torch.float64),
        rate=torch.empty(shape, dtype=torch.float64),
        active=torch.empty((layers, t_steps, n_batch), dtype=torch.int64),
    )
    for layer in range(layers):
        if layer > 0:
            weight = torch.empty(widths[layer], widths[layer - 1], device=device, dtype=dtype)
            fill(weight, generator)
            currents = (spikes.reshape(-1, widths[layer - 1]) @ weight.T).reshape(t_steps, n_batch, -1)
        potentials, spikes = lif_layer(currents, b, th)
        _summarise(record, layer, potentials, spikes)
        if layer in record_layers:
            record.potentials[layer] = potentials.cpu()
    return record


def _summarise(record: Record, layer: int, potentials: torch.Tensor, spikes: torch.Tensor) -> None:
    u = potentials.double()
    record.mean[layer] = u.mean(dim=(1, 2)).cpu()
    record.variance[layer] = u.var(dim=(1, 2), correction=0).cpu()
    record.rate[layer] = spikes.double().mean(dim=(1, 2)).cpu()
    record.active[layer] = spikes.sum(dim=2).long().cpu()
