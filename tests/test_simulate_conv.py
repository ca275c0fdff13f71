"""Convolutions and the border: the per-position map (symbolic and numeric), the convolutional
simulator against a plain ``F.conv2d`` reference, and the layer-by-layer check (passes for any
seed, rejects the border-blind theory and a wrong gain)."""

from __future__ import annotations

import itertools
import warnings

import numpy as np
import pytest
import sympy as sp
import torch
import torch.nn.functional as F  # noqa: N812

from snnmath import bands, checks, theory
from snnmath import symbolic as sym
from snnmath.init import snn_normal_
from snnmath.simulate import border_gain, simulate_conv

THETA = 1.0
GAIN = float(theory.weight_variance(1, THETA))


# --- symbolic ---------------------------------------------------------------------------
def test_tap_contribution_is_gain_over_k_squared_per_spike_probability():
    ratio = sp.simplify(sym.conv_tap_contribution() / sym.second_moment_of_spike())
    assert sp.simplify(ratio - sym.gain / sym.kernel_size**2) == 0


@pytest.mark.parametrize("kernel, size", [(1, 4), (3, 16), (5, 7), (7, 5)])
def test_taps_inside_counts_the_offsets_inside_the_image(kernel, size):
    r = kernel // 2
    for position in range(size):
        brute = sum(0 <= position + a < size for a in range(-r, r + 1))
        assert sym.taps_inside(position, size).subs(sym.kernel_size, kernel) == brute


def test_first_layer_map_gives_a_corner_four_ninths_of_the_interior():
    first = sym.first_layer_map().subs(sym.kernel_size, 3)
    at = {sym.tap_count(sym.row): sym.taps_inside(0, 16), sym.tap_count(sym.col): sym.taps_inside(0, 16)}
    corner = first.subs(at).subs(sym.kernel_size, 3)
    assert sp.simplify(corner / sym.variance_map() - sp.Rational(4, 9)) == 0
    interior = first.subs({sym.tap_count(sym.row): 3, sym.tap_count(sym.col): 3})
    assert sp.simplify(interior - sym.variance_map()) == 0


def test_first_layer_map_matches_the_summed_map():
    summed = sym.uniform_previous_layer(sym.conv_variance_map("zeros"))
    taps = {sym.tap_count(sym.row): sym.taps_inside(sym.row, sym.height),
            sym.tap_count(sym.col): sym.taps_inside(sym.col, sym.width)}
    numbers = {sym.kernel_size: 5, sym.height: 9, sym.width: 6}
    for i, j in itertools.product(range(9), range(6)):
        at = {**numbers, sym.row: i, sym.col: j}
        assert sp.simplify((summed - sym.first_layer_map().subs(taps)).subs(at)) == 0


def test_circular_and_rescaled_maps_reduce_to_the_scalar_map():
    assert sp.simplify(sym.uniform_previous_layer(sym.conv_variance_map("circular")) - sym.variance_map()) == 0
    assert sp.simplify(sym.uniform_previous_layer(sym.border_rescaled_map()) - sym.variance_map()) == 0


def test_interior_of_the_zero_padded_map_is_the_scalar_map():
    uniform = sym.uniform_previous_layer(sym.conv_variance_map("zeros")).subs({sym.kernel_size: 3, sym.height: 16,
                                                                               sym.width: 16})
    for i, j in itertools.product(range(1, 15), range(1, 15)):
        assert sp.simplify(uniform.subs({sym.row: i, sym.col: j}) - sym.variance_map()) == 0


def test_unknown_padding_is_rejected_symbolically():
    with pytest.raises(ValueError, match="^padding"):
        sym.conv_variance_map("reflect")


# --- numeric theory -----------------------------------------------------------------------
def brute_force_map(previous: np.ndarray, kernel: int, circular: bool) -> np.ndarray:
    """V_l(i, j) = c/k² Σ over taps of Q(θ/√V_{l-1}), one position and tap at a time."""
    h, w = previous.shape
    r = kernel // 2
    p = theory.spike_probability(THETA, previous)
    out = np.zeros_like(previous)
    for i, j, a, b in itertools.product(range(h), range(w), range(-r, r + 1), range(-r, r + 1)):
        if circular:
            out[i, j] += p[(i + a) % h, (j + b) % w]
        elif 0 <= i + a < h and 0 <= j + b < w:
            out[i, j] += p[i + a, j + b]
    return GAIN / kernel**2 * out


@pytest.mark.parametrize("kernel, padding_mode", [(3, "zeros"), (5, "zeros"), (3, "circular"), (5, "circular")])
def test_conv_variance_map_matches_a_loop_over_taps(kernel, padding_mode):
    previous = np.random.default_rng(0).uniform(0.0, 2.0, (6, 7))
    fast = theory.conv_variance_map(previous, THETA, GAIN, kernel, padding_mode)
    np.testing.assert_allclose(fast, brute_force_map(previous, kernel, padding_mode == "circular"), rtol=1e-12)


def test_conv_variance_map_broadcasts_over_a_stack():
    stack = np.random.default_rng(1).uniform(0.1, 2.0, (3, 5, 5))
    together = theory.conv_variance_map(stack, THETA, GAIN)
    for one, fast in zip(stack, together, strict=True):
        np.testing.assert_allclose(fast, theory.conv_variance_map(one, THETA, GAIN), rtol=1e-14)


@pytest.mark.parametrize("kernel", [3, 5])
def test_tap_counts_agree_with_the_simulators_border_gain(kernel):
    counts = theory.tap_counts(7, 9, kernel)
    np.testing.assert_allclose(counts, kernel**2 / border_gain(7, 9, kernel).numpy(), rtol=1e-14)
    assert counts[0, 0] == ((kernel + 1) // 2) ** 2 and counts[3, 4] == kernel**2
    assert np.all(theory.tap_counts(7, 9, kernel, "circular") == kernel**2)


def test_depth_maps_reduce_to_the_scalar_map_in_the_interior_and_under_circular_padding():
    depth, size = 8, 20
    scalar = theory.iterate_map(THETA, GAIN, 1.0, depth - 1)
    zeros = theory.conv_variance_maps(THETA, GAIN, depth, size, size)
    for layer in range(depth):  # the deficit moves one position (r = 1) inward per layer
        inner = zeros[layer, layer : size - layer, layer : size - layer]
        np.testing.assert_allclose(inner, scalar[layer], rtol=1e-12)
    np.testing.assert_allclose(zeros[1, 0, 0], 4 / 9 * scalar[1], rtol=1e-12)
    assert zeros[depth - 1, depth - 2, size // 2] < scalar[depth - 1]
    for kwargs in (dict(padding_mode="circular"), dict(rescale_border=True)):
        maps = theory.conv_variance_maps(THETA, GAIN, depth, size, size, **kwargs)
        np.testing.assert_allclose(maps, scalar[:, None, None] * np.ones((size, size)), rtol=1e-12)


def test_deep_silent_border_gives_no_warning():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        maps = theory.conv_variance_maps(THETA, GAIN, 60, 8, 8)
    assert maps[-1, 0, 0] == 0 or maps[-1, 0, 0] < 1e-300


@pytest.mark.parametrize(
    "kwargs, name",
    [(dict(kernel=2), "kernel"), (dict(kernel=0), "kernel"), (dict(padding_mode="reflect"), "padding_mode"),
     (dict(gain=0.0), "gain"), (dict(theta=-1.0), "theta"), (dict(previous=np.ones(4)), "previous"),
     (dict(previous=-np.ones((3, 3))), "previous"), (dict(rescale_border=1), "rescale_border"),
     (dict(kernel=9, padding_mode="circular"), "kernel")],
)
def test_conv_variance_map_validates(kwargs, name):
    args = dict(previous=np.ones((3, 3)), theta=THETA, gain=GAIN) | kwargs
    with pytest.raises(ValueError, match=f"^{name}"):
        theory.conv_variance_map(**args)


@pytest.mark.parametrize(
    "kwargs, name",
    [(dict(depth=0), "depth"), (dict(height=0), "height"), (dict(input_variance=-1.0), "input_variance")],
)
def test_conv_variance_maps_validates(kwargs, name):
    args = dict(theta=THETA, gain=GAIN, depth=3, height=4, width=4) | kwargs
    with pytest.raises(ValueError, match=f"^{name}"):
        theory.conv_variance_maps(**args)


# --- simulator ----------------------------------------------------------------------------
def recording_init(weights: list[torch.Tensor]):
    def fill(weight: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
        snn_normal_(weight, THETA, generator=generator)
        weights.append(weight.clone())
        return weight
    return fill


def reference_run(inputs, weights, depth, networks, beta, padding_mode, rescale):
    """Each network and step on its own: F.conv2d, then u[t] = βu[t-1] + I[t] − θ s[t-1]; s = u > θ.
    ``inputs``: (batch, networks, C, H, W). Returns potentials (depth, steps, batch, networks, C, H, W)."""
    steps = 3
    kernel = weights[0].shape[-1]
    r = kernel // 2
    h, w = inputs.shape[-2:]
    scale = border_gain(h, w, kernel, padding_mode).sqrt().to(inputs.dtype) if rescale else 1.0
    layers_u = []
    spikes_prev_layer = None
    for layer in range(depth):
        us, ss = [], []
        u_prev = s_prev = None
        for t in range(steps):
            if layer == 0:
                current = inputs
            else:
                per_network = []
                for net in range(networks):
                    x = spikes_prev_layer[t][:, net]
                    weight = weights[(layer - 1) * networks + net]
                    if padding_mode == "circular":
                        per_network.append(F.conv2d(F.pad(x, (r, r, r, r), mode="circular"), weight))
                    else:
                        per_network.append(F.conv2d(x, weight, padding=r))
                current = torch.stack(per_network, dim=1) * scale
            u = current.clone() if t == 0 else beta * u_prev + current - THETA * s_prev
            s = (u > THETA).to(u.dtype)
            us.append(u)
            ss.append(s)
            u_prev, s_prev = u, s
        layers_u.append(torch.stack(us))
        spikes_prev_layer = ss
    return torch.stack(layers_u)


@pytest.mark.parametrize("padding_mode, rescale", [("zeros", False), ("circular", False), ("zeros", True)])
def test_simulate_conv_agrees_with_a_plain_conv2d_reference(padding_mode, rescale):
    depth, channels, size, networks, batch, beta = 4, 3, (5, 6), 2, 2, 0.7
    weights: list[torch.Tensor] = []
    generator = torch.Generator().manual_seed(11)
    probes = [(0, 0), (2, 3), (4, 5)]
    record = simulate_conv(depth, channels, size, steps=3, batch=batch, beta=beta, theta=THETA,
                           init=recording_init(weights), padding_mode=padding_mode, rescale_border=rescale,
                           input_variance=2.0, networks=networks, probes=probes, generator=generator,
                           dtype=torch.float64)
    inputs = torch.randn((1, batch, networks, channels, *size), generator=torch.Generator().manual_seed(11),
                         dtype=torch.float64)[0] * 2.0**0.5
    assert len(weights) == (depth - 1) * networks and weights[0].shape == (channels, channels, 3, 3)
    u = reference_run(inputs, weights, depth, networks, beta, padding_mode, rescale)
    pooled = dict(dim=(2, 3, 4))
    torch.testing.assert_close(record.mean, u.mean(**pooled), rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(record.variance, u.var(**pooled, correction=0), rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(record.rate, (u > THETA).double().mean(**pooled), rtol=0, atol=1e-15)
    for index, (i, j) in enumerate(probes):
        torch.testing.assert_close(record.probe_potentials[..., index], u[:, :, 0, :, 0, i, j])
        spikes = (u > THETA).double()[:, :, 0].sum(dim=3)  # sample 0, over channels: (depth, steps, networks, H, W)
        ones = torch.ones(1, 1, 3, 3, dtype=torch.float64)
        flat = spikes[:-1].reshape(-1, 1, *size)
        if padding_mode == "circular":
            counts = F.conv2d(F.pad(flat, (1, 1, 1, 1), mode="circular"), ones)
        else:
            counts = F.conv2d(flat, ones, padding=1)
        expected = counts.view(depth - 1, 3, networks, *size)[..., i, j].long()
        assert torch.equal(record.probe_inputs[1:, ..., index], expected)
        assert torch.all(record.probe_inputs[0] == 0)


def test_simulate_conv_runs_networks_in_chunks_as_if_one_after_another(monkeypatch):
    # one network (2 steps × 2 maps of 4×4) per chunk
    monkeypatch.setattr("snnmath.simulate.conv._CHUNK_ELEMENTS", 2 * 2 * 16)
    kwargs = dict(steps=2, probes=[(0, 0), (1, 2)], dtype=torch.float64)
    generator = torch.Generator().manual_seed(3)
    chunked = simulate_conv(3, 2, 4, networks=3, generator=generator, **kwargs)
    generator.manual_seed(3)
    alone = [simulate_conv(3, 2, 4, networks=1, generator=generator, **kwargs) for _ in range(3)]
    torch.testing.assert_close(chunked.probe_potentials, torch.cat([r.probe_potentials for r in alone], dim=2))
    assert torch.equal(chunked.probe_inputs, torch.cat([r.probe_inputs for r in alone], dim=2))
    torch.testing.assert_close(chunked.rate, sum(r.rate for r in alone) / 3)
    torch.testing.assert_close(chunked.mean, sum(r.mean for r in alone) / 3)
    second = sum(r.variance + r.mean.square() for r in alone) / 3
    torch.testing.assert_close(chunked.variance, second - chunked.mean.square())


@pytest.mark.parametrize(
    "kwargs, name",
    [(dict(depth=0), "depth"), (dict(channels=0), "channels"), (dict(size=0), "size"), (dict(kernel=4), "kernel"),
     (dict(padding_mode="reflect"), "padding_mode"), (dict(rescale_border="yes"), "rescale_border"),
     (dict(steps=0), "steps"), (dict(batch=0), "batch"), (dict(beta=1.5), "beta"), (dict(theta=-1.0), "theta"),
     (dict(networks=0), "networks"), (dict(probes=[(4, 0)]), "probes"), (dict(input_variance=-1.0), "input_variance"),
     (dict(kernel=11, padding_mode="circular"), "kernel"), (dict(init="he"), "name")],
)
def test_simulate_conv_validates(kwargs, name):
    args = dict(depth=2, channels=2, size=4) | kwargs
    with pytest.raises(ValueError, match=f"^{name}"):
        simulate_conv(**args)


# --- the layer-by-layer check ---------------------------------------------------------------
PROBES = [(0, 0), (0, 4), (4, 4)]


def quick_record(seed: int, padding_mode: str = "zeros", networks: int = 150):
    return simulate_conv(8, 16, 9, networks=networks, theta=THETA, probes=PROBES, padding_mode=padding_mode,
                         generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("seed", range(5))
def test_conv_layer_check_passes_for_any_seed(seed):
    check = checks.conv_layer_check(quick_record(seed), GAIN)
    assert check.passed, check.failures()[:3]


def test_conv_layer_check_rejects_the_border_blind_theory_at_the_border_only():
    check = checks.conv_layer_check(quick_record(0), GAIN, border_blind=True)
    assert not check.passed
    assert {row["position"] for row in check.failures()} <= {(0, 0), (0, 4)}
    assert checks.conv_layer_check(quick_record(0, "circular"), GAIN, border_blind=True).passed


def test_conv_layer_check_rejects_a_wrong_gain():
    # every layer and probe is its own exact test (probes share weights, layers share inputs), so
    # with 600 networks a 50 % error in the gain is what the check is sure to see
    assert not checks.conv_layer_check(quick_record(0, networks=600), 1.5 * GAIN).passed


def test_conv_layer_check_validates():
    record = quick_record(0, networks=2)
    with pytest.raises(ValueError, match="^gain"):
        checks.conv_layer_check(record, 0.0)
    with pytest.raises(ValueError, match="^border_blind"):
        checks.conv_layer_check(record, GAIN, border_blind=1)
    with pytest.raises(ValueError, match="^record"):
        checks.conv_layer_check(simulate_conv(3, 2, 4), GAIN)


def test_poisson_binomial_pmf():
    p = np.array([0.1, 0.5, 0.9, 0.0, 1.0])
    brute = np.zeros(6)
    for outcome in itertools.product((0, 1), repeat=5):
        brute[sum(outcome)] += np.prod(np.where(np.array(outcome) == 1, p, 1 - p))
    np.testing.assert_allclose(bands.poisson_binomial_pmf(p), brute, atol=1e-15)
    with pytest.raises(ValueError, match="^probabilities"):
        bands.poisson_binomial_pmf([0.5, 1.5])
