"""Surrogate spike functions against snnTorch's, forward and backward."""

import pytest
import snntorch as snn
import snntorch.surrogate as snn_surrogate
import torch

from snnmath.surrogate import Surrogate, lif_spikes


@pytest.mark.parametrize(
    ("name", "slope", "peer"),
    [("arctan", 2.0, snn_surrogate.atan(alpha=2.0)), ("arctan", 5.0, snn_surrogate.atan(alpha=5.0)),
     ("fast_sigmoid", 25.0, snn_surrogate.fast_sigmoid(slope=25)),
     ("fast_sigmoid", 3.0, snn_surrogate.fast_sigmoid(slope=3))],
)
def test_surrogate_matches_snntorch(name: str, slope: float, peer: object) -> None:
    z = torch.linspace(-3, 3, 601, dtype=torch.float64, requires_grad=True)
    ours = Surrogate(name, slope)(z)
    theirs = peer(z)  # type: ignore[operator]
    assert torch.equal(ours, theirs)
    (g_ours,) = torch.autograd.grad(ours.sum(), z)
    (g_theirs,) = torch.autograd.grad(theirs.sum(), z)
    torch.testing.assert_close(g_ours, g_theirs, rtol=1e-12, atol=0)


def test_default_slopes_are_snntorch_defaults() -> None:
    assert Surrogate().slope == 2.0
    assert Surrogate("fast_sigmoid").slope == 25.0


@pytest.mark.parametrize(("kwargs", "message"), [({"name": "relu"}, "surrogate"), ({"slope": 0.0}, "slope"),
                                                 ({"slope": float("nan")}, "slope")])
def test_bad_surrogate_is_refused(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Surrogate(**kwargs)


# snnTorch stores beta as a float32 tensor, so the values are chosen exact in float32 (0.9 is not).
@pytest.mark.parametrize("beta", [0.0, 0.5, 0.875, 1.0])
def test_lif_spikes_matches_snntorch_leaky(beta: float) -> None:
    gen = torch.Generator().manual_seed(3)
    currents = torch.randn(9, 4, 50, generator=gen, dtype=torch.float64, requires_grad=True)
    weights = torch.arange(9, dtype=torch.float64).view(9, 1, 1)
    ours = lif_spikes(currents, beta, 1.0, Surrogate())
    leaky = snn.Leaky(beta=beta, threshold=1.0, reset_mechanism="subtract")
    potential, theirs = leaky.init_leaky(), []
    for current in currents:
        spike, potential = leaky(current, potential)
        theirs.append(spike)
    assert torch.equal(ours, torch.stack(theirs))
    (g_ours,) = torch.autograd.grad((ours * weights).sum(), currents)
    (g_theirs,) = torch.autograd.grad((torch.stack(theirs) * weights).sum(), currents)
    torch.testing.assert_close(g_ours, g_theirs, rtol=1e-12, atol=1e-12)
