r"""Torch simulator of deep convolutional LIF stacks, with per-position statistics.

Every layer has ``channels`` feature maps of size H × W. Layer 0 receives i.i.d.
:math:`\mathcal N(0, V_0)` currents per (channel, position); layer l ≥ 1 receives
:math:`W_l \star s_{l-1}`, a k × k convolution over all input channels (fan-in
:math:`n = C_{in} k^2`) with ``padding = k // 2``: zeros (a border neuron sees fewer
inputs) or circular (every neuron sees k² positions). Each layer runs the LIF recurrence
of :mod:`snnmath.simulate` (:func:`snnmath.lif.lif_`):

.. math::
    u_l[t] = \beta\,u_l[t-1] + I_l[t] - \theta\,s_l[t-1], \qquad s_l[t] = H(u_l[t] - \theta).

A module of its own rather than a function in :mod:`snnmath.simulate`: its inputs and
record are spatial maps (a statistic per layer, step *and position*), and it draws one
weight per network for a grouped convolution; it shares only the recurrence.

``networks`` independent networks (each its own weights) run side by side as the groups of
one grouped convolution, in chunks that bound the memory. Besides the pooled maps, the
record keeps the potential of one neuron per network at each ``probes`` position (channel 0
of sample 0): across networks these are independent, which is what exact statistical
bands need (samples of one network share its weights; neighbouring positions share inputs).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F  # noqa: N812  (the usual name)

from .._validate import integer, real_scalar
from ..init import Initialiser, for_threshold
from ..lif import lif_
from ..theory.conv import PADDINGS, tap_counts

_CHUNK_ELEMENTS = 1 << 22
"""Networks run in chunks of at most about this many neurons (over steps and samples)."""


@dataclass
class ConvRecord:
    """Per-layer, per-step, per-position statistics of a convolutional stack.

    Maps have shape ``(depth, steps, height, width)`` and pool channels, samples and networks.
    """

    mean: torch.Tensor
    """Membrane mean :math:`E[u]` per position."""
    variance: torch.Tensor
    """Membrane variance :math:`E[u^2] - E[u]^2` per position."""
    rate: torch.Tensor
    """Firing rate :math:`E[s]` per position."""
    probes: tuple[tuple[int, int], ...]
    """The probed positions (row, column)."""
    probe_potentials: torch.Tensor
    """Potential of channel 0 of sample 0 of each network at each probe,
    shape ``(depth, steps, networks, len(probes))``; its spike is ``potential > theta``."""
    probe_inputs: torch.Tensor
    """Number of active inputs of that neuron (spikes of the layer below over all channels and
    the in-image taps; padded taps count as silent), same shape; 0 in layer 0, which receives currents."""
    channels: int
    kernel: int
    padding_mode: str
    rescale_border: bool
    theta: float


def border_gain(height: int, width: int, kernel: int, padding_mode: str = "zeros") -> torch.Tensor:
    r"""Per-position factor :math:`k^2/m(i,j)` on the variance that undoes the zero-padding deficit:
    m(i, j) is the number of the k² taps of position (i, j) that fall inside the image
    (:func:`snnmath.theory.tap_counts`; all of them under circular padding, where the factor is 1).
    Shape ``(height, width)``."""
    return torch.from_numpy(kernel * kernel / tap_counts(height, width, kernel, padding_mode))


@torch.no_grad()
def simulate_conv(
    depth: int,
    channels: int,
    size: int | tuple[int, int],
    *,
    kernel: int = 3,
    steps: int = 1,
    batch: int = 1,
    beta: float = 0.5,
    theta: float = 1.0,
    init: str | Initialiser = "snn",
    padding_mode: str = "zeros",
    rescale_border: bool = False,
    input_variance: float = 1.0,
    networks: int = 1,
    probes: Sequence[tuple[int, int]] = (),
    generator: torch.Generator | None = None,
    device: str | torch.device = "cpu",
    dtype: torch.dtype = torch.float32,
) -> ConvRecord:
    r"""Simulate ``depth`` convolutional LIF layers of ``channels`` maps of ``size`` (H or (H, W)).

    ``init`` is an initialiser name from :func:`snnmath.init.for_threshold` or any
    ``f(weight, generator)``; it fills each network's ``(channels, channels, k, k)`` weight,
    whose fan-in is :math:`C k^2`. ``padding_mode`` is ``"zeros"`` or ``"circular"``.
    ``rescale_border`` multiplies each current by :math:`\sqrt{k^2/m(i,j)}`
    (:func:`border_gain`), so that a border neuron's input variance is that of a full fan-in.
    Inputs are constant over the ``steps``. Returns a :class:`ConvRecord`.
    """
    layers = integer("depth", depth, low=1)
    n_channels = integer("channels", channels, low=1)
    height, width = (size, size) if isinstance(size, int) else tuple(size)
    height, width = integer("size", height, low=1), integer("size", width, low=1)
    k = integer("kernel", kernel, low=1)
    if k % 2 == 0:
        raise ValueError(f"kernel must be an odd integer >= 1 (same-size output), got {kernel!r}")
    if padding_mode not in PADDINGS:
        raise ValueError(f"padding_mode must be one of {PADDINGS}, got {padding_mode!r}")
    if padding_mode == "circular" and k // 2 > min(height, width):
        raise ValueError(f"kernel must be at most 2·size + 1 for circular padding, got {kernel!r}")
    if not isinstance(rescale_border, bool):
        raise ValueError(f"rescale_border must be True or False, got {rescale_border!r}")
    t_steps = integer("steps", steps, low=1)
    n_batch = integer("batch", batch, low=1)
    b = real_scalar("beta", beta, low=0.0, high=1.0)
    th = real_scalar("theta", theta, low=0.0)
    v0 = real_scalar("input_variance", input_variance, low=0.0)
    replicas = integer("networks", networks, low=1)
    probe_list = tuple((int(i), int(j)) for i, j in probes)
    if any(not (0 <= i < height and 0 <= j < width) for i, j in probe_list):
        raise ValueError(f"probes must be (row, column) positions inside the {height}×{width} map, got {probes!r}")
    fill = for_threshold(init, th, b) if isinstance(init, str) else init
    spec = _Stack(layers, n_channels, height, width, k, padding_mode, t_steps, n_batch, b, th, fill,
                  torch.device(device), dtype)
    scale = border_gain(height, width, k, padding_mode).sqrt().to(device, dtype) if rescale_border else None
    sums = torch.zeros(3, layers, t_steps, height, width, dtype=torch.float64, device=device)
    probe_potentials = torch.empty(layers, t_steps, replicas, len(probe_list), dtype=dtype, device=device)
    probe_inputs = torch.zeros(layers, t_steps, replicas, len(probe_list), dtype=torch.int64, device=device)
    chunk = max(1, _CHUNK_ELEMENTS // (t_steps * n_batch * n_channels * height * width))
    for first in range(0, replicas, chunk):
        count = min(chunk, replicas - first)
        chunk_probes = (probe_potentials[:, :, first : first + count], probe_inputs[:, :, first : first + count])
        spec.run(count, v0, scale, generator, sums, probe_list, chunk_probes)
    total = n_batch * n_channels * replicas
    mean, square, rate = (s / total for s in sums)
    return ConvRecord(mean=mean.cpu(), variance=(square - mean.square()).cpu(), rate=rate.cpu(),
                      probes=probe_list, probe_potentials=probe_potentials.cpu(), probe_inputs=probe_inputs.cpu(),
                      channels=n_channels, kernel=k, padding_mode=padding_mode, rescale_border=rescale_border,
                      theta=th)


@dataclass
class _Stack:
    """The checked parameters of :func:`simulate_conv` and the propagation of one chunk of networks."""

    depth: int
    channels: int
    height: int
    width: int
    kernel: int
    padding_mode: str
    steps: int
    batch: int
    beta: float
    theta: float
    fill: Initialiser
    device: torch.device
    dtype: torch.dtype

    def run(
        self,
        networks: int,
        input_variance: float,
        scale: torch.Tensor | None,
        generator: torch.Generator | None,
        sums: torch.Tensor,
        probes: tuple[tuple[int, int], ...],
        probe_out: tuple[torch.Tensor, torch.Tensor],
    ) -> None:
        """Propagate ``networks`` networks; add their sums of u, u² and s per position to ``sums``
        (shape ``(3, depth, steps, H, W)``) and write their probes' potentials and active-input
        counts into ``probe_out``."""
        shape = (self.steps, self.batch, networks, self.channels, self.height, self.width)
        draw = torch.randn((1, *shape[1:]), generator=generator, device=self.device, dtype=self.dtype)
        potentials = (draw * input_variance**0.5).expand(shape).contiguous()
        spikes = torch.empty_like(potentials)
        for layer in range(self.depth):
            if layer > 0:
                if probes:
                    inputs = self.active_inputs(spikes)
                    for index, (i, j) in enumerate(probes):
                        probe_out[1][layer, :, :, index] = inputs[:, 0, :, i, j].long()
                potentials = self.currents(spikes, generator).view(shape)
                if scale is not None:
                    potentials.mul_(scale)
            lif_(potentials, spikes, self.beta, self.theta)
            sums[0, layer] += potentials.sum(dim=(1, 2, 3), dtype=torch.float64)
            sums[1, layer] += potentials.square().sum(dim=(1, 2, 3), dtype=torch.float64)
            sums[2, layer] += spikes.sum(dim=(1, 2, 3), dtype=torch.float64)
            for index, (i, j) in enumerate(probes):
                probe_out[0][layer, :, :, index] = potentials[:, 0, :, 0, i, j]

    def active_inputs(self, spikes: torch.Tensor) -> torch.Tensor:
        """Active inputs of every neuron: spikes summed over channels and the kernel's taps
        (with this padding), shape ``(steps, batch, networks, H, W)``; exact below 2**24."""
        steps, batch, networks = spikes.shape[:3]
        total = spikes.sum(dim=3).view(-1, 1, self.height, self.width)
        ones = torch.ones(1, 1, self.kernel, self.kernel, device=self.device, dtype=self.dtype)
        return self.convolve(total, ones, 1).view(steps, batch, networks, self.height, self.width)

    def convolve(self, x: torch.Tensor, weight: torch.Tensor, groups: int) -> torch.Tensor:
        """'Same' 2-D convolution with this stack's padding mode."""
        r = self.kernel // 2
        if self.padding_mode == "circular":
            return F.conv2d(F.pad(x, (r, r, r, r), mode="circular"), weight, groups=groups)
        return F.conv2d(x, weight, padding=r, groups=groups)

    def currents(self, spikes: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
        """:math:`W \\star s` for every network (its own weight) as one grouped convolution,
        shape ``(steps·batch, networks·channels, H, W)``."""
        networks = spikes.shape[2]
        c, k = self.channels, self.kernel
        weight = torch.empty(networks, c, c, k, k, device=self.device, dtype=self.dtype)
        for network in weight:
            self.fill(network, generator)
        flat = spikes.view(self.steps * self.batch, networks * c, self.height, self.width)
        return self.convolve(flat, weight.view(networks * c, c, k, k), networks)
