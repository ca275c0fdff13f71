"""The practitioner's API of snnmath.init: ``snn_uniform_`` and ``apply_`` on whole models.

Every statistical assert has an exact band at level ``bands.ALPHA``, split (Bonferroni) over
the ``COMPARISONS`` statistical comparisons this file makes, so that a correct
implementation fails it with probability at most ALPHA whatever the seeds.
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
from torch import nn

from snnmath import bands, init, theory

COMPARISONS = 32
"""An upper bound on the number of statistical comparisons in this file (Bonferroni)."""


def normal_variance_ok(weight: torch.Tensor, variance: float, mean: float = 0.0) -> bool:
    """i.i.d. N(mean, variance) draws: :math:`\\sum (w-\\mu)^2/\\sigma^2 \\sim \\chi^2_N`, tested exactly."""
    x = weight.detach().double().flatten()
    statistic = float(((x - mean) ** 2).sum()) / variance
    lo, hi = bands.chi2_interval(x.numel(), bands.ALPHA, COMPARISONS)
    return lo <= statistic <= hi


def uniform_variance_ok(weight: torch.Tensor, variance: float) -> bool:
    """i.i.d. uniform on ±b, b² = 3·variance: the support, and the mean of w² against Bernstein's bound.

    X = w² has mean b²/3, variance E[w⁴] - (b²/3)² = b⁴/5 - b⁴/9 = 4b⁴/45 and
    :math:`|X - b^2/3| \\le 2b^2/3`.
    """
    x = weight.detach().double().flatten()
    b2 = 3.0 * variance
    half = float(bands.bernstein_half_width(4 * b2**2 / 45, 2 * b2 / 3, x.numel(), bands.ALPHA, COMPARISONS))
    inside = bool((x.abs() <= math.sqrt(b2) * (1 + 1e-6)).all())  # float32 rounding of the bound
    return inside and abs(float(x.square().mean()) - variance) <= half


def variance_ok(method: str, weight: torch.Tensor, variance: float) -> bool:
    uniform = method in ("snn_uniform", "pytorch")
    return uniform_variance_ok(weight, variance) if uniform else normal_variance_ok(weight, variance)


def seeded(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


# --- snn_uniform_ ------------------------------------------------------------------------
@pytest.mark.parametrize("threshold, target", [(0.0, 1.0), (1.0, 1.0), (2.0, 0.5)])
def test_snn_uniform_has_the_variance_of_the_closed_form(threshold, target):
    weight = init.snn_uniform_(torch.empty(300, 784), threshold, target, generator=seeded(0))
    variance = float(theory.weight_variance(784, threshold, target))
    assert uniform_variance_ok(weight, variance)
    # uniform, not normal: the count inside ±b/2 is Binomial(N, 1/2)
    inner = int((weight.abs() < math.sqrt(3 * variance) / 2).sum())
    lo, hi = bands.clopper_pearson(inner, weight.numel(), bands.ALPHA, COMPARISONS)
    assert lo <= 0.5 <= hi


def test_snn_uniform_conv_fan_in_is_channels_times_kernel():
    weight = init.snn_uniform_(torch.empty(64, 16, 3, 3), generator=seeded(1))
    assert uniform_variance_ok(weight, float(theory.weight_variance(16 * 3 * 3, 1.0)))


# --- apply_ ------------------------------------------------------------------------------
@pytest.mark.parametrize("method", init.NAMES)
def test_apply_uses_each_layers_fan_in(method):
    model = nn.Sequential(nn.Linear(500, 400), nn.ReLU(), nn.Linear(400, 300))
    params = {"threshold": 1.5} if method in ("snn", "snn_uniform", "fluctuation") else {}
    params |= {"threshold": 1.0, "beta": 0.9, "steps": 10} if method == "leak_aware" else {}
    init.apply_(model, method, generator=seeded(2), **params)
    for layer in (model[0], model[2]):
        fan_in, fan_out = layer.in_features, layer.out_features
        variance = init.variance_of(method, fan_in, fan_out, **({"threshold": 1.5, "beta": 0.5} | params))
        assert variance_ok(method, layer.weight, variance), (method, fan_in)
        assert torch.count_nonzero(layer.bias) == 0


def test_leak_aware_needs_its_window():
    with pytest.raises(ValueError, match="needs beta, steps"):
        init.apply_(nn.Linear(10, 10), "leak_aware", threshold=1.0)
    with pytest.raises(ValueError, match="steps is required"):
        init.for_threshold("leak_aware", 1.0, 0.9)
    with pytest.raises(ValueError, match="steps is required"):
        init.variance_of("leak_aware", 10, 10, 1.0, 0.9)


def test_leak_aware_is_the_snn_scale_with_beta_and_steps():
    expected = init.snn_variance(400, 1.0, beta=0.9, steps=10)
    assert init.variance_of("leak_aware", 400, 100, 1.0, 0.9, steps=10) == expected
    a = init.leak_aware_normal_(torch.empty(50, 400), 1.0, 0.9, 10, generator=seeded(5))
    b = init.snn_normal_(torch.empty(50, 400), 1.0, beta=0.9, steps=10, generator=seeded(5))
    assert torch.equal(a, b)



def test_steps_inf_asks_for_the_stationary_limit_everywhere(monkeypatch):
    fake = theory.LeakAwareScale(6.4, 0.33, False, 5.8, 0.29, 0.1, 0.4, 88, 256)
    asked = []
    monkeypatch.setattr(theory, "leak_aware_scale", lambda beta, theta, steps: asked.append((beta, steps)) or fake)
    assert init.snn_variance(400, 1.0, beta=0.9, steps=math.inf) == 6.4 / 400
    assert init.variance_of("leak_aware", 400, 100, 1.0, 0.9, steps=math.inf) == 6.4 / 400
    model = init.apply_(nn.Sequential(nn.Linear(400, 300)), "snn", threshold=1.0, beta=0.9, steps=math.inf,
                        generator=seeded(4))
    assert normal_variance_ok(model[0].weight, 6.4 / 400)
    assert asked == [(0.9, math.inf)] * 3

def test_apply_target_variance_is_passed_through():
    layer = init.apply_(nn.Linear(600, 500), threshold=1.0, target_variance=2.0, generator=seeded(3))
    assert normal_variance_ok(layer.weight, float(theory.weight_variance(600, 1.0, 2.0)))


@pytest.mark.parametrize(
    "layer, fan_in",
    [
        (nn.Conv1d(8, 64, kernel_size=5), 8 * 5),
        (nn.Conv2d(3, 64, kernel_size=5), 3 * 5 * 5),
        (nn.Conv2d(16, 64, kernel_size=3, groups=4), 16 // 4 * 3 * 3),
        (nn.Conv3d(4, 32, kernel_size=(2, 3, 3)), 4 * 2 * 3 * 3),
    ],
)
def test_apply_conv_fan_in_is_input_channels_times_kernel(layer, fan_in):
    init.apply_(layer, threshold=1.0, generator=seeded(4))
    assert normal_variance_ok(layer.weight, float(theory.weight_variance(fan_in, 1.0)))
    assert torch.count_nonzero(layer.bias) == 0


def test_apply_keeps_biases_when_asked():
    model = nn.Sequential(nn.Linear(20, 10), nn.Linear(10, 5, bias=False))
    before = model[0].bias.detach().clone()
    init.apply_(model, zero_bias=False, generator=seeded(5))
    assert torch.equal(model[0].bias, before) and torch.count_nonzero(before) > 0


@pytest.mark.parametrize("dtype", [torch.float64, torch.float16])
def test_apply_preserves_dtype(dtype):
    model = nn.Sequential(nn.Linear(30, 20), nn.Conv1d(4, 6, 3)).to(dtype)
    assert init.apply_(model, generator=seeded(6)) is model
    assert all(p.dtype == dtype for p in model.parameters())


def devices() -> list[str]:
    return ["meta"] + (["cuda"] if torch.cuda.is_available() else [])


@pytest.mark.parametrize("device", devices())
def test_apply_preserves_device(device):
    model = nn.Sequential(nn.Linear(30, 20, device=device), nn.Conv2d(3, 4, 3, device=device))
    generator = torch.Generator(device=device) if device == "cuda" else None
    init.apply_(model, generator=generator)
    assert all(p.device.type == device for p in model.parameters())


def test_same_seed_same_weights_other_seed_other_weights():
    def weights(seed: int) -> list[torch.Tensor]:
        torch.manual_seed(1000 + seed)  # the global stream differs: only the generator may matter
        model = nn.Sequential(nn.Linear(40, 30), nn.Conv1d(2, 3, 4))
        return [p.detach().clone() for p in init.apply_(model, generator=seeded(seed)).parameters()]

    a, b, c = weights(7), weights(7), weights(8)
    assert all(torch.equal(x, y) for x, y in zip(a, b, strict=True))
    assert not torch.equal(a[0], c[0])


def test_apply_initialises_an_snntorch_model_in_one_call():
    snn = pytest.importorskip("snntorch")
    model = nn.Sequential(
        nn.Linear(784, 500), snn.Leaky(beta=0.5, init_hidden=True),
        nn.Linear(500, 300), snn.Leaky(beta=0.5, init_hidden=True),
        nn.Linear(300, 10), snn.Leaky(beta=0.5, init_hidden=True, output=True),
    )
    init.apply_(model, threshold=1.0, generator=seeded(9))
    for layer in model[0::2]:
        assert normal_variance_ok(layer.weight, float(theory.weight_variance(layer.in_features, 1.0)))
        assert torch.count_nonzero(layer.bias) == 0
    spikes, _ = model(torch.randn(4, 784, generator=seeded(10)))
    assert spikes.shape == (4, 10)


def test_shared_weight_is_filled_once():
    shared = nn.Linear(50, 50)
    model = nn.Sequential(shared, nn.Linear(50, 40), shared)
    via_model = init.apply_(model, generator=seeded(11))[0].weight.detach().clone()
    alone = nn.Sequential(nn.Linear(50, 50), nn.Linear(50, 40))
    assert torch.equal(via_model, init.apply_(alone, generator=seeded(11))[0].weight)


def test_bad_parameter_leaves_the_model_unchanged():
    # fluctuation-driven with mean 0.5 is fine at fan-in 100 but negative-variance at fan-in 2
    model = nn.Sequential(nn.Linear(100, 20), nn.Linear(2, 3))
    before = [p.detach().clone() for p in model.parameters()]
    with pytest.raises(ValueError, match=r"^mean is too large"):
        init.apply_(model, "fluctuation", mean=0.5)
    assert all(torch.equal(x, y) for x, y in zip(before, model.parameters(), strict=True))


@pytest.mark.parametrize(
    "call, name",
    [
        (lambda: init.apply_(nn.Linear(4, 4), "xavier"), "method"),
        (lambda: init.apply_(nn.Linear(4, 4), threshold=float("nan")), "threshold"),
        (lambda: init.apply_(nn.Linear(4, 4), threshold=-1.0), "threshold"),
        (lambda: init.apply_(nn.Linear(4, 4), target_variance=0.0), "target_variance"),
        (lambda: init.apply_(nn.Linear(4, 4), "fluctuation", beta=1.0), "beta"),
        (lambda: init.apply_(nn.Linear(4, 4), "kaiming", threshold=1.0), "threshold"),
        (lambda: init.apply_(nn.Linear(4, 4), "snn", beta=0.5), "beta"),
        (lambda: init.apply_(nn.Linear(4, 4), thresold=1.0), "thresold"),
        (lambda: init.apply_(nn.Linear(4, 4), zero_bias="yes"), "zero_bias"),
        (lambda: init.apply_(nn.Linear(4, 4), generator=0), "generator"),
        (lambda: init.apply_(torch.empty(4, 4)), "module"),
        (lambda: init.apply_(nn.ReLU()), "module"),
        (lambda: init.apply_(nn.LazyLinear(4)), "module"),
        (lambda: init.snn_uniform_(torch.empty(4)), "tensor"),
        (lambda: init.snn_uniform_(torch.empty(4, 4), threshold=float("inf")), "threshold"),
        (lambda: init.snn_uniform_(torch.empty(4, 4), target_variance=-1.0), "target_variance"),
        (lambda: init.uniform_with_variance_(torch.empty(4, 4), variance=-1.0), "variance"),
    ],
)
def test_bad_parameters_name_themselves(call, name):
    with pytest.raises(ValueError, match=rf"^{name} "):
        call()


def test_readme_example_runs_and_initialises():
    pytest.importorskip("snntorch")
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    (example,) = [block.split("```", 1)[0] for block in readme.split("```python\n")[1:] if "apply_(" in block]
    torch.manual_seed(12)  # the example uses the global generator
    namespace: dict = {}
    exec(example, namespace)
    for layer in namespace["net"][0::2]:
        assert normal_variance_ok(layer.weight, float(theory.weight_variance(layer.in_features, 1.0)))
        assert torch.count_nonzero(layer.bias) == 0
