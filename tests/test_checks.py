"""The chapters' checks: they pass for any seed when the theory is right (quick sizes,
several seeds) and fail when the theory is wrong, so none of them is vacuous."""

import pytest
import torch

from snnmath import checks, theory
from snnmath.init import gain_normal_, variance_of
from snnmath.simulate import simulate

SEEDS = range(5)


@pytest.mark.parametrize("seed", SEEDS)
def test_spike_probability_check_passes_for_any_seed(seed):
    assert checks.spike_probability_check([0.0, 1.0, 3.0], [0.5, 2.0], samples=100_000, seed=seed).passed


@pytest.mark.parametrize("seed", SEEDS)
def test_one_layer_map_check_passes_for_any_seed(seed):
    assert checks.one_layer_map_check([0.0, 1.0, 3.0], [10, 200], replicates=40, seed=seed).passed


@pytest.mark.parametrize("seed", SEEDS)
def test_deep_chain_check_passes_for_any_seed(seed):
    runs = [checks.deep_run(theta, width=300, depth=40, batch=16, seed=seed) for theta in (1.0, 1.5)]
    assert checks.deep_chain_check(runs).passed


def test_spike_probability_check_detects_a_wrong_formula(monkeypatch):
    monkeypatch.setattr(
        theory, "spike_probability", lambda theta, variance=1.0: 1.05 * (0.5 if theta == 0 else 0.158655)
    )
    assert not checks.spike_probability_check([0.0, 1.0], [1.0], samples=200_000).passed


def test_one_layer_map_check_detects_a_wrong_weight_variance(monkeypatch):
    real = checks.gain_normal_
    monkeypatch.setattr(checks, "gain_normal_",
                        lambda tensor, gain, generator: real(tensor, 1.15 * gain, generator=generator))
    assert not checks.one_layer_map_check([1.0], [200], replicates=40).passed


def test_deep_chain_check_detects_a_wrong_chain():
    run = checks.deep_run(1.0, width=300, depth=30, batch=16, seed=0)
    # per-sample bands are wide (samples share weights, so only a union bound is valid):
    # at this size a 50 % error in the gain is what the check is guaranteed to see
    run.chain = theory.active_count_distribution(300, 1.0, 29, gain=1.5 * float(theory.weight_variance(1, 1.0)))
    assert not checks.deep_chain_check([run]).passed


def test_kaiming_check():
    assert checks.kaiming_check().passed


@pytest.mark.parametrize("seed", SEEDS)
def test_mean_square_check_passes_for_any_seed(seed):
    generator = torch.Generator().manual_seed(seed)
    record = simulate(30, 300, batch=8, theta=1.0, record_layers=range(30), generator=generator)
    assert checks.mean_square_check(record, 300, 1.0).passed


def test_mean_square_check_detects_a_wrong_scale():
    gain = 1.6 * float(theory.weight_variance(1, 1.0))
    record = simulate(20, 300, batch=8, theta=1.0, init=lambda w, g=None: gain_normal_(w, gain, generator=g),
                      record_layers=range(20), generator=torch.Generator().manual_seed(0))
    assert not checks.mean_square_check(record, 300, 1.0).passed


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("name", ["kaiming", "glorot", "pytorch"])
def test_silence_depth_check_passes_for_any_seed(seed, name):
    record = simulate(12, 300, batch=16, theta=1.0, init=name, generator=torch.Generator().manual_seed(seed))
    assert checks.silence_depth_check(record, 300, 1.0, 300 * variance_of(name, 300, 300, 1.0)).passed


def test_silence_depth_check_detects_a_wrong_gain():
    record = simulate(12, 300, batch=16, theta=1.0, init="kaiming", generator=torch.Generator().manual_seed(0))
    assert not checks.silence_depth_check(record, 300, 1.0, 10.0).passed  # claims survival it does not see


@pytest.mark.parametrize("seed", SEEDS)
def test_independent_chain_check_passes_for_any_seed(seed):
    assert checks.independent_chain_check([30, 60], [1.0, 1.5], 10, 200, seed=seed).passed


def test_independent_chain_check_detects_a_wrong_chain(monkeypatch):
    real = theory.active_count_distribution
    def wrong(n, theta, depth, gain=None):
        return real(n, theta, depth, gain=1.3 * float(theory.weight_variance(1, theta)))

    monkeypatch.setattr(theory, "active_count_distribution", wrong)
    assert not checks.independent_chain_check([30], [1.0], 10, 1000, seed=0).passed
