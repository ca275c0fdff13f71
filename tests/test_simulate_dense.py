"""Tests of :mod:`snnmath.simulate`: spike-for-spike agreement with snnTorch, statistics,
parameter checks and memory.

snnTorch 1.0.0 ``Leaky(reset_mechanism="subtract")`` does, per step (``_neurons/leaky.py``,
``neurons.py``): ``reset = (mem_prev - threshold > 0)`` (the previous step's spike: the reset
is delayed), ``mem = (beta.clamp(0, 1) * mem_prev + input) - reset * threshold`` and
``spk = (mem - threshold > 0).float()``: a strict ``>``, although the ATan docstring says ≥.
Two things to know when comparing in float64: ``beta`` and ``threshold`` given as Python floats
become float32 buffers (0.9 is used as 0.8999999761…, and ``.double()`` on the module does not
undo that), and ``spk`` is always float32, so a float64 ``nn.Linear`` needs ``spk.double()``.
"""

from __future__ import annotations

import gc
import math
import weakref

import pytest
import torch

from snnmath.init import snn_normal_
from snnmath.simulate import Record, gaussian_currents, simulate

snn = pytest.importorskip("snntorch")

# BATCH is a multiple of 4: MKL then rounds simulate's one (T·B)-row product exactly as the
# per-step B-row products of nn.Linear (see test_agrees_with_snntorch_when_blas_rounds_...).
DEPTH, WIDTHS, STEPS, BATCH = 4, [48, 64, 32, 40], 12, 16


def recording_init(theta: float, weights: list[torch.Tensor]):
    """``snn_normal_`` at ``theta`` that also appends a copy of each weight it fills."""
    def fill(weight: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
        snn_normal_(weight, theta, generator=generator)
        weights.append(weight.clone())
        return weight
    return fill


@torch.no_grad()
def snntorch_run(
    inputs: torch.Tensor, weights: list[torch.Tensor], beta: float, theta: float
) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    """The network stepped in time the usual snnTorch way; ``(spikes, potentials)`` per layer."""
    dtype = inputs.dtype
    # Tensors of the simulation dtype: Python floats would become float32 buffers.
    neurons = [
        snn.Leaky(beta=torch.tensor(beta, dtype=dtype), threshold=torch.tensor(theta, dtype=dtype),
                  reset_mechanism="subtract").to(inputs.device)  # else mem is made on the CPU
        for _ in range(len(weights) + 1)
    ]
    linears = []
    for weight in weights:
        linear = torch.nn.Linear(weight.shape[1], weight.shape[0], bias=False, dtype=dtype, device=inputs.device)
        linear.weight.copy_(weight)
        linears.append(linear)
    mems = [neuron.init_leaky() for neuron in neurons]
    spikes = [[] for _ in neurons]
    potentials = [[] for _ in neurons]
    for t in range(inputs.shape[0]):
        current = inputs[t]
        for layer, neuron in enumerate(neurons):
            spk, mems[layer] = neuron(current, mems[layer])
            spikes[layer].append(spk)
            potentials[layer].append(mems[layer])
            if layer < len(linears):
                current = linears[layer](spk.to(dtype))  # snnTorch's spk is float32
    return [torch.stack(s) for s in spikes], [torch.stack(u) for u in potentials]


def simulate_with_weights(inputs: torch.Tensor, beta: float, theta: float, init=None):
    """``simulate`` on ``inputs``, keeping every layer, and the weights it drew (with the default init)."""
    weights: list[torch.Tensor] = []
    record = simulate(
        DEPTH, WIDTHS, beta=beta, theta=theta, inputs=inputs, dtype=inputs.dtype,
        init=init or recording_init(theta, weights), record_layers=range(DEPTH),
        generator=torch.Generator().manual_seed(7),
    )
    return record, weights


def assert_same_as_snntorch(record: Record, spikes: list[torch.Tensor], potentials: list[torch.Tensor]):
    for layer, (spk, mem) in enumerate(zip(spikes, potentials, strict=True)):
        assert torch.equal(record.spikes[layer], spk.bool()), f"spikes differ in layer {layer}"
        assert torch.equal(record.potentials[layer], mem), f"potentials differ in layer {layer}"
        assert torch.equal(record.active[layer], spk.sum(dim=2).long())


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("theta", [0.5, 1.0, 2.0])
@pytest.mark.parametrize("beta", [0.0, 0.5, 0.9, 1.0])
def test_spike_for_spike_with_snntorch(beta, theta, dtype):
    g = torch.Generator().manual_seed(int(100 * beta + 10 * theta))
    inputs = gaussian_currents(STEPS, BATCH, WIDTHS[0], variance=theta**2, fresh=True, generator=g, dtype=dtype)
    record, weights = simulate_with_weights(inputs, beta, theta)
    assert [tuple(w.shape) for w in weights] == [(n_out, n_in) for n_in, n_out in zip(WIDTHS, WIDTHS[1:], strict=False)]
    spikes, potentials = snntorch_run(inputs, weights, beta, theta)
    assert_same_as_snntorch(record, spikes, potentials)
    for spk in spikes:  # every layer fires, and not always: the comparison means something
        assert 0 < spk.mean() < 1


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_spike_for_spike_at_exact_threshold_ties(dtype):
    """Dyadic inputs and weights make u == θ exactly, often: only a strict ``>`` agrees."""
    g = torch.Generator().manual_seed(3)
    inputs = torch.randint(-2, 4, (STEPS, BATCH, WIDTHS[0]), generator=g).to(dtype) / 2
    weights: list[torch.Tensor] = []

    def dyadic(weight, generator):
        weight.copy_(torch.randint(-2, 3, weight.shape, generator=generator).to(weight.dtype) / 4)
        weights.append(weight.clone())

    record, _ = simulate_with_weights(inputs, 0.5, 1.0, init=dyadic)
    spikes, potentials = snntorch_run(inputs, weights, 0.5, 1.0)
    assert_same_as_snntorch(record, spikes, potentials)
    ties = sum(int((record.potentials[layer] == 1.0).sum()) for layer in range(DEPTH))
    assert ties > 100


def test_agrees_with_snntorch_when_blas_rounds_currents_differently():
    """Batch 9: MKL may round the (T·B)-row product apart from the B-row ones in the last bit."""
    g = torch.Generator().manual_seed(5)
    inputs = gaussian_currents(STEPS, 9, WIDTHS[0], fresh=True, generator=g, dtype=torch.float64)
    record, weights = simulate_with_weights(inputs, 0.9, 1.0)
    spikes, potentials = snntorch_run(inputs, weights, 0.9, 1.0)
    for layer in range(DEPTH):
        assert torch.equal(record.spikes[layer], spikes[layer].bool())
        torch.testing.assert_close(record.potentials[layer], potentials[layer], rtol=0, atol=1e-12)


def test_snntorch_semantics_assumed_above():
    neuron = snn.Leaky(beta=0.0, threshold=1.0, reset_mechanism="subtract")
    mem = neuron.init_leaky()
    spk, mem = neuron(torch.tensor([1.0, 1.5, 0.5], dtype=torch.float64), mem)
    assert spk.tolist() == [0.0, 1.0, 0.0] and spk.dtype == torch.float32  # strict >, float32 spikes
    spk, mem = neuron(torch.zeros(3, dtype=torch.float64), mem)
    assert mem.tolist() == [0.0, -1.0, 0.0] and spk.sum() == 0  # reset from the previous step
    assert snn.Leaky(beta=0.9).beta.dtype == torch.float32


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_statistics_match_the_recorded_layers(dtype):
    record = simulate(5, [30, 50, 20, 40, 25], steps=6, batch=11, beta=0.7, theta=0.8, fresh_inputs=True,
                      record_layers=range(5), generator=torch.Generator().manual_seed(1), dtype=dtype)
    tol = dict(rtol=1e-5, atol=1e-6) if dtype == torch.float32 else dict(rtol=1e-12, atol=1e-14)
    assert record.active.shape == (5, 6, 11) and record.active.dtype == torch.int64
    for layer in range(5):
        u = record.potentials[layer].double()
        s = record.spikes[layer]
        assert torch.equal(s, u > 0.8)
        torch.testing.assert_close(record.mean[layer], u.mean(dim=(1, 2)), **tol)
        torch.testing.assert_close(record.variance[layer], u.var(dim=(1, 2), correction=0), **tol)
        assert torch.equal(record.rate[layer], s.double().mean(dim=(1, 2)))
        assert torch.equal(record.active[layer], s.sum(dim=2))
    assert torch.equal(record.silent_fraction, (record.active == 0).double().mean(dim=-1))


def test_variance_stays_accurate_when_the_mean_is_large():
    """The variance is centred (two-pass), so float32 keeps it when |E[u]| >> std."""
    g = torch.Generator().manual_seed(2)
    inputs = 1000.0 + 0.01 * torch.randn(4, 64, 100, generator=g)
    record = simulate(1, 100, beta=0.0, theta=1.0, inputs=inputs, record_layers=[0])
    u = record.potentials[0].double()
    torch.testing.assert_close(record.variance[0], u.var(dim=(1, 2), correction=0), rtol=1e-3, atol=0)


def test_only_statistics_are_kept_and_weights_are_dropped():
    alive = []
    refs: list[weakref.ref] = []

    def fill(weight, generator):
        alive.append(sum(ref() is not None for ref in refs))
        refs.append(weakref.ref(weight))
        return snn_normal_(weight, generator=generator)

    record = simulate(6, 40, steps=3, batch=4, init=fill, generator=torch.Generator().manual_seed(0))
    gc.collect()
    assert max(alive) <= 1 and all(ref() is None for ref in refs)
    assert record.potentials == {} and record.spikes == {}
    assert record.mean.shape == record.variance.shape == record.rate.shape == (6, 3)
    kept = simulate(6, 40, steps=3, batch=4, record_layers=[2], generator=torch.Generator().manual_seed(0))
    assert set(kept.potentials) == set(kept.spikes) == {2}
    assert kept.potentials[2].shape == kept.spikes[2].shape == (3, 4, 40)
    assert torch.equal(kept.active, record.active)


def test_recorded_layers_are_copies():
    record = simulate(3, 20, steps=4, batch=3, record_layers=[0, 1, 2], generator=torch.Generator().manual_seed(4))
    storages = {record.potentials[layer].untyped_storage().data_ptr() for layer in range(3)}
    assert len(storages) == 3
    for layer in range(3):  # the potentials survive the centring done for the statistics
        torch.testing.assert_close(record.mean[layer], record.potentials[layer].double().mean(dim=(1, 2)))


def test_same_seed_same_record():
    a = simulate(4, 30, steps=3, batch=5, generator=torch.Generator().manual_seed(9))
    b = simulate(4, 30, steps=3, batch=5, generator=torch.Generator().manual_seed(9))
    assert torch.equal(a.mean, b.mean) and torch.equal(a.active, b.active)


@pytest.mark.parametrize(
    "kwargs, name",
    [
        (dict(depth=0), "depth"),
        (dict(depth=2.5), "depth"),
        (dict(width=0), "width"),
        (dict(width=[10, 0, 10]), "width"),
        (dict(width=[10, 10]), "width"),
        (dict(beta=-0.1), "beta"),
        (dict(beta=1.5), "beta"),
        (dict(beta=math.nan), "beta"),
        (dict(theta=math.inf), "theta"),
        (dict(theta=math.nan), "theta"),
        (dict(theta=-1.0), "theta"),
        (dict(steps=0), "steps"),
        (dict(batch=0), "batch"),
        (dict(input_variance=-1.0), "variance"),
        (dict(inputs=torch.zeros(2, 3, 11)), "inputs"),
    ],
)
def test_bad_parameters_raise_value_error_naming_them(kwargs, name):
    args = dict(depth=3, width=10) | kwargs
    with pytest.raises(ValueError, match=name):
        simulate(args.pop("depth"), args.pop("width"), **args)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_matches_cpu():
    g = torch.Generator().manual_seed(11)
    inputs = gaussian_currents(STEPS, BATCH, WIDTHS[0], fresh=True, generator=g, dtype=torch.float64)
    cpu, weights = simulate_with_weights(inputs, 0.9, 1.0)
    drawn = iter(weights)
    cuda = simulate(DEPTH, WIDTHS, beta=0.9, theta=1.0, inputs=inputs.cuda(), dtype=torch.float64,
                    init=lambda w, _: w.copy_(next(drawn)), record_layers=range(DEPTH), device="cuda")
    assert cuda.mean.device.type == "cpu" and cuda.potentials[0].device.type == "cpu"
    for layer in range(DEPTH):
        assert torch.equal(cuda.spikes[layer], cpu.spikes[layer])
        torch.testing.assert_close(cuda.potentials[layer], cpu.potentials[layer], rtol=0, atol=1e-12)
    torch.testing.assert_close(cuda.mean, cpu.mean, rtol=0, atol=1e-12)
    assert torch.equal(cuda.active, cpu.active)


def test_independent_networks_equal_separate_simulations():
    """``networks=R`` gives each network its own weights; each equals a run of that network alone."""
    depth, width, steps, batch, networks = 4, 12, 5, 3, 3
    g = torch.Generator().manual_seed(11)
    weights = [[torch.randn(width, width, generator=g, dtype=torch.float64) for _ in range(depth - 1)]
               for _ in range(networks)]
    inputs = torch.randn(steps, networks * batch, width, generator=g, dtype=torch.float64)

    def replay(order):
        queue = list(order)

        def fill(tensor, generator=None):
            tensor.copy_(queue.pop(0))
            return tensor

        return fill

    interleaved = [weights[r][layer] for layer in range(depth - 1) for r in range(networks)]
    together = simulate(depth, width, inputs=inputs, networks=networks, beta=0.7, theta=0.4,
                        init=replay(interleaved), dtype=torch.float64)
    for r in range(networks):
        alone = simulate(depth, width, inputs=inputs[:, r * batch:(r + 1) * batch], beta=0.7, theta=0.4,
                         init=replay(weights[r]), dtype=torch.float64)
        assert torch.equal(together.active[:, :, r * batch:(r + 1) * batch], alone.active)
    assert together.active.shape == (depth, steps, networks * batch)
    assert (together.active > 0).any()


def test_networks_must_be_positive():
    with pytest.raises(ValueError, match="^networks must"):
        simulate(2, 5, networks=0)
