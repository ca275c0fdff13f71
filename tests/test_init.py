"""snnmath.init: sampled moments match each rule, fan-in for Conv, dtype, generator, bad input."""

import math

import pytest
import scipy.stats
import torch

from snnmath import bands, init, theory
from snnmath.theory import kernel

ALPHA = bands.ALPHA


def variance_in_band(sample: torch.Tensor, variance: float, mean: float = 0.0) -> bool:
    """Sample variance of i.i.d. normal draws against its exact χ² band (Bonferroni over the tests)."""
    x = sample.double().flatten()
    dof = x.numel()
    statistic = float(((x - mean) ** 2).sum()) / variance
    lo, hi = bands.chi2_interval(dof, ALPHA, 20)
    return lo <= statistic <= hi


@pytest.mark.parametrize("shape", [(300, 784), (64, 32, 3, 3), (16, 8, 5)])
def test_snn_normal_matches_the_closed_form(shape):
    weight = init.snn_normal_(torch.empty(shape), threshold=1.0, generator=torch.Generator().manual_seed(0))
    fan_in = shape[1] * math.prod(shape[2:])
    assert variance_in_band(weight, float(theory.weight_variance(fan_in, 1.0)))


@pytest.mark.parametrize("name", ["kaiming", "glorot", "fluctuation"])
def test_normal_baselines_match_their_rules(name):
    weight = torch.empty(200, 300)
    init.for_threshold(name, 1.0, 0.5)(weight, torch.Generator().manual_seed(1))
    assert variance_in_band(weight, init.variance_of(name, 300, 200, 1.0, 0.5))


def test_pytorch_default_is_uniform_with_the_stated_bound():
    weight = init.pytorch_default_(torch.empty(500, 400), generator=torch.Generator().manual_seed(2))
    bound = 1 / math.sqrt(400)
    assert weight.abs().max() <= bound
    # uniform: the count below zero is Binomial(N, 1/2)
    below = int((weight < 0).sum())
    lo, hi = bands.clopper_pearson(below, weight.numel(), ALPHA)
    assert lo <= 0.5 <= hi
    ks = scipy.stats.kstest(weight.flatten().numpy(), "uniform", args=(-bound, 2 * bound))
    assert ks.pvalue > ALPHA


def test_fluctuation_driven_equals_proposed_at_beta_zero_and_xi_theta():
    _, variance = init.fluctuation_moments(100, threshold=1.3, beta=0.0, xi=1.3)
    assert variance == pytest.approx(float(theory.weight_variance(100, 1.3)), rel=1e-12)


def test_fluctuation_driven_mean_is_used():
    mean_w, variance = init.fluctuation_moments(1000, threshold=1.0, beta=0.5, mean=0.5)
    generator = torch.Generator().manual_seed(3)
    weight = init.fluctuation_driven_(torch.empty(400, 1000), 1.0, 0.5, mean=0.5, generator=generator)
    assert mean_w > 0 and variance_in_band(weight, variance, mean_w)


def test_dtype_device_and_generator_reproducibility():
    a = init.snn_normal_(torch.empty(10, 20, dtype=torch.float64), generator=torch.Generator().manual_seed(7))
    b = init.snn_normal_(torch.empty(10, 20, dtype=torch.float64), generator=torch.Generator().manual_seed(7))
    assert a.dtype == torch.float64 and a.device.type == "cpu" and torch.equal(a, b)


@pytest.mark.parametrize(
    "call, name",
    [
        (lambda: init.snn_normal_(torch.empty(4, 4), threshold=float("nan")), "threshold"),
        (lambda: init.snn_normal_(torch.empty(4, 4), target_variance=0.0), "target_variance"),
        (lambda: init.snn_normal_(torch.empty(4)), "tensor"),
        (lambda: init.for_threshold("xavier"), "name"),
        (lambda: init.fluctuation_driven_(torch.empty(4, 4), beta=1.0), "beta"),
        (lambda: init.fluctuation_driven_(torch.empty(4, 4), beta=1.5), "beta"),
        (lambda: init.fluctuation_driven_(torch.empty(4, 4), mean=2.0), "mean"),
        (lambda: init.gain_normal_(torch.empty(4, 4), 0.0), "gain"),
    ],
)
def test_bad_parameters_name_themselves(call, name):
    with pytest.raises(ValueError, match=rf"^{name} must"):
        call()


def test_the_leak_aware_scale_through_the_initialisers(monkeypatch):
    fake = kernel.LeakAwareScale(7.0, 0.16, True, 6.0, 0.1, 1 / 6, 0.8)
    monkeypatch.setattr(theory, "leak_aware_scale", lambda beta, theta, steps: fake)
    assert init.snn_variance(700, 1.0, beta=0.9, steps=25) == pytest.approx(0.01)
    weight = init.snn_normal_(torch.empty(400, 700), 1.0, beta=0.9, steps=25,
                              generator=torch.Generator().manual_seed(3))
    assert variance_in_band(weight, 0.01)
    net = torch.nn.Sequential(torch.nn.Linear(700, 300), torch.nn.Linear(300, 10))
    init.apply_(net, "snn", threshold=1.0, beta=0.9, steps=25, generator=torch.Generator().manual_seed(4))
    assert variance_in_band(net[0].weight.detach(), 7.0 / 700)
    for call, message in [(lambda: init.snn_variance(10, beta=0.9), "beta and steps go together"),
                          (lambda: init.snn_variance(10, target_variance=2.0, beta=0.9, steps=5), "target_variance")]:
        with pytest.raises(ValueError, match=message):
            call()
