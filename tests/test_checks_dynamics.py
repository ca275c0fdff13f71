"""After the first step: the multi-step scale's claim (median network's late rate within a factor
1.5 of Q(θ)) passes for any seed where it is true and fails for wrong scales; the pieces it
rests on (the median interval, layer 0's input scale, the fold, independent spikes)."""

import numpy as np
import pytest
import scipy.stats
import torch

from snnmath import bands, checks, theory
from snnmath.init import gain_normal_
from snnmath.simulate import simulate, simulate_independent_spikes

SEEDS = range(5)
THETA = 1.0
SMALL = dict(width=300, depth=30, networks=32)


@pytest.fixture(scope="module")
def gains():
    return {beta: theory.multistep_gain(beta, THETA).gain for beta in (0.5, 0.9)}


def _run(beta, gain, seed, label, independent_spikes=False):
    return checks.late_rate_run(beta, THETA, gain, seed=seed, label=label, independent_spikes=independent_spikes,
                                **SMALL)


@pytest.mark.parametrize("seed", SEEDS)
def test_late_rate_check_passes_where_the_claim_holds(gains, seed):
    runs = [_run(0.5, gains[0.5], seed, "multi-step"),
            _run(0.5, gains[0.5], seed, "independent spikes", independent_spikes=True),
            _run(0.9, gains[0.9], seed, "independent spikes", independent_spikes=True)]
    assert checks.late_rate_check(runs).passed


@pytest.mark.parametrize("seed", SEEDS)
def test_late_rate_check_fails_for_wrong_scales(gains, seed):
    first = float(theory.weight_variance(1, THETA))
    runs = [_run(0.5, first, seed, "first-step"), _run(0.9, first, seed, "first-step"),
            _run(0.5, 0.8 * gains[0.5], seed, "multi-step gain 20% low")]
    check = checks.late_rate_check(runs)
    fades, grows, low = check.rows
    assert not (fades["ok"] or grows["ok"] or low["ok"])
    assert fades["high"] < fades["claim_low"] and grows["low"] > grows["claim_high"] and low["high"] < low["claim_low"]


def test_late_rate_run_rates_are_per_network_late_averages():
    run = checks.late_rate_run(0.5, THETA, 7.0, width=50, depth=3, steps=10, networks=4, seed=1)
    record = simulate(3, 50, steps=10, batch=1, beta=0.5, theta=THETA, fresh_inputs=True, networks=4,
                      input_variance=run.input_std**2, init=lambda w, g=None: gain_normal_(w, 7.0, generator=g),
                      generator=torch.Generator().manual_seed(1))
    assert run.rates.shape == (3, 4)
    np.testing.assert_allclose(run.rates, record.active[:, 5:].double().mean(dim=1).numpy() / 50)
    assert run.target == pytest.approx(float(theory.spike_probability(THETA)))


def test_median_interval_is_the_order_statistic_rule():
    x = np.arange(32.0)[::-1]
    assert bands.median_interval(x) == (2.0, 29.0)  # P(Bin(32, 1/2) <= 2) = 1.2e-7 <= 5e-7 < P(<= 3)
    assert scipy.stats.binom.cdf(2, 32, 0.5) <= 5e-7 < scipy.stats.binom.cdf(3, 32, 0.5)
    assert bands.median_interval(np.arange(21.0)) == (0.0, 20.0)
    low, high = bands.median_interval(np.arange(64.0).reshape(32, 2), comparisons=6)
    np.testing.assert_array_equal(low, [2.0, 3.0])
    np.testing.assert_array_equal(high, [60.0, 61.0])
    with pytest.raises(ValueError, match="^samples must hold at least 21"):
        bands.median_interval(np.arange(20.0))


def test_median_interval_covers_a_median_of_a_law_with_atoms():
    rng = np.random.default_rng(0)
    alpha, trials = 0.1, 4000
    draws = np.where(rng.random((trials, 12)) < 0.55, 0.0, rng.random((trials, 12)))  # median 0, an atom
    missed = 0
    for sample in draws:
        low, high = bands.median_interval(sample, alpha)
        missed += not low <= 0.0 <= high
    assert missed / trials <= alpha + 5 * np.sqrt(alpha * (1 - alpha) / trials)


@pytest.mark.parametrize("beta", [0.0, 0.5, 0.9])
def test_input_std_for_rate_inverts_the_stationary_rate(beta):
    target = float(theory.spike_probability(THETA))
    std = theory.input_std_for_rate(target, beta, THETA)
    assert float(theory.stationary_rate(0.0, std, beta, THETA)) == pytest.approx(target, abs=1e-9)


def test_input_std_for_rate_rejects_unreachable_rates():
    with pytest.raises(ValueError, match="^rate must lie in"):
        theory.input_std_for_rate(0.6, 0.5, THETA)
    with pytest.raises(ValueError, match="^beta must lie in"):
        theory.input_std_for_rate(0.1, 1.0, THETA)


def test_quenched_fold_is_a_saddle_node(gains):
    fold = theory.quenched_fold(0.9, THETA, 0.05, 0.15)
    assert max(abs(e) for e in fold.eigenvalues) == pytest.approx(1.0, abs=1e-3)
    assert fold.gain < gains[0.9]
    for rate in (0.9 * fold.rate_mean, 1.1 * fold.rate_mean):
        assert theory.multistep_gain(0.9, THETA, rate).gain > fold.gain
    with pytest.raises(ValueError, match="^rate_low and rate_high must bracket the fold"):
        theory.quenched_fold(0.9, THETA, 0.15, 0.2)


def test_independent_spikes_keep_layer_zero_and_the_rates():
    options = dict(steps=40, batch=2, beta=0.5, theta=THETA, input_variance=1.5, networks=3)
    init = lambda w, g=None: gain_normal_(w, 7.0, generator=g)  # noqa: E731
    independent = simulate_independent_spikes(4, 400, init=init, generator=torch.Generator().manual_seed(3), **options)
    real = simulate(4, 400, fresh_inputs=True, init=init, generator=torch.Generator().manual_seed(3), **options)
    assert independent.active.shape == real.active.shape == (4, 40, 6)
    torch.testing.assert_close(independent.rate[0], real.rate[0])  # the same layer 0
    assert 0 < float(independent.rate[1:, 20:].mean()) < 0.5
    with pytest.raises(ValueError, match="^steps must be an integer"):
        simulate_independent_spikes(2, 10, steps=1)


def test_late_rate_power_is_the_rejection_rule_at_the_chapters_size():
    """The dynamics chapter's size (32 networks per run, 6 runs): a run is rejected below exactly when at most
    k networks reach ρ/f (k of the median interval), so the power against a scale whose networks each fall
    below with probability p is P(Bin(32, 1 − p) ≤ k), and it reaches 0.999 only when p ≥ the detectable
    fraction (about all networks at this size)."""
    networks, comparisons, factor = 32, 6, 1.5
    k = bands.median_index(networks, bands.ALPHA, comparisons)
    target = float(theory.spike_probability(THETA))

    def run(inside):
        rates = np.full((1, networks), 0.5 * target / factor)
        rates[0, :inside] = target
        return checks.LateRateRun("synthetic", 0.5, THETA, 1.0, target, 1.0, rates)

    runs = [run(k)] + [run(networks)] * (comparisons - 1)
    assert not checks.late_rate_check(runs, factor).rows[0]["ok"]  # k networks inside: rejected
    runs[0] = run(k + 1)
    assert checks.late_rate_check(runs, factor).rows[0]["ok"]  # k + 1 inside: not rejected
    detectable = checks.late_rate_detectable(networks, comparisons)
    assert checks.late_rate_power(networks, detectable, comparisons) == pytest.approx(0.999, abs=1e-9)
    assert checks.late_rate_power(networks, detectable - 1e-3, comparisons) < 0.999
    assert checks.late_rate_power(networks, 0.9, comparisons) == pytest.approx(scipy.stats.binom.cdf(k, networks, 0.1))
