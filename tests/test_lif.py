"""snnmath.lif: the LIF recurrence every simulator shares, against its definition and snnTorch."""

import pytest
import snntorch as snn
import torch

from snnmath.lif import lif_, lif_layer
from snnmath.simulate import gaussian_currents


def test_lif_layer_matches_the_recurrence_and_leaves_currents_alone():
    g = torch.Generator().manual_seed(0)
    currents = gaussian_currents(6, 5, 7, generator=g)  # an expanded view, constant in time
    before = currents.clone()
    u, s = lif_layer(currents, 0.5, 1.0)
    assert torch.equal(currents, before)
    prev_u, prev_s = torch.zeros(5, 7), torch.zeros(5, 7)
    for t in range(6):
        prev_u = 0.5 * prev_u + currents[t] - 1.0 * prev_s
        prev_s = (prev_u > 1.0).float()
        assert torch.equal(u[t], prev_u) and torch.equal(s[t], prev_s)



@pytest.mark.parametrize("beta", [0.0, 0.5, 0.9, 1.0])
@pytest.mark.parametrize("theta", [0.5, 1.0])
def test_lif_layer_is_snntorch_leaky_spike_for_spike(beta, theta):
    currents = torch.randn(20, 16, 9, generator=torch.Generator().manual_seed(1))
    u, s = lif_layer(currents, beta, theta)
    neuron = snn.Leaky(beta=beta, threshold=theta, reset_mechanism="subtract")
    mem = neuron.init_leaky()
    for t in range(20):
        spk, mem = neuron(currents[t], mem)
        assert torch.equal(spk, s[t]) and torch.equal(mem, u[t])


def test_lif_in_place_overwrites_the_currents_with_the_potentials():
    currents = torch.tensor([[0.6], [0.6], [0.6]])
    spikes = torch.empty_like(currents)
    lif_(currents, spikes, 0.5, 1.0)  # u = 0.6, 0.9, 1.05 (> θ), spike at t = 2 only
    assert torch.allclose(currents, torch.tensor([[0.6], [0.9], [1.05]])) and spikes.flatten().tolist() == [0, 0, 1]
