r"""Torch simulator of deep feedforward LIF networks.

Layer 0 receives the input currents directly; layer l ≥ 1 receives :math:`W_l s_{l-1}`:

.. math::
    u_l[t] = \beta\,u_l[t-1] + I_l[t] - \theta\,s_l[t-1], \qquad
    s_l[t] = H(u_l[t] - \theta), \qquad u_l[-1] = s_l[-1] = 0,

i.e. snnTorch's ``Leaky`` with ``reset_mechanism="subtract"`` and its delayed reset
(spike when :math:`u > \theta`, strictly).

The network is feedforward, so a layer's currents for all T steps come from one matrix
multiply ``(T·B, n_in) @ W.T``; only the cheap elementwise recurrence runs over time.
Weights are drawn layer by layer and dropped, two buffers of size ``(T, B, n)`` are reused
by every layer, and only per-layer statistics are kept, so memory does not grow with depth.

Agreement with snnTorch is bit for bit (``tests/test_simulate.py``): the recurrence does
``Leaky``'s floating-point operations in its order (see :func:`snnmath.lif.lif_`). It needs the same
currents too, and a BLAS may round the one ``(T·B)``-row product differently from the
per-step ``B``-row products of a time-stepped ``nn.Linear`` (MKL does for some batch sizes
that are not a multiple of 4, e.g. 1 or 9); then potentials differ in the last bit.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import torch

from .._validate import integer, real_scalar
from ..init import Initialiser, for_threshold
from ..lif import lif_, lif_layer
from ..surrogate import Surrogate, lif_spikes


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
    """Number of spiking neurons per sample, shape ``(depth, steps, networks·batch)``
    (network-major: the samples of network r are ``r·batch … (r+1)·batch - 1``)."""
    potentials: dict[int, torch.Tensor] = field(default_factory=dict)
    """Full potentials ``(steps, batch, width)`` of the layers asked for (``record_layers``)."""
    spikes: dict[int, torch.Tensor] = field(default_factory=dict)
    """Full spikes ``(steps, batch, width)``, as bool, of the layers asked for."""

    @property
    def silent_fraction(self) -> torch.Tensor:
        """Fraction of samples with no spike in the layer at that step."""
        return (self.active == 0).double().mean(dim=-1)


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
    networks: int = 1,
    generator: torch.Generator | None = None,
    device: str | torch.device = "cpu",
    dtype: torch.dtype = torch.float32,
) -> Record:
    """Simulate ``depth`` LIF layers of the given width(s) for ``steps`` time steps.

    ``init`` is an initialiser name from :func:`snnmath.init.for_threshold` (at this
    ``theta`` and ``beta``) or any ``f(weight, generator)`` that fills a weight in place.
    ``inputs`` (``(T, networks·B, n_0)``) overrides the Gaussian currents of variance
    ``input_variance``. ``networks`` independent networks (each its own weights) carry
    ``batch`` samples each, so that samples of different networks are independent.
    """
    layers = integer("depth", depth, low=1)
    widths = [width] * layers if isinstance(width, int) else list(width)
    if len(widths) != layers:
        raise ValueError(f"width must be an int or a sequence of {layers} widths, got {len(widths)}")
    widths = [integer("width", w, low=1) for w in widths]
    b = real_scalar("beta", beta, low=0.0, high=1.0)
    th = real_scalar("theta", theta, low=0.0)
    fill = for_threshold(init, th, b) if isinstance(init, str) else init
    replicas = integer("networks", networks, low=1)
    if inputs is None:
        t_steps = integer("steps", steps, low=1)
        n_batch = integer("batch", batch, low=1) * replicas
        currents = gaussian_currents(
            t_steps, n_batch, widths[0], input_variance, fresh_inputs, generator, device, dtype
        )
    else:
        if inputs.dim() != 3 or inputs.shape[2] != widths[0] or inputs.shape[1] % replicas:
            raise ValueError(
                f"inputs must have shape (steps, networks·batch, {widths[0]}), got {tuple(inputs.shape)}"
            )
        currents = inputs.to(device=device, dtype=dtype)
    return _run(currents, widths, b, th, fill, generator, set(record_layers), replicas)


def _run(
    currents: torch.Tensor,
    widths: list[int],
    beta: float,
    theta: float,
    fill: Initialiser,
    generator: torch.Generator | None,
    record_layers: set[int],
    networks: int = 1,
) -> Record:
    """Propagate ``currents`` ``(T, B, widths[0])`` through the layers (arguments already checked).

    Two flat buffers, one for potentials and one for spikes, serve every layer: layer l's
    currents overwrite layer l-1's potentials, and its spikes overwrite the spikes that were
    just multiplied, so nothing of size ``(T, B, n)`` is allocated per layer.
    """
    t_steps, n_batch = currents.shape[:2]
    size = t_steps * n_batch * max(widths)
    potentials_buffer = torch.empty(size, device=currents.device, dtype=currents.dtype)
    spikes_buffer = torch.empty_like(potentials_buffer)
    stats = _Statistics(len(widths), t_steps, n_batch, currents.device)
    kept_potentials: dict[int, torch.Tensor] = {}
    kept_spikes: dict[int, torch.Tensor] = {}
    spikes = None
    for layer, n_out in enumerate(widths):
        potentials = potentials_buffer[: t_steps * n_batch * n_out].view(t_steps, n_batch, n_out)
        if spikes is None:
            potentials.copy_(currents)
        else:
            _synaptic_currents(spikes, fill, generator, networks, out=potentials)
        spikes = spikes_buffer[: t_steps * n_batch * n_out].view(t_steps, n_batch, n_out)
        lif_(potentials, spikes, beta, theta)
        if layer in record_layers:
            kept_potentials[layer] = potentials.to("cpu", copy=True)
            kept_spikes[layer] = spikes.to("cpu", torch.bool)
        stats.add(layer, potentials, spikes)  # overwrites potentials
    return stats.to_record(kept_potentials, kept_spikes)


def _synaptic_currents(
    spikes: torch.Tensor, fill: Initialiser, generator: torch.Generator | None, networks: int, out: torch.Tensor
) -> None:
    """Draw weights ``(n_out, n_in)`` with ``fill`` and write :math:`W s[t]` for all steps into ``out``.

    One matrix multiply ``(T·B, n_in) @ W.T`` covers every step; ``out`` is ``(T, B, n_out)``.
    With several networks each has its own weight, and a batched multiply serves them all.
    """
    n_in, n_out = spikes.shape[2], out.shape[2]
    weight = torch.empty(networks, n_out, n_in, device=spikes.device, dtype=spikes.dtype)
    for network in weight:
        fill(network, generator)
    if networks == 1:
        torch.matmul(spikes.view(-1, n_in), weight[0].T, out=out.view(-1, n_out))
        return
    steps = spikes.shape[0]
    per_network = spikes.view(steps, networks, -1, n_in).transpose(0, 1).reshape(networks, -1, n_in)
    currents = torch.bmm(per_network, weight.transpose(1, 2))  # (networks, T·B, n_out)
    out.view(steps, networks, -1, n_out).copy_(currents.view(networks, steps, -1, n_out).transpose(0, 1))


class _Statistics:
    """Per-layer statistics accumulated on the simulation's device, with one pass or two per layer."""

    def __init__(self, layers: int, steps: int, batch: int, device: torch.device) -> None:
        shape = (layers, steps)
        self.mean = torch.empty(shape, dtype=torch.float64, device=device)
        self.variance = torch.empty(shape, dtype=torch.float64, device=device)
        self.rate = torch.empty(shape, dtype=torch.float64, device=device)
        self.active = torch.empty((layers, steps, batch), dtype=torch.int64, device=device)

    def add(self, layer: int, potentials: torch.Tensor, spikes: torch.Tensor) -> None:
        r"""Summarise one layer's ``(T, B, n)`` potentials and spikes; **overwrites** ``potentials``.

        Sums run over each neuron row in (at least) float32 and then across the batch in
        float64. The variance is the two-pass (centred) one, so it stays accurate when
        :math:`|E[u]| \gg \sqrt{Var[u]}`; it is centred on the mean rounded to the simulation
        dtype, which adds the negligible :math:`(E[u] - \mathrm{round}(E[u]))^2`.
        """
        count = potentials.shape[1] * potentials.shape[2]
        mean = _pooled_sum(potentials) / count
        centred = potentials.sub_(mean.to(potentials.dtype).view(-1, 1, 1))
        self.mean[layer] = mean
        self.variance[layer] = _pooled_sum(centred.square_()) / count
        active = spikes.sum(dim=2, dtype=_accumulator(spikes.dtype))  # exact counts below 2**24
        self.active[layer] = active
        self.rate[layer] = active.sum(dim=1, dtype=torch.float64) / count

    def to_record(self, potentials: dict[int, torch.Tensor], spikes: dict[int, torch.Tensor]) -> Record:
        """The statistics as a :class:`Record` on the CPU, with the kept potentials and spikes."""
        return Record(
            mean=self.mean.cpu(),
            variance=self.variance.cpu(),
            rate=self.rate.cpu(),
            active=self.active.cpu(),
            potentials=potentials,
            spikes=spikes,
        )


def _accumulator(dtype: torch.dtype) -> torch.dtype:
    """The dtype that per-row sums use: the simulation dtype, but at least float32."""
    return torch.promote_types(dtype, torch.float32)


def _pooled_sum(x: torch.Tensor) -> torch.Tensor:
    """Sum of ``(T, B, n)`` over batch and neurons, per step, as float64 of shape ``(T,)``."""
    return x.sum(dim=2, dtype=_accumulator(x.dtype)).sum(dim=1, dtype=torch.float64)


# --- gradients at the first time step ---------------------------------------------------
def backward_norms(
    depth: int,
    width: int,
    surrogates: Sequence[Surrogate],
    *,
    theta: float = 1.0,
    init: str | Initialiser = "snn",
    beta: float = 0.5,
    batch: int = 16,
    networks: int = 1,
    input_variance: float = 1.0,
    generator: torch.Generator | None = None,
    dtype: torch.dtype = torch.float64,
) -> torch.Tensor:
    r"""Mean square gradient :math:`\hat q_l = \frac{1}{nB}\sum_{b,i} (\partial L/\partial u_{l,i})^2` of
    every layer at t = 0, by torch autograd with each surrogate in the backward pass.

    Each of ``networks`` independent networks has ``depth`` layers of ``width`` neurons with
    weights from ``init`` (as in :func:`simulate`; ``beta`` only matters to the fluctuation-driven
    rule) and carries ``batch`` samples: layer 0 is driven by :math:`\mathcal N(0, V_0)` currents,
    layer l by :math:`W_l s_{l-1}`, with :math:`s = H(u - \theta)` at T = 1
    (:func:`snnmath.surrogate.lif_spikes`). The loss :math:`L = \sum g \odot s_{depth-1}`, with
    :math:`g \sim \mathcal N(0, 1)` i.i.d., puts a unit-variance gradient on the top layer's spikes.
    A network's weights, inputs and g are drawn once and shared by all surrogates (weights in
    float32, then cast to ``dtype``). Float64 by default: a vanishing gradient leaves the
    float32 range within tens of layers. Returns shape ``(len(surrogates), networks, depth)``.
    """
    layers = integer("depth", depth, low=1)
    n = integer("width", width, low=1)
    th = real_scalar("theta", theta, low=0.0)
    b = real_scalar("beta", beta, low=0.0, high=1.0)
    fill = for_threshold(init, th, b) if isinstance(init, str) else init
    samples = integer("batch", batch, low=1)
    replicas = integer("networks", networks, low=1)
    v0 = real_scalar("input_variance", input_variance, low=0.0)
    if len(surrogates) == 0 or not all(isinstance(s, Surrogate) for s in surrogates):
        raise ValueError(f"surrogates must be a non-empty sequence of snnmath.surrogate.Surrogate, got {surrogates!r}")
    out = torch.empty(len(surrogates), replicas, layers, dtype=torch.float64)
    for network in range(replicas):
        weights = [fill(torch.empty(n, n), generator).to(dtype) for _ in range(layers - 1)]
        inputs = gaussian_currents(1, samples, n, v0, generator=generator, dtype=dtype)
        top = torch.randn(1, samples, n, generator=generator, dtype=dtype)
        for index, surrogate in enumerate(surrogates):
            out[index, network] = _mean_square_gradients(inputs, weights, top, b, th, surrogate)
    return out


def _mean_square_gradients(
    inputs: torch.Tensor, weights: list[torch.Tensor], top: torch.Tensor, beta: float, theta: float,
    surrogate: Surrogate,
) -> torch.Tensor:
    """Forward with autograd, backward from :math:`\\sum g \\odot s_{top}`; the mean square of
    :math:`\\partial L/\\partial u_l` (the layer's input current, which is u_l at T = 1) per layer."""
    currents = [inputs.clone().requires_grad_(True)]
    spikes = lif_spikes(currents[0], beta, theta, surrogate)
    for weight in weights:
        currents.append(spikes @ weight.T)
        spikes = lif_spikes(currents[-1], beta, theta, surrogate)
    gradients = torch.autograd.grad((spikes * top).sum(), currents)
    return torch.stack([g.square().mean(dtype=torch.float64) for g in gradients])


# --- the quenched mean field's assumption: presynaptic spikes independent in time ---------
@torch.no_grad()
def simulate_independent_spikes(
    depth: int,
    width: int,
    *,
    steps: int,
    batch: int = 1,
    beta: float = 0.5,
    theta: float = 1.0,
    init: str | Initialiser = "snn",
    input_variance: float = 1.0,
    networks: int = 1,
    generator: torch.Generator | None = None,
) -> Record:
    r"""Like :func:`simulate` with fresh Gaussian inputs, except that every layer l ≥ 1 receives, in
    place of layer l−1's spikes, independent draws :math:`\tilde s_j[t] \sim \mathrm{Bernoulli}(\hat r_j)`
    at each presynaptic neuron's own rate :math:`\hat r_j` over the second half of the steps (per
    sample). Time-averaged rates, hence each neuron's quenched input mean, are kept; correlations in
    time and between neurons are removed, as :func:`snnmath.theory.quenched_rate_map` assumes.
    """
    layers = integer("depth", depth, low=1)
    n = integer("width", width, low=1)
    t_steps = integer("steps", steps, low=2)
    replicas = integer("networks", networks, low=1)
    b = real_scalar("beta", beta, low=0.0, high=1.0)
    th = real_scalar("theta", theta, low=0.0)
    fill = for_threshold(init, th, b) if isinstance(init, str) else init
    n_batch = integer("batch", batch, low=1) * replicas
    currents = gaussian_currents(t_steps, n_batch, n, input_variance, True, generator)
    stats = _Statistics(layers, t_steps, n_batch, currents.device)
    potentials, spikes = lif_layer(currents, b, th)
    stats.add(0, potentials, spikes)
    for layer in range(1, layers):
        rates = spikes[t_steps // 2 :].mean(dim=0)
        independent = (torch.rand(spikes.shape, generator=generator) < rates).to(spikes.dtype)
        _synaptic_currents(independent, fill, generator, replicas, out=potentials)
        potentials, spikes = lif_layer(potentials, b, th)
        stats.add(layer, potentials, spikes)
    return stats.to_record({}, {})
