"""The chapters' checks: they pass for any seed when the theory is right (quick sizes,
several seeds) and fail when the theory is wrong, so none of them is vacuous."""

import numpy as np
import pytest
import scipy.stats
import torch

from snnmath import bands, checks, theory
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
    runs = [checks.deep_run(theta, width=100, depth=40, networks=64, seed=seed) for theta in (1.0, 1.5)]
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


@pytest.mark.parametrize("factor", [0.95, 1.05])
def test_deep_chain_check_rejects_a_gain_off_by_5_percent_at_the_chapters_size(factor):
    """At the fixed-points chapter's size the check's power against a chain at 0.95 or 1.05 times
    the gain is at least 0.999 for every seed (exact), and it does reject at fixed seeds."""
    size = checks.DEEP_CHAIN_SIZE
    tests = 2 * 2 * size["depth"]  # the chapter checks two thresholds
    assert checks.deep_chain_power(size["width"], 1.0, size["depth"], size["networks"], factor, tests=tests) >= 0.999
    gain = factor * float(theory.weight_variance(1, 1.0))
    for seed in (0, 1):
        run = checks.deep_run(1.0, seed=seed, **size)
        run.chain = theory.active_count_distribution(size["width"], 1.0, size["depth"] - 1, gain=gain)
        assert not checks.deep_chain_check([run, run]).passed


def test_sum_pmf_is_the_repeated_convolution():
    pmf = scipy.stats.binom.pmf(np.arange(11), 10, 0.3)
    np.testing.assert_allclose(bands.sum_pmf(pmf, 7), scipy.stats.binom.pmf(np.arange(71), 70, 0.3), atol=1e-14)
    with pytest.raises(ValueError, match="pmf must be"):
        bands.sum_pmf([0.5, 0.6], 2)


def test_kaiming_check():
    assert checks.kaiming_check().passed


@pytest.mark.parametrize("seed", SEEDS)
def test_mean_square_check_passes_for_any_seed(seed):
    generator = torch.Generator().manual_seed(seed)
    record = simulate(30, 300, steps=1, batch=1, networks=16, theta=1.0, record_layers=range(30), generator=generator)
    assert checks.mean_square_check(record, 300, 1.0).passed


@pytest.mark.parametrize("factor", [0.95, 1.05])
def test_mean_square_check_rejects_a_gain_off_by_5_percent_at_the_chapters_size(factor):
    """The propagation chapter's size (16 networks, 100 layers of 1000): the pooled χ² statistic's
    probability of missing a 5 % gain error, computed from its law, is below 1e-3 for the run, and
    the check fails at fixed seeds."""
    gain = factor * float(theory.weight_variance(1, 1.0))
    for seed in (0, 1):
        record = simulate(100, 1000, steps=1, batch=1, networks=16, theta=1.0, record_layers=range(100),
                          init=lambda w, g=None: gain_normal_(w, gain, generator=g),
                          generator=torch.Generator().manual_seed(seed))
        check = checks.mean_square_check(record, 1000, 1.0)
        pooled = check.rows[-1]
        law = scipy.stats.chi2(pooled["dof"])  # the squares normalised by the network's own gain
        miss = law.cdf(pooled["squares_high"] / factor) - law.cdf(pooled["squares_low"] / factor)
        assert miss < 1e-3
        assert not check.passed


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


def _propagation_baselines():
    """The propagation chapter's baseline cases: (theta, gain) where the gain lies below the saddle node."""
    width, beta = 1000, 0.5
    cases = []
    for theta in (0.5, 1.0, 2.0):
        for name in ("kaiming", "glorot", "pytorch", "fluctuation"):
            gain = width * variance_of(name, width, width, theta, beta)
            if gain < float(theory.saddle_node_gain(theta)):
                cases.append((theta, gain))
    return cases


@pytest.mark.parametrize("seed", SEEDS)
def test_mean_square_check_at_a_baselines_gain_passes_for_any_seed(seed):
    run = checks.deep_run(1.0, 300, 6, 24, seed, gain=2.0, record_potentials=True)
    assert checks.mean_square_check(run.record, 300, 1.0, gain=2.0).passed


def test_mean_square_power_is_the_chi2_miss_of_the_pooled_row():
    """Two layers, 16 networks: the pooled row sums layer 1 of the networks whose layer 0 spikes, with its
    band at the test's level, and its power is that χ² band's miss less the chance that one is silent."""
    level = bands.ALPHA / (2 + 2 * 2)
    dof = 1000 * 16
    lo, hi = bands.chi2_interval(dof, level)  # layer 1 of the networks whose layer 0 spikes: no risk of dying
    law = scipy.stats.chi2(dof)
    silent_0 = float(theory.active_count_distribution(1000, 1.0, 0)[0, 0])
    exact = 1 - (law.cdf(1.05 * hi) - law.cdf(1.05 * lo)) - 16 * silent_0
    assert checks.mean_square_power(1000, 1.0, 2, 16, 1.05) == pytest.approx(exact, abs=1e-12)


def test_mean_square_check_pools_a_fixed_set_of_layers_and_fails_if_one_dies():
    """The pooled row's layers are fixed by the chain before the run (so its sum is exactly χ²), and a network
    silent inside them fails the row."""
    run = checks.deep_run(1.0, 300, 6, 24, 0, record_potentials=True)
    pooled = checks.mean_square_check(run.record, 300, 1.0).rows[-1]
    silent = theory.active_count_distribution(300, 1.0, 5)[:, 0]
    assert pooled["layers"] == int(np.sum(24 * (silent[:-1] - silent[0]) <= 0.9 * bands.ALPHA / (2 + 2 * 6)))
    assert pooled["layers"] >= 2 and pooled["dof"] == 300 * 24 * pooled["layers"]
    run.record.active[1, 0, 3] = 0  # pretend network 3 died in layer 1, inside the pooled layers
    run.record.potentials[2][0, 3] = 0.0
    row = checks.mean_square_check(run.record, 300, 1.0).rows[-1]
    assert not row["all_live"] and not row["ok"]


def test_silence_check_rejects_a_gain_off_by_5_percent_at_the_chapters_size():
    """The propagation chapter's silence check (independent networks at each baseline's gain, sized by
    silence_size): its power against a gain 5 % lower or higher is at least 0.999 in every case, for any
    seed, and at θ = 1 it does reject both at fixed seeds (one run per case)."""
    cases = _propagation_baselines()
    sizes = [checks.silence_size(1000, theta, gain, len(cases)) for theta, gain in cases]
    for (theta, gain), (depth, networks) in zip(cases, sizes, strict=True):
        tests = len(cases) * (2 + 2 * depth)
        for factor in (0.95, 1.05):
            assert checks.mean_square_power(1000, theta, depth, networks, factor, gain=gain, tests=tests) >= 0.999
    for k, ((theta, gain), (depth, networks)) in enumerate(zip(cases, sizes, strict=True)):
        if theta != 1.0:
            continue
        run = checks.deep_run(theta, 1000, depth, networks, k, gain=gain, record_potentials=True)
        for factor in (0.95, 1.05):
            assert not checks.mean_square_check(run.record, 1000, theta, bands.ALPHA / len(cases),
                                                gain=factor * gain).passed


@pytest.mark.parametrize("factor", [0.95, 1.05])
def test_one_layer_map_check_rejects_a_gain_off_by_5_percent_at_the_chapters_size(factor, monkeypatch):
    """The derivation chapter's grid (6 thresholds × widths 10, 100, 1000 × 3 input variances, seed 2): the
    pooled squares' power against a theory whose gain is 5 % off is at least 0.999 for any seed, and the
    check rejects it. The weights are drawn at the true gain / factor, so the check's gain is factor times theirs."""
    grid = dict(thetas=[0.0, 0.5, 1.0, 1.5, 2.0, 3.0], widths=[10, 100, 1000], input_variances=[0.5, 1.0, 2.0])
    assert checks.one_layer_map_power(grid["thetas"], grid["widths"], factor, grid["input_variances"]) >= 0.999
    real = checks.gain_normal_
    monkeypatch.setattr(checks, "gain_normal_",
                        lambda tensor, gain, generator: real(tensor, gain / factor, generator=generator))
    assert not checks.one_layer_map_check(seed=2, **grid).passed


def test_silence_check_passes_at_the_true_gain_and_rejects_a_gain_5_percent_off():
    gain = 1000 * variance_of("kaiming", 1000, 1000, 1.0)
    assert checks.silence_check(1000, 1.0, gain, seed=3).passed
    depth, networks = checks.silence_size(1000, 1.0, gain)
    run = checks.deep_run(1.0, 1000, depth, networks, 3, gain=gain, record_potentials=True)
    for factor in (0.95, 1.05):
        assert not checks.mean_square_check(run.record, 1000, 1.0, gain=factor * gain).passed
